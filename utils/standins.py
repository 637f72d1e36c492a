"""Stand-in task models: all-MiniLM-L6-v2 fine-tuned by this project where the hub checkpoint is unreachable.

``python -m utils.standins build [NAME ...]`` trains each stand-in (all of them by default) and saves
it with ``save_pretrained`` (safetensors) into ``<asset home>/standins/<mode>/<name>`` together with
a model card (README.md) and ``standin.json`` (settings, metrics, timings, fingerprint).
A build is skipped when its fingerprint (data, training code, settings, base model) is unchanged.
Smoke mode (``LLM_RETREAT_SMOKE=1``) builds small, fast versions into a separate folder.

A stand-in is not the hub checkpoint it replaces: its card and the catalog line say so.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from utils import training
from utils.catalog import EMOTION_LABELS, NER_LABELS
from utils.environment import asset_home, configure, smoke_mode
from utils.modes import mode_name

BASE_MODEL = training.BASE_MODEL
INFO_FILE = "standin.json"


@dataclass(frozen=True)
class TrainSettings:
    epochs: float
    learning_rate: float
    batch_size: int
    max_length: int
    warmup_steps: float = 0.0  # a float below 1 is a fraction of the training steps
    weight_decay: float = 0.0
    train_limit: int | None = None  # None: the whole training split
    eval_limit: int | None = None  # None: whole validation and test splits
    seed: int = 42


@dataclass(frozen=True)
class StandinSpec:
    name: str
    stands_in_for: str  # hub id of the checkpoint it replaces
    dataset: str  # catalog dataset name
    data_description: str
    id2label: dict[int, str]
    full: TrainSettings
    smoke: TrainSettings
    trainer: Callable[["StandinSpec", TrainSettings, Path], dict] = field(repr=False, compare=False)
    head: str = "sequence classification"
    limits: str = ("Small hand-written training set: expect errors on phrasing, topics and registers it has "
                   "not seen. Do not use it to make decisions about people.")
    label_column: str = "label"
    headline_metric: str = "accuracy"

    def settings(self) -> TrainSettings:
        return self.smoke if smoke_mode() else self.full


# --- the registry -------------------------------------------------------------------------------

SPECS: dict[str, StandinSpec] = {
    spec.name: spec
    for spec in (
        StandinSpec(
            name="sentiment",
            stands_in_for="distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            dataset="movie-reviews",
            data_description="VADER movie-review sentences (Rotten Tomatoes snippets rated by >= 20 people), "
                             "binarised at mean score > 0; neutral (score 0) and repeated sentences dropped",
            id2label={0: "NEGATIVE", 1: "POSITIVE"},
            full=TrainSettings(epochs=3, learning_rate=3e-5, batch_size=16, max_length=128,
                               warmup_steps=0.1, weight_decay=0.01),
            smoke=TrainSettings(epochs=1, learning_rate=8e-5, batch_size=16, max_length=64,
                                warmup_steps=0.1, train_limit=800, eval_limit=200),
            trainer=training.train_text_classifier,
            limits="Trained on short English movie-review sentences only: expect lower accuracy on other "
                   "domains, negation and sarcasm (notebook 04 measures this). Do not use it to make "
                   "decisions about people.",
        ),
        StandinSpec(
            name="emotion",
            stands_in_for="bhadresh-savani/distilbert-base-uncased-emotion",
            dataset="emotion",
            data_description="the project's emotion texts (data/emotion), six labels in dair-ai/emotion's order",
            id2label=dict(enumerate(EMOTION_LABELS)),
            full=TrainSettings(epochs=8, learning_rate=5e-5, batch_size=16, max_length=96,
                               warmup_steps=0.1, weight_decay=0.01),
            smoke=TrainSettings(epochs=2, learning_rate=8e-5, batch_size=16, max_length=64,
                                warmup_steps=0.1, train_limit=300, eval_limit=120),
            trainer=training.train_text_classifier,
            headline_metric="macro_f1",
        ),
        StandinSpec(
            name="toxicity",
            stands_in_for="martin-ha/toxic-comment-model",
            dataset="toxicity",
            data_description="the project's comments labelled toxic 0/1 with hard negatives (data/toxicity)",
            id2label={0: "not_toxic", 1: "toxic"},
            full=TrainSettings(epochs=6, learning_rate=5e-5, batch_size=16, max_length=96,
                               warmup_steps=0.1, weight_decay=0.01),
            smoke=TrainSettings(epochs=2, learning_rate=8e-5, batch_size=16, max_length=64,
                                warmup_steps=0.1, train_limit=300, eval_limit=100),
            trainer=training.train_text_classifier,
            label_column="toxic",
            headline_metric="f1_positive",
            limits="Trained on about a thousand hand-written comments without slurs or sexual content, with "
                   "identity terms only in non-toxic sentences. It must never be used to moderate or judge "
                   "real people; notebook 14 measures its false positives.",
        ),
        StandinSpec(
            name="ner",
            stands_in_for="dslim/bert-base-NER",
            dataset="ner",
            data_description="the project's CoNLL-style sentences (data/ner), IOB2 tags in conll2003's order",
            id2label=dict(enumerate(NER_LABELS)),
            full=TrainSettings(epochs=12, learning_rate=5e-5, batch_size=16, max_length=128,
                               warmup_steps=0.1, weight_decay=0.01),
            smoke=TrainSettings(epochs=2, learning_rate=1e-4, batch_size=16, max_length=64,
                                warmup_steps=0.1, train_limit=160, eval_limit=40),
            trainer=training.train_token_classifier,
            head="token classification",
            headline_metric="f1",
            limits="all-MiniLM-L6-v2 is uncased, so capitalisation cues that NER relies on are lost; 530 "
                   "training sentences of clean text. Expect missed and mislabelled entities, especially "
                   "MISC and unseen names.",
        ),
        StandinSpec(
            name="qa",
            stands_in_for="distilbert/distilbert-base-cased-distilled-squad",
            dataset="qa",
            data_description="the project's SQuAD-style questions (data/qa) over English Wikipedia summaries",
            id2label={0: "LABEL_0", 1: "LABEL_1"},
            full=TrainSettings(epochs=6, learning_rate=5e-5, batch_size=16, max_length=256,
                               warmup_steps=0.1, weight_decay=0.01),
            smoke=TrainSettings(epochs=1, learning_rate=1e-4, batch_size=16, max_length=192,
                                warmup_steps=0.1, train_limit=160, eval_limit=40),
            trainer=training.train_question_answering,
            head="extractive question answering (start/end logits)",
            headline_metric="f1",
            limits="Trained on about a thousand questions, all answerable: it always returns some span, even "
                   "when the context holds no answer. Answers are short factual spans.",
        ),
    )
}


def _spec(name: str) -> StandinSpec:
    if name not in SPECS:
        raise ValueError(f"unknown stand-in {name!r}; valid names: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def model_dir(name: str, smoke: bool | None = None) -> Path:
    """Where stand-in ``name`` lives for the current (or given) mode."""
    _spec(name)
    mode = ("smoke" if smoke else "full") if smoke is not None else mode_name()
    return asset_home() / "standins" / mode / name


def read_info(name: str) -> dict | None:
    """The saved ``standin.json`` of a built stand-in, or None."""
    info = model_dir(name) / INFO_FILE
    return json.loads(info.read_text(encoding="utf-8")) if info.is_file() else None


def is_built(name: str) -> bool:
    return read_info(name) is not None and (model_dir(name) / "model.safetensors").is_file()


def describe(name: str) -> str:
    """One line: what the stand-in is, what it was trained on, its held-out score, what it stands in for."""
    spec = _spec(name)
    info = read_info(name)
    score = ""
    if info:
        test = info["metrics"]["test"]
        score = f"; test {spec.headline_metric} {test[spec.headline_metric]:.3f} ({info['mode']} build)"
    trained_on = spec.data_description.split("(")[0].split(",")[0].strip()
    return (f"STAND-IN: all-MiniLM-L6-v2 fine-tuned by this project on {trained_on}{score}; "
            f"stands in for {spec.stands_in_for}")


def fingerprint(spec: StandinSpec, settings: TrainSettings) -> str:
    """Hash of everything a build depends on: settings, training code, data files, base model."""
    from utils import kit_data

    digest = hashlib.sha256()
    identity = {"name": spec.name, "for": spec.stands_in_for, "dataset": spec.dataset,
                "labels": spec.id2label, "settings": asdict(settings)}
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for function in (spec.trainer, training._load_splits, training._training_args):
        digest.update(inspect.getsource(function).encode())
    prepared = kit_data.PREPARED.get(spec.dataset)
    files = sorted(prepared.files().values()) if prepared else []
    for path in files:
        digest.update(Path(path).read_bytes())
    digest.update((asset_home() / BASE_MODEL / ".complete").read_bytes())
    return digest.hexdigest()


def model_card(spec: StandinSpec, settings: TrainSettings, info: dict) -> str:
    """The README.md saved beside a stand-in's weights."""
    sizes = info["metrics"]["split_sizes"]
    names = list(info["metrics"]["test"])
    header = "| split | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = "\n".join(f"| {split} | " + " | ".join(f"{info['metrics'][split][k]:.4f}" for k in names) + " |"
                     for split in ("validation", "test"))
    labels = ("none: one start and one end logit per token" if spec.trainer is training.train_question_answering
              else ", ".join(f"{i} = {label}" for i, label in spec.id2label.items()))
    return f"""# {spec.name} (stand-in)

**This is a stand-in, not {spec.stands_in_for}.** The hub is unreachable where this course is built
and tested, so LLM Retreat fine-tunes its own model for this role. Learners online can load the real
checkpoint with `LLM_RETREAT_HUB=1`.

- Base model: sentence-transformers/all-MiniLM-L6-v2 (6-layer BERT encoder, uncased), from the offline kit
- Task head: {spec.head}; labels: {labels}
- Data: {spec.data_description}
- Split sizes used: train {sizes['train']}, validation {sizes['validation']}, test {sizes['test']}
- Build mode: {info['mode']}{' (small and fast: the numbers are not meaningful)' if info['mode'] == 'smoke' else ''}
- Hyperparameters: {json.dumps(asdict(settings))}
- Training time: {info['train_seconds']:.0f} s on {info['threads']} CPU threads

## Held-out metrics

{header}
{rows}

## Limits

{spec.limits}
"""


def build(name: str, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Build stand-in ``name`` for the current mode unless an identical build exists; return its info."""
    spec = _spec(name)
    settings = spec.settings()
    target = model_dir(name)
    wanted = fingerprint(spec, settings)
    info = read_info(name)
    if not force and info and info.get("fingerprint") == wanted and is_built(name):
        log(f"{name}: up to date ({mode_name()} build)")
        return info
    import torch

    log(f"{name}: building ({mode_name()} mode) -> {target}")
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent if target.parent.exists() else None))
    try:
        results = spec.trainer(spec, settings, staging)
        # Trainer.save_model also pickles its TrainingArguments; the course ships safetensors only.
        (staging / "training_args.bin").unlink(missing_ok=True)
        info = {"name": name, "mode": mode_name(), "fingerprint": wanted, "stands_in_for": spec.stands_in_for,
                "dataset": spec.dataset, "settings": asdict(settings), "metrics": results,
                "train_seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads()}
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(model_card(spec, settings, info), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"{name}: done in {info['train_seconds']:.0f} s; test {json.dumps(info['metrics']['test'])}")
    return info


def status_rows() -> list[dict[str, str]]:
    from utils.kit import folder_size, human_size

    rows = []
    for name, spec in SPECS.items():
        path = model_dir(name)
        built = is_built(name)
        rows.append({"asset": f"standins/{mode_name()}/{name}", "present": "yes" if built else "no",
                     "size": human_size(folder_size(path)) if built else "-",
                     "source": f"built here from all-MiniLM-L6-v2 + {spec.dataset}",
                     "licence": "Apache-2.0 weights; see data licence"})
    return rows


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.standins", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build stand-ins (all when no name is given)")
    build_parser.add_argument("names", nargs="*", help=f"any of: {', '.join(SPECS)}")
    build_parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    sub.add_parser("list", help="list stand-ins and their state")
    args = parser.parse_args(argv)
    if args.command == "list":
        from utils.kit import format_table

        rows = []
        for name, spec in SPECS.items():
            info = read_info(name) if is_built(name) else None
            metrics = info["metrics"] if info else {}
            rows.append({"stand-in": name, "mode": mode_name(), "built": "yes" if info else "no",
                         "stands in for": spec.stands_in_for,
                         "train/val/test": "/".join(str(metrics["split_sizes"][s]) for s in ("train", "validation", "test"))
                         if info else "-",
                         "validation": json.dumps(metrics.get("validation", "-")),
                         "test": json.dumps(metrics.get("test", "-")),
                         "build s": str(info["train_seconds"]) if info else "-"})
        print(format_table(rows))
        return 0
    names = args.names or list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(f"error: unknown stand-in(s) {', '.join(unknown)}; valid names: {', '.join(SPECS)}", file=sys.stderr)
        return 2
    if not (asset_home() / BASE_MODEL / ".complete").is_file():
        print("error: the base model is missing; run `python -m utils.kit fetch` first", file=sys.stderr)
        return 1
    for name in names:
        build(name, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
