"""Our own datasets (data/): hub-compatible schemas, fixed disjoint splits, written not templated."""

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import ClassLabel, load_dataset

from tests.text_checks import bigram_diversity, near_duplicates, normalise
from utils import dataset_args
from utils.course.schemas import EMOTION_LABELS, NER_LABELS

DATA = Path(__file__).resolve().parents[1] / "data"
SPLITS = ("train", "validation", "test")


def load(name):
    return load_dataset(**dataset_args(name))


def rows(name, split):
    return [json.loads(line) for line in (DATA / name / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def texts_of(name, split):
    if name == "ner":
        return [" ".join(r["tokens"]) for r in rows(name, split)]
    if name == "qa":
        return [r["question"] for r in rows(name, split)]
    return [r["text"] for r in rows(name, split)]


# --- schemas match the hub counterparts ----------------------------------------------------------


def test_emotion_schema_matches_dair_ai_emotion():
    ds = load("emotion")
    assert set(ds) == set(SPLITS)
    assert list(ds["train"].features) == ["text", "label"]
    assert ds["train"].features["label"].names == ["sadness", "joy", "love", "anger", "fear", "surprise"]


def test_ner_schema_matches_conll2003_labels():
    ds = load("ner")
    features = ds["train"].features
    assert list(features) == ["id", "tokens", "ner_tags"]
    assert features["ner_tags"].feature.names == [
        "O",
        "B-PER",
        "I-PER",
        "B-ORG",
        "I-ORG",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
    ]


@pytest.mark.assets
def test_qa_schema_matches_squad_and_contexts_come_from_the_kit():
    ds = load("qa")
    assert list(ds["train"].features) == ["id", "title", "context", "question", "answers"]
    example = ds["validation"][0]
    assert set(example["answers"]) == {"text", "answer_start"}
    # no Wikipedia text is committed: the repository files hold no context
    assert all("context" not in r for split in SPLITS for r in rows("qa", split))


def test_toxicity_schema():
    ds = load("toxicity")
    assert list(ds["train"].features) == ["text", "toxic", "kind"]
    assert isinstance(ds["train"].features["toxic"], ClassLabel)
    assert ds["train"].features["toxic"].names == ["not_toxic", "toxic"]


# --- sizes and label balance are what data/README.md says ---------------------------------------


def test_counts_per_split_and_label():
    emotion = {s: Counter(r["label"] for r in rows("emotion", s)) for s in SPLITS}
    assert emotion["train"] == Counter({label: 264 for label in EMOTION_LABELS})
    assert emotion["validation"] == emotion["test"] == Counter({label: 33 for label in EMOTION_LABELS})
    toxic = {s: Counter(r["toxic"] for r in rows("toxicity", s)) for s in SPLITS}
    assert toxic["train"] == Counter({0: 704, 1: 352})
    assert toxic["validation"] == toxic["test"] == Counter({0: 88, 1: 44})
    assert {s: len(rows("ner", s)) for s in SPLITS} == {"train": 530, "validation": 65, "test": 65}
    assert {s: len(rows("qa", s)) for s in SPLITS} == {"train": 961, "validation": 110, "test": 129}


def test_minimum_sizes_from_the_issue():
    assert sum(len(rows("emotion", s)) for s in SPLITS) >= 1800
    assert min(Counter(r["label"] for s in SPLITS for r in rows("emotion", s)).values()) >= 300
    toxicity = [r for s in SPLITS for r in rows("toxicity", s)]
    assert len(toxicity) >= 1200 and 0.30 <= sum(r["toxic"] for r in toxicity) / len(toxicity) <= 0.36
    assert sum(len(rows("ner", s)) for s in SPLITS) >= 600
    assert sum(len(rows("qa", s)) for s in SPLITS) >= 1000


# --- no leakage, no duplicates -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["emotion", "toxicity", "ner", "qa"])
def test_no_duplicates_within_or_across_splits(name):
    every = [normalise(t) for s in SPLITS for t in texts_of(name, s)]
    repeated = [t for t, n in Counter(every).items() if n > 1]
    assert not repeated, f"{name}: duplicated texts {repeated[:3]}"


@pytest.mark.parametrize("name", ["emotion", "toxicity", "ner"])
def test_no_near_duplicates(name):
    every = [t for s in SPLITS for t in texts_of(name, s)]
    pairs = near_duplicates(every, threshold=0.5)
    assert not pairs, f"{name}: near-duplicates {[(every[i], every[j]) for i, j, _ in pairs[:3]]}"


def test_qa_is_split_by_article():
    titles = {s: {r["title"] for r in rows("qa", s)} for s in SPLITS}
    assert not (titles["train"] & titles["validation"])
    assert not (titles["train"] & titles["test"])
    assert not (titles["validation"] & titles["test"])
    per_article = Counter(r["title"] for s in SPLITS for r in rows("qa", s))
    assert min(per_article.values()) >= 3  # several questions per article


@pytest.mark.assets
def test_qa_answers_are_exact_spans_of_their_contexts():
    ds = load("qa")
    checked = 0
    for split in SPLITS:
        for example in ds[split]:
            for text, start in zip(example["answers"]["text"], example["answers"]["answer_start"]):
                assert example["context"][start : start + len(text)] == text, example["id"]
                checked += 1
    assert checked == sum(len(rows("qa", s)) for s in SPLITS)


def test_ner_tags_are_well_formed_iob2():
    for split in SPLITS:
        for r in rows("ner", split):
            assert len(r["tokens"]) == len(r["ner_tags"]), r["id"]
            previous = "O"
            for tag in r["ner_tags"]:
                assert tag in NER_LABELS, (r["id"], tag)
                if tag.startswith("I-"):
                    assert previous in (f"B-{tag[2:]}", tag), f"{r['id']}: {tag} after {previous}"
                previous = tag


def test_ner_covers_the_cases_the_course_needs():
    every = [r for s in SPLITS for r in rows("ner", s)]
    entities = Counter(t[2:] for r in every for t in r["ner_tags"] if t.startswith("B-"))
    assert min(entities[k] for k in ("PER", "ORG", "LOC")) >= 250 and entities["MISC"] >= 150
    assert sum(all(t == "O" for t in r["ner_tags"]) for r in every) >= 30  # sentences with no entity
    assert sum(r["ner_tags"][0].startswith("B-") for r in every) >= 50  # entity at sentence start
    assert sum(any(t.startswith("I-") for t in r["ner_tags"]) for r in every) >= 200  # multi-token entities
    domains = Counter(r["id"].split("-")[1] for r in every)
    assert set(domains) == {"news", "sport", "science", "business", "travel"}


# --- written, not templated ----------------------------------------------------------------------


@pytest.mark.parametrize("name,minimum", [("emotion", 0.6), ("toxicity", 0.6), ("ner", 0.6), ("qa", 0.6)])
def test_lexical_diversity(name, minimum):
    every = [t for s in SPLITS for t in texts_of(name, s)]
    diversity = bigram_diversity(every)
    print(f"{name}: distinct word bigrams / all bigrams = {diversity:.3f} over {len(every)} texts")
    assert diversity >= minimum


def test_diversity_measure_catches_templated_text():
    templated = [
        f"I feel {mood} about my {thing} today"
        for mood in ("happy", "sad", "angry", "scared")
        for thing in ("job", "dog", "house", "car", "exam", "team", "trip", "garden")
    ]
    assert bigram_diversity(templated) < 0.4
