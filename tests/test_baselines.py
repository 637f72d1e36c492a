"""utils.baselines: the TF-IDF baseline, threshold choice from a PR curve, false positive rates per group."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score

from utils import baselines

TEXTS = [
    "what a lovely day",
    "I love this so much",
    "this is great fun",
    "so happy for you",
    "you are an idiot",
    "shut up you fool",
    "what a stupid idea, moron",
    "get lost, loser",
]
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]


def test_baseline_is_a_fitted_pipeline_that_learns_the_training_set():
    model = baselines.tfidf_logreg(TEXTS, LABELS)
    assert [name for name, _ in model.steps] == ["tfidf", "logreg"]
    assert model.predict(TEXTS).tolist() == LABELS
    probabilities = model.predict_proba(["you fool", "lovely fun day"])
    assert probabilities.shape == (2, 2)
    assert probabilities[0, 1] > 0.5 > probabilities[1, 1]


def test_baseline_options_reach_scikit_learn():
    model = baselines.tfidf_logreg(
        TEXTS, LABELS, ngram_range=(2, 4), analyzer="char_wb", C=0.5, class_weight="balanced"
    )
    assert model.named_steps["tfidf"].ngram_range == (2, 4)
    assert model.named_steps["tfidf"].analyzer == "char_wb"
    assert model.named_steps["logreg"].C == 0.5
    assert model.named_steps["logreg"].class_weight == "balanced"


def test_baseline_accepts_many_classes_and_lazy_columns():
    model = baselines.tfidf_logreg(iter(TEXTS), (i % 3 for i in range(8)))
    assert model.predict_proba(TEXTS).shape == (8, 3)


@pytest.mark.parametrize(
    "texts, labels, message",
    [
        (TEXTS, LABELS[:-1], "differ in length"),
        ([], [], "no texts"),
        (TEXTS[:-1] + [None], LABELS, "item 7 is NoneType"),
        (TEXTS, [1] * 8, "at least two classes"),
    ],
)
def test_baseline_bad_input_is_named(texts, labels, message):
    with pytest.raises(ValueError, match=message):
        baselines.tfidf_logreg(texts, labels)


binary_sets = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 1 in y),
        st.lists(st.floats(0, 1, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=50, deadline=None)
@given(binary_sets)
def test_threshold_gives_the_best_f1_of_any_cut(pair):
    references, scores = pair
    choice = baselines.choose_threshold(references, scores)
    predicted = (np.asarray(scores) >= choice.threshold).astype(int)
    assert choice.f1 == pytest.approx(f1_score(references, predicted, zero_division=0))
    assert choice.precision == pytest.approx(precision_score(references, predicted, zero_division=0))
    assert choice.recall == pytest.approx(recall_score(references, predicted, zero_division=0))
    for cut in set(scores):  # no threshold at an observed score does better
        assert f1_score(references, (np.asarray(scores) >= cut).astype(int), zero_division=0) <= choice.f1 + 1e-9


@settings(max_examples=50, deadline=None)
@given(binary_sets, st.floats(0.05, 1.0))
def test_threshold_with_a_precision_target_maximises_recall(pair, target):
    references, scores = pair
    try:
        choice = baselines.choose_threshold(references, scores, min_precision=target)
    except ValueError as error:
        assert "no threshold reaches precision" in str(error)
        return
    assert choice.precision >= target
    for cut in set(scores):
        predicted = (np.asarray(scores) >= cut).astype(int)
        if precision_score(references, predicted, zero_division=0) >= target:
            assert recall_score(references, predicted) <= choice.recall + 1e-9


def test_threshold_on_a_clear_case():
    choice = baselines.choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert (choice.threshold, choice.precision, choice.recall) == (0.35, pytest.approx(2 / 3), 1.0)
    strict = baselines.choose_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], min_precision=1.0)
    assert (strict.threshold, strict.precision, strict.recall) == (0.8, 1.0, 0.5)


@pytest.mark.parametrize(
    "references, scores, kwargs, message",
    [
        ([0, 1], [0.5], {}, "differ in length"),
        ([], [], {}, "no examples"),
        ([0, 2], [0.1, 0.9], {}, "0/1 labels"),
        ([0, 0], [0.1, 0.9], {}, "no positive example"),
        ([0, 1], [0.1, 0.9], {"min_precision": 0}, "min_precision must be in"),
        ([1, 0], [0.1, 0.9], {"min_precision": 1.0}, "no threshold reaches precision 1.0"),
    ],
)
def test_threshold_bad_input_is_named(references, scores, kwargs, message):
    with pytest.raises(ValueError, match=message):
        baselines.choose_threshold(references, scores, **kwargs)


def test_false_positive_rates_count_negatives_per_group():
    table = baselines.false_positive_rates(
        references=[0, 0, 0, 1, 0, 0, 1],
        predictions=[1, 0, 0, 1, 1, 1, 0],
        groups=["identity", "identity", "identity", "identity", "other", "other", "only-toxic"],
    )
    assert table.index.tolist() == ["identity", "other"]  # a group without negatives is left out
    assert table["negatives"].tolist() == [3, 2]
    assert table["false_positives"].tolist() == [1, 2]
    assert table["fpr"].tolist() == pytest.approx([1 / 3, 1.0])


@pytest.mark.parametrize(
    "references, predictions, groups, message",
    [
        ([0, 1], [0], ["a", "b"], "differ in length"),
        ([], [], [], "no examples"),
        ([0, 3], [0, 1], ["a", "b"], "references must be 0/1"),
        ([0, 1], [0.5, 1], ["a", "b"], "predictions must be 0/1"),
        ([1, 1], [0, 1], ["a", "b"], "no negative example"),
    ],
)
def test_false_positive_rates_bad_input_is_named(references, predictions, groups, message):
    with pytest.raises(ValueError, match=message):
        baselines.false_positive_rates(references, predictions, groups)
