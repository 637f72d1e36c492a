import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from utils import metrics

pairs = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 2), min_size=n, max_size=n), st.lists(st.integers(0, 2), min_size=n, max_size=n)
    )
)


@settings(max_examples=60, deadline=None)
@given(pairs)
def test_metrics_equal_scikit_learn(pair):
    predictions, references = pair
    assert metrics.accuracy(predictions, references) == pytest.approx(accuracy_score(references, predictions))
    assert metrics.macro_f1(predictions, references, [0, 1, 2]) == pytest.approx(
        f1_score(references, predictions, labels=[0, 1, 2], average="macro", zero_division=0)
    )
    assert metrics.precision_recall_f1(predictions, references, positive=1)["f1"] == pytest.approx(
        f1_score(references, predictions, labels=[1], average="macro", zero_division=0)
    )


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.accuracy([1, 0], [1])
    with pytest.raises(ValueError, match="empty"):
        metrics.accuracy([], [])
