"""The project's own Evaluate modules (accuracy, precision, recall, f1) load offline and agree with scikit-learn.

``evaluate.load("accuracy")`` needs the hub; ``evaluate.load(module_path("accuracy"))`` loads the folder
written by this project. Each module is checked on random label lists (hypothesis) against scikit-learn,
through ``evaluate.combine`` as the fine-tuning notebooks use them, and on bad input (clear messages).
"""

import warnings

import evaluate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from utils.evaluate_modules import available, module_path

OURS = ("accuracy", "precision", "recall", "f1")
SKLEARN = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}
TOLERANCE = 1e-9


def label_pairs(n_labels: int):
    """Equal-length lists of predictions and references with label ids in [0, n_labels)."""
    return st.integers(min_value=1, max_value=60).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, n_labels - 1), min_size=n, max_size=n),
            st.lists(st.integers(0, n_labels - 1), min_size=n, max_size=n),
        )
    )


def sklearn_score(name, predictions, references, **kwargs):
    with warnings.catch_warnings():  # zero-division warnings: both sides then count 0.0
        warnings.simplefilter("ignore")
        return SKLEARN[name](references, predictions, zero_division=0.0, **kwargs)


@pytest.fixture(scope="module")
def modules():
    return {name: evaluate.load(module_path(name)) for name in OURS}


@pytest.fixture(scope="module")
def combined():
    return evaluate.combine([module_path(name) for name in OURS])


def test_the_modules_are_listed_and_load_offline(modules):
    assert set(OURS) <= set(available())
    for name, module in modules.items():
        assert module.name == name
        assert module.citation == ""
        assert set(module.features) == {"predictions", "references"}
        assert module.description.strip() and module.inputs_description.strip()


@pytest.mark.parametrize(
    "name, words", [("precision", "TP / (TP + FP)"), ("recall", "TP / (TP + FN)"), ("f1", "harmonic mean")]
)
def test_each_averaged_module_is_its_own_class_with_its_own_texts(modules, name, words):
    """They share one base class; evaluate.load must still find each file's subclass, with that metric's texts."""
    module = modules[name]
    assert type(module).__name__ == {"precision": "Precision", "recall": "Recall", "f1": "F1"}[name]
    assert words in module.description and f'{name} = evaluate.load(module_path("{name}"))' in module.inputs_description
    assert words in type(module).__doc__ or words in (type(module).__init__.__doc__ or "")


def test_an_unknown_module_name_says_which_exist():
    with pytest.raises(ValueError, match="no project metric module named 'acuracy'; available: .*accuracy"):
        module_path("acuracy")


def test_documented_examples(modules):
    assert modules["accuracy"].compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0]) == {"accuracy": 0.75}
    assert modules["accuracy"].compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0], normalize=False) == {
        "accuracy": 3
    }
    assert modules["precision"].compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0]) == {"precision": 0.5}
    assert modules["recall"].compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0]) == {"recall": 1.0}
    assert modules["f1"].compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])["f1"] == pytest.approx(2 / 3)


@settings(max_examples=40, deadline=None)
@given(pair=label_pairs(2))
def test_binary_scores_match_sklearn(modules, pair):
    predictions, references = pair
    assert modules["accuracy"].compute(predictions=predictions, references=references)["accuracy"] == pytest.approx(
        sk.accuracy_score(references, predictions), abs=TOLERANCE
    )
    for name in SKLEARN:
        for pos_label in (0, 1):
            ours = modules[name].compute(predictions=predictions, references=references, pos_label=pos_label)[name]
            theirs = sklearn_score(name, predictions, references, pos_label=pos_label, labels=[0, 1])
            assert ours == pytest.approx(theirs, abs=TOLERANCE), (name, pos_label)


@settings(max_examples=40, deadline=None)
@given(pair=label_pairs(5), average=st.sampled_from(["macro", "micro", "weighted"]))
def test_multiclass_averages_match_sklearn(modules, pair, average):
    predictions, references = pair
    for name in SKLEARN:
        ours = modules[name].compute(predictions=predictions, references=references, average=average)[name]
        assert ours == pytest.approx(sklearn_score(name, predictions, references, average=average), abs=TOLERANCE)


@settings(max_examples=30, deadline=None)
@given(pair=label_pairs(4))
def test_per_class_scores_with_explicit_labels_match_sklearn(modules, pair):
    predictions, references = pair
    labels = [0, 1, 2, 3]  # a class may be absent from both lists: it scores 0.0 on both sides
    for name in SKLEARN:
        ours = modules[name].compute(predictions=predictions, references=references, average=None, labels=labels)
        theirs = sklearn_score(name, predictions, references, average=None, labels=labels)
        assert ours[name] == pytest.approx(list(theirs), abs=TOLERANCE)


@settings(max_examples=20, deadline=None)
@given(pair=label_pairs(2))
def test_combine_gives_every_score_at_once(modules, combined, pair):
    predictions, references = pair
    scores = combined.compute(predictions=predictions, references=references)
    assert set(scores) == set(OURS)
    for name in OURS:
        alone = modules[name].compute(predictions=predictions, references=references)[name]
        assert scores[name] == pytest.approx(alone, abs=TOLERANCE)


def test_batches_added_one_by_one_give_the_same_score(modules):
    accuracy = modules["accuracy"]
    for predictions, references in [([0, 1], [0, 0]), ([1, 1, 0], [1, 1, 0])]:
        accuracy.add_batch(predictions=predictions, references=references)
    assert accuracy.compute() == {"accuracy": 0.8}


@pytest.mark.parametrize("name", OURS)
def test_unequal_lengths_are_refused_with_both_counts(modules, name):
    with pytest.raises(ValueError, match=r"Mismatch in the number of predictions \(3\) and references \(2\)"):
        modules[name].compute(predictions=[0, 1, 1], references=[0, 1])


@pytest.mark.parametrize("name", OURS)
def test_empty_inputs_are_refused(modules, name):
    with pytest.raises(ValueError, match="cannot score an empty set of predictions"):
        modules[name].compute(predictions=[], references=[])


def test_binary_average_on_three_labels_says_what_to_choose(modules):
    with pytest.raises(ValueError, match="average='binary' needs at most two distinct labels, got 3.*'macro'"):
        modules["f1"].compute(predictions=[0, 1, 2], references=[0, 1, 1])


def test_an_unknown_average_lists_the_choices(modules):
    with pytest.raises(ValueError, match="average must be one of .*'macro'.* not 'mean'"):
        modules["recall"].compute(predictions=[0, 1], references=[0, 1], average="mean")


def test_text_labels_are_refused(modules):
    with pytest.raises((ValueError, TypeError)):
        modules["accuracy"].compute(predictions=["pos", "neg"], references=["pos", "pos"])
