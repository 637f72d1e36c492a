"""The project's task metrics (notebooks 15 and 16) load offline and give the reference numbers.

- ``seqeval_entities`` (entity-level NER scores, IOB2) equals the ``seqeval`` package in its default mode,
  on hand-written cases and on random tag sequences from hypothesis (stray ``I-`` tags included).
- ``squad_qa`` (SQuAD exact match and token F1) equals hand-computed values: normalisation, several gold
  answers, an empty prediction.
- Bad input gets an error that says what is wrong.
"""

import warnings

import evaluate
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

from utils.evaluate_modules import available, module_path

TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def seqeval_entities():
    return evaluate.load(module_path("seqeval_entities"))


@pytest.fixture(scope="module")
def squad_qa():
    return evaluate.load(module_path("squad_qa"))


def reference_scores(predictions, references):
    """What the seqeval package says (default mode), in the module's output format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on 0/0 and returns 0.0, as the module does
        report = classification_report(references, predictions, output_dict=True)
        expected = {
            kind: {
                "precision": row["precision"],
                "recall": row["recall"],
                "f1": row["f1-score"],
                "number": row["support"],
            }
            for kind, row in report.items()
            if not kind.endswith("avg")
        }
        expected.update(
            {
                "overall_precision": precision_score(references, predictions),
                "overall_recall": recall_score(references, predictions),
                "overall_f1": f1_score(references, predictions),
                "overall_accuracy": accuracy_score(references, predictions),
            }
        )
    return expected


def assert_same(result, expected):
    assert set(result) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            assert result[key]["number"] == value["number"], key
            for name in ("precision", "recall", "f1"):
                assert result[key][name] == pytest.approx(float(value[name])), (key, name)
        else:
            assert result[key] == pytest.approx(float(value)), key


def test_modules_are_listed():
    assert {"seqeval_entities", "squad_qa"} <= set(available())


HAND_WRITTEN = [
    # perfect
    ([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    # boundary error: too short, counts as one false positive and one false negative
    ([["B-PER", "O", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    # type error
    ([["B-ORG", "I-ORG", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    # stray I- after O starts an entity; I- of another type starts a new one
    ([["I-LOC", "I-LOC", "I-PER", "O"]], [["B-LOC", "I-LOC", "B-PER", "O"]]),
    # B- then B- of the same type: two entities
    ([["B-MISC", "B-MISC"]], [["B-MISC", "I-MISC"]]),
    # entities do not cross sentence boundaries
    ([["O", "B-ORG"], ["I-ORG", "O"]], [["O", "B-ORG"], ["B-ORG", "O"]]),
    # no entity predicted, and no entity at all
    ([["O", "O", "O"]], [["B-PER", "O", "O"]]),
    ([["O", "O"]], [["O", "O"]]),
    # a predicted type absent from the gold tags
    ([["B-MISC", "O"], ["B-PER"]], [["O", "O"], ["B-PER"]]),
    # empty sentences among others
    ([[], ["B-LOC"]], [[], ["B-LOC"]]),
]


@pytest.mark.parametrize("predictions, references", HAND_WRITTEN)
def test_seqeval_entities_equal_seqeval_on_hand_written_cases(seqeval_entities, predictions, references):
    assert_same(
        seqeval_entities.compute(predictions=predictions, references=references),
        reference_scores(predictions, references),
    )


def test_seqeval_entities_hand_computed(seqeval_entities):
    result = seqeval_entities.compute(
        predictions=[["B-PER", "O", "O", "B-LOC"]], references=[["B-PER", "I-PER", "O", "B-LOC"]]
    )
    assert result["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert result["LOC"]["f1"] == 1.0
    assert result["overall_precision"] == result["overall_recall"] == result["overall_f1"] == 0.5
    assert result["overall_accuracy"] == 0.75


sentence_pairs = st.lists(
    st.integers(min_value=0, max_value=25).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(TAGS), min_size=n, max_size=n),
            st.lists(st.sampled_from(TAGS), min_size=n, max_size=n),
        )
    ),
    min_size=1,
    max_size=6,
).filter(lambda pairs: any(len(p) for p, _ in pairs))


def iob2_repaired(tags):
    """Valid IOB2: every I-X follows B-X or I-X."""
    repaired, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        repaired.append(tag)
        previous = tag
    return repaired


@settings(max_examples=100, deadline=None)
@given(sentence_pairs)
def test_seqeval_entities_equal_seqeval_on_random_sequences(seqeval_entities, pairs):
    predictions = [p for p, _ in pairs]
    references = [iob2_repaired(r) for _, r in pairs]  # gold tags are valid IOB2; predictions may not be
    assert_same(
        seqeval_entities.compute(predictions=predictions, references=references),
        reference_scores(predictions, references),
    )


@settings(max_examples=40, deadline=None)
@given(sentence_pairs)
def test_seqeval_entities_equal_seqeval_on_valid_iob2(seqeval_entities, pairs):
    predictions = [iob2_repaired(p) for p, _ in pairs]
    references = [iob2_repaired(r) for _, r in pairs]
    assert_same(
        seqeval_entities.compute(predictions=predictions, references=references),
        reference_scores(predictions, references),
    )


def test_seqeval_entities_bad_input(seqeval_entities):
    with pytest.raises(ValueError, match="sentence 0: 1 predicted tags but 2 reference tags"):
        seqeval_entities.compute(predictions=[["O"]], references=[["O", "B-PER"]])
    with pytest.raises(ValueError, match="'PER' is not IOB2"):
        seqeval_entities.compute(predictions=[["PER"]], references=[["O"]])
    with pytest.raises(ValueError, match="'E-LOC' is not IOB2"):
        seqeval_entities.compute(predictions=[["O"]], references=[["E-LOC"]])
    with pytest.raises(ValueError, match="number of predictions"):
        seqeval_entities.compute(predictions=[["O"], ["O"]], references=[["O"]])


def test_squad_qa_normalisation(squad_qa):
    # case, punctuation, articles and spaces are all ignored
    result = squad_qa.compute(predictions=["  The  Eiffel Tower!"], references=[["eiffel tower"]])
    assert result == {"exact_match": 1.0, "f1": 1.0}
    # "an" is an article, "and" is not
    result = squad_qa.compute(predictions=["bread and butter"], references=[["an bread butter"]])
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_squad_qa_partial_overlap_and_several_gold_answers(squad_qa):
    # prediction "in 1889 in paris" vs "1889": precision 1/4 (in, 1889, in, paris), recall 1, F1 0.4;
    # vs "Paris, 1889": precision 2/4, recall 1, F1 2/3 -> the best gold answer counts
    result = squad_qa.compute(predictions=["in 1889 in Paris"], references=[["1889", "Paris, 1889"]])
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(2 / 3)
    # exact match with any one of the gold answers is enough
    assert squad_qa.compute(predictions=["Paris"], references=[["London", "paris."]])["exact_match"] == 1.0


def test_squad_qa_mean_over_questions_and_empty_prediction(squad_qa):
    result = squad_qa.compute(
        predictions=["Gustave Eiffel", "", "1889"], references=[["Gustave Eiffel"], ["Paris"], ["in 1889"]]
    )
    assert result["exact_match"] == pytest.approx(1 / 3)
    assert result["f1"] == pytest.approx((1 + 0 + 2 * 1 * 0.5 / 1.5) / 3)
    # a gold answer that normalises to nothing is matched only by an answer that does too
    assert squad_qa.compute(predictions=["the"], references=[["A"]]) == {"exact_match": 1.0, "f1": 1.0}


def test_squad_qa_bad_input(squad_qa):
    with pytest.raises(ValueError, match="question 0 has no gold answer"):
        squad_qa.compute(predictions=["Paris"], references=[[]])
    with pytest.raises(ValueError, match="no questions to score"):
        squad_qa.compute(predictions=[], references=[])
    with pytest.raises(ValueError, match="number of predictions"):
        squad_qa.compute(predictions=["a", "b"], references=[["a"]])
