"""Notebook 02's MiniPipeline gives the same answers as transformers.pipeline.

The class is executed from the notebook cell that defines it (so the test checks what learners read),
then compared with ``transformers.pipeline`` on the notebook's own varied inputs and on random texts from
hypothesis: same labels, same entity groups, words and character spans, scores within 1e-5.

The smoke NER stand-in predicts almost only "O", which would make the entity comparison vacuous, so the
token-classification tests also run on a copy of the NER stand-in whose head is re-initialised with a fixed
seed: it predicts a mix of B-/I-/O labels, which exercises every grouping rule.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notebook_code import NOTEBOOKS, run_cells
from utils import checkpoint

pytestmark = pytest.mark.assets  # loads models from the asset home (make setup)

NOTEBOOK = NOTEBOOKS / "02_behind_the_pipeline.ipynb"
TOLERANCE = 1e-5
ENTITY_KEYS = ("entity_group", "word", "start", "end")

WORDS = [
    "Paris",
    "Angela",
    "Merkel",
    "met",
    "the",
    "United",
    "Nations",
    "in",
    "Berlin",
    "café",
    "Montréal",
    "😀",
    "東京",
    "[SEP]",
    "[MASK]",
    "supercalifragilistic",
    "don't",
    "$7.5",
    "e-mail",
    "!!",
    ",",
    "\t",
    "\n",
    "Ü",
]
random_texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(WORDS), max_size=20).map(" ".join),
    st.lists(st.sampled_from(WORDS), max_size=20).map("".join),
)


def run_cell(marker: str) -> dict:
    return run_cells(NOTEBOOK, [marker])


@pytest.fixture(scope="module")
def MiniPipeline():
    return run_cell("class MiniPipeline")["MiniPipeline"]


@pytest.fixture(scope="module")
def test_texts():
    texts = run_cell("test_texts = [")["test_texts"]
    assert len(texts) >= 20
    return texts


@pytest.fixture(scope="module")
def classifiers(MiniPipeline):
    from transformers import pipeline

    path = checkpoint("sentiment")
    return pipeline("text-classification", model=path), MiniPipeline("text-classification", path)


@pytest.fixture(scope="module")
def ner_pipelines(MiniPipeline):
    from transformers import pipeline

    path = checkpoint("ner")
    return pipeline("token-classification", model=path, aggregation_strategy="simple"), MiniPipeline(
        "token-classification", path
    )


@pytest.fixture(scope="module")
def scrambled_ner_pipelines(MiniPipeline):
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    path = checkpoint("ner")
    model = AutoModelForTokenClassification.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.randn(model.classifier.weight.shape, generator=generator) * 0.3)
        model.classifier.bias.zero_()
    return pipeline(
        "token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple"
    ), MiniPipeline("token-classification", model, tokenizer)


def assert_same_classes(theirs: list[dict], mine: list[dict]) -> None:
    assert [t["label"] for t in theirs] == [m["label"] for m in mine]
    for t, m in zip(theirs, mine):
        assert abs(t["score"] - m["score"]) < TOLERANCE, (t, m)


def assert_same_entities(texts: list[str], theirs: list[list[dict]], mine: list[list[dict]]) -> int:
    """Assert equal entity lists text by text; return how many entities were compared."""
    assert len(theirs) == len(mine) == len(texts)
    compared = 0
    for text, their_entities, my_entities in zip(texts, theirs, mine):
        assert [[e[k] for k in ENTITY_KEYS] for e in my_entities] == [
            [e[k] for k in ENTITY_KEYS] for e in their_entities
        ], repr(text)
        for t, m in zip(their_entities, my_entities):
            assert abs(float(t["score"]) - m["score"]) < TOLERANCE, (text, t, m)
        compared += len(their_entities)
    return compared


def test_the_class_lives_in_one_cell_that_runs_on_its_own(MiniPipeline):
    assert callable(MiniPipeline)
    with pytest.raises(ValueError, match="not 'summarization'"):
        MiniPipeline("summarization", checkpoint("sentiment"))


def test_text_classification_matches_pipeline_on_notebook_inputs(classifiers, test_texts):
    library, mini = classifiers
    assert_same_classes(library(test_texts), mini(test_texts))


def test_single_string_gives_a_list_with_one_dict_like_pipeline(classifiers, ner_pipelines):
    library, mini = classifiers
    assert_same_classes(library("What a film!"), mini("What a film!"))
    assert len(mini("What a film!")) == 1
    ner_library, ner_mini = ner_pipelines
    text = "Angela Merkel met Emmanuel Macron in Paris."
    assert_same_entities([text], [ner_library(text)], [ner_mini(text)])


def test_token_classification_matches_pipeline_on_notebook_inputs(ner_pipelines, test_texts):
    library, mini = ner_pipelines
    assert_same_entities(test_texts, library(test_texts), mini(test_texts))


def test_token_classification_grouping_matches_with_a_head_that_predicts_every_label(
    scrambled_ner_pipelines, test_texts
):
    library, mini = scrambled_ner_pipelines
    theirs = library(test_texts)
    labels = {e["entity_group"] for entities in theirs for e in entities}
    assert len(labels) >= 3, f"the scrambled head should predict several entity types, got {labels}"
    assert assert_same_entities(test_texts, theirs, mini(test_texts)) >= 50


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(random_texts, min_size=1, max_size=3))
def test_text_classification_matches_pipeline_on_random_texts(classifiers, texts):
    library, mini = classifiers
    assert_same_classes(library(texts), mini(texts))


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(random_texts, min_size=1, max_size=3))
def test_token_classification_matches_pipeline_on_random_texts(scrambled_ner_pipelines, texts):
    library, mini = scrambled_ner_pipelines  # the head that predicts every label: grouping is really exercised
    assert_same_entities(texts, library(texts), mini(texts))
