"""The catalog: every model and dataset the notebooks use, named once.

A notebook asks for a name and gets what the real library call needs::

    model = AutoModel.from_pretrained(checkpoint("minilm"))
    raw_datasets = load_dataset(**dataset_args("movie-reviews"))

By default a name resolves to a local asset in the asset home (fetched by ``utils.kit`` or built
by ``utils.standins``); with ``LLM_RETREAT_HUB=1`` it resolves to the Hugging Face hub id.
Each call prints one line saying what was resolved; for a stand-in, what it really is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.environment import asset_home, hub_mode

FETCH_COMMAND = "make setup   (or: python -m utils.kit fetch)"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    hub_id: str  # what a learner online would load
    revision: str  # hub revision ("main" where no pinned revision is known)
    what: str  # one line: what the local asset really is
    local: str | None  # folder relative to the asset home; None for stand-ins (see utils.standins)


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry("minilm", "sentence-transformers/all-MiniLM-L6-v2", "main",
                   "all-MiniLM-L6-v2, real pretrained weights (6-layer BERT encoder, 22.7M params, uncased)",
                   "models/all-MiniLM-L6-v2"),
        ModelEntry("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", "main",
                   "SmolLM2-135M-Instruct, real weights (decoder, 134.5M params; from GGUF Q4_1, stored bf16)",
                   "models/SmolLM2-135M-Instruct"),
        ModelEntry("tiny-bert", "prajjwal1/bert-tiny", "main",
                   "a real 2-layer BERT (4.4M params) with an MLM head, tuned for SPLADE search: weak at "
                   "fill-mask; the hub id names a model of the same shape, not the same weights",
                   "models/tiny-bert"),
        ModelEntry("sentiment", "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f",
                   "stand-in", None),
        ModelEntry("emotion", "bhadresh-savani/distilbert-base-uncased-emotion", "main", "stand-in", None),
        ModelEntry("toxicity", "martin-ha/toxic-comment-model", "main", "stand-in", None),
        ModelEntry("ner", "dslim/bert-base-NER", "main", "stand-in", None),
        ModelEntry("qa", "distilbert/distilbert-base-cased-distilled-squad", "main", "stand-in", None),
    )
}


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    hub_id: str | None  # None: the kit is the only source (no hub counterpart with the same content)
    what: str
    features: str  # key into _features()


DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DatasetEntry("movie-reviews", "cornell-movie-review-data/rotten_tomatoes",
                     "VADER movie-review sentences (Rotten Tomatoes, Pang & Lee's pool), neg/pos at mean "
                     "score > 0, fixed 80/10/10 split", "binary-sentiment"),
        DatasetEntry("vader-tweets", None, "VADER tweets, neg/pos at mean score > 0 (test split only)",
                     "binary-sentiment"),
        DatasetEntry("vader-amazon", None, "VADER Amazon review snippets, neg/pos (test split only)",
                     "binary-sentiment"),
        DatasetEntry("vader-nyt", None, "VADER New York Times editorial snippets, neg/pos (test split only)",
                     "binary-sentiment"),
        DatasetEntry("wiki-en", None, "10,033 English Wikipedia lead summaries (Wikipedia contributors, "
                     "CC BY-SA 4.0)", "wiki"),
        DatasetEntry("wiki-fr", None, "9,955 French Wikipedia lead summaries (Wikipedia contributors, "
                     "CC BY-SA 4.0)", "wiki"),
        DatasetEntry("wiki-es", None, "6,239 Spanish Wikipedia lead summaries (Wikipedia contributors, "
                     "CC BY-SA 4.0)", "wiki"),
        DatasetEntry("emotion", "dair-ai/emotion", "project-written emotion texts (data/emotion, 6 labels as "
                     "dair-ai/emotion), fixed stratified 80/10/10 split", "emotion"),
        DatasetEntry("toxicity", None, "project-written comments labelled toxic 0/1 with hard negatives "
                     "(data/toxicity)", "toxicity"),
        DatasetEntry("ner", "eriktks/conll2003", "project-written sentences with CoNLL-2003 IOB2 entity tags "
                     "(data/ner; no pos_tags/chunk_tags)", "ner"),
        DatasetEntry("qa", "rajpurkar/squad", "project-written SQuAD-style questions (data/qa) over English "
                     "Wikipedia summaries from the kit, split by article", "qa"),
    )
}

# Datasets this project wrote: committed in data/<name>/<split>.jsonl (qa is joined with kit contexts).
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
SPLITS = ("train", "validation", "test")
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]  # dair-ai/emotion order
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]  # conll2003 order


def _features(kind: str):
    from datasets import ClassLabel, Features, List, Value

    if kind == "binary-sentiment":
        return Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    if kind == "wiki":
        return Features({name: Value("string") for name in ("title", "extract", "description", "topic")})
    if kind == "emotion":
        return Features({"text": Value("string"), "label": ClassLabel(names=EMOTION_LABELS)})
    if kind == "toxicity":
        return Features({"text": Value("string"), "toxic": ClassLabel(names=["not_toxic", "toxic"]),
                         "kind": Value("string")})
    if kind == "ner":
        return Features({"id": Value("string"), "tokens": List(Value("string")),
                         "ner_tags": List(ClassLabel(names=NER_LABELS))})
    if kind == "qa":
        return Features({"id": Value("string"), "title": Value("string"), "context": Value("string"),
                         "question": Value("string"),
                         "answers": {"text": List(Value("string")), "answer_start": List(Value("int32"))}})
    raise KeyError(kind)


def model_names() -> list[str]:
    return sorted(MODELS)


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    return ValueError(f"unknown {kind} name {name!r}; valid names: {', '.join(valid)}")


def _shown(path: Path) -> str:
    """A path as printed in notebooks: relative to the asset home, never a machine-specific path."""
    try:
        return "<asset home>/" + path.relative_to(asset_home()).as_posix()
    except ValueError:
        return path.name


def describe(name: str, kind: str = "model") -> str:
    """The one line :func:`checkpoint` (kind "model") or :func:`dataset_args` (kind "dataset") prints."""
    if kind == "model":
        if name not in MODELS:
            raise _unknown("model", name, model_names())
        entry = MODELS[name]
        if hub_mode():
            return f"{name}: hub checkpoint {entry.hub_id} (revision {entry.revision})"
        if entry.local is None:
            from utils import standins

            return f"{name}: {standins.describe(name)}"
        return f"{name}: {entry.what} -> {_shown(asset_home() / entry.local)}"
    if kind == "dataset":
        if name not in DATASETS:
            raise _unknown("dataset", name, dataset_names())
        dataset = DATASETS[name]
        if hub_mode() and dataset.hub_id:
            return f"{name}: hub dataset {dataset.hub_id}"
        suffix = " (no hub counterpart: loaded locally)" if hub_mode() else ""
        return f"{name}: {dataset.what}{suffix}"
    raise ValueError(f"kind must be 'model' or 'dataset', not {kind!r}")


def checkpoint(name: str) -> str:
    """Resolve a model name to what ``from_pretrained``/``pipeline`` take, printing one line.

    Returns the local folder (default) or the hub id (``LLM_RETREAT_HUB=1``).
    Raises ValueError for an unknown name (listing the valid ones) and FileNotFoundError, with the
    command that builds it, when the local asset is missing.
    """
    if name not in MODELS:
        raise _unknown("model", name, model_names())
    entry = MODELS[name]
    if hub_mode():
        print(describe(name))
        return entry.hub_id
    if entry.local is None:
        from utils import standins

        path = standins.model_dir(name)
        if not standins.is_built(name):
            raise FileNotFoundError(
                f"stand-in {name!r} is not built yet ({_shown(path)} is missing). Build it with: "
                f"python -m utils.standins build {name}   (or: make setup)"
            )
    else:
        path = asset_home() / entry.local
        if not (path / ".complete").is_file():
            raise FileNotFoundError(
                f"model {name!r} is missing from the asset home ({_shown(path)}). Fetch it with: {FETCH_COMMAND}"
            )
    print(describe(name))
    return str(path)


def dataset_args(name: str) -> dict[str, Any]:
    """Resolve a dataset name to keyword arguments for ``datasets.load_dataset``, printing one line.

    Local (default): ``{"path": "json", "data_files": {...}, "features": ...}``; hub mode: ``{"path": hub id}``.
    Raises ValueError for an unknown name and FileNotFoundError (with the fix) when files are missing.
    """
    if name not in DATASETS:
        raise _unknown("dataset", name, dataset_names())
    entry = DATASETS[name]
    if hub_mode() and entry.hub_id:
        print(describe(name, "dataset"))
        return {"path": entry.hub_id}
    from utils import kit_data

    if name in kit_data.PREPARED:
        prepared = kit_data.PREPARED[name]
        if not kit_data.is_ready(prepared):
            raise FileNotFoundError(
                f"dataset {name!r} is not prepared ({_shown(prepared.folder)} is missing). "
                f"Prepare it with: {FETCH_COMMAND}"
            )
        files = prepared.files()
    else:
        files = {split: str(REPO_DATA / name / f"{split}.jsonl") for split in SPLITS}
        missing = [path for path in files.values() if not Path(path).is_file()]
        if missing:
            raise FileNotFoundError(f"dataset {name!r}: {missing[0]} is missing from the repository; "
                                    "restore it with `git checkout -- data/`")
    print(describe(name, "dataset"))
    return {"path": "json", "data_files": files, "features": _features(entry.features)}
