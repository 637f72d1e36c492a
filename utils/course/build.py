"""Building stand-ins: train one with its recipe, save it with a model card, and skip it when nothing changed.

``python -m utils.course standins [NAME ...]`` (``make standins``) trains each stand-in (all of them by default) and
saves it with ``save_pretrained`` (safetensors) into ``<asset home>/standins/<mode>/<name>`` with a model card
(README.md) and ``standin.json`` (settings, metrics, timings, fingerprint). A build is skipped when its fingerprint
(every data file, the training code, settings, library versions, base model) is unchanged. Smoke mode
(``LLM_RETREAT_SMOKE=1``) builds small, fast versions into a separate folder.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from utils import metrics, task_features
from utils.course import catalog, prepared, registry, training
from utils.course.files import MARKER, asset_path, format_table, is_complete, write_marker
from utils.course.registry import (
    BASE_MODEL,
    INFO_FILE,
    SPECS,
    StandinSpec,
    TrainSettings,
    is_built,
    model_dir,
    read_info,
)
from utils.environment import configure, display_path
from utils.modes import mode_name

# Bump when a build changes in a way the hashed sources below cannot see (a new library default, say).
TRAINING_CODE_VERSION = 2
# The libraries whose versions change what a build produces.
BUILD_LIBRARIES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "numpy", "safetensors")


def training_code_files() -> tuple[Path, ...]:
    """The source files whose every line a build depends on: the recipes, the features and metrics they use."""
    return (Path(training.__file__), Path(task_features.__file__), Path(metrics.__file__))


def library_versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in BUILD_LIBRARIES}


def fingerprint(spec: StandinSpec, settings: TrainSettings) -> str:
    """Hash of everything a build depends on: settings, labels, training code and its version, every data file
    (committed or prepared), the dataset's features, library versions and the base model's marker.

    A build whose fingerprint is unchanged is skipped; any edit to one of these inputs demands a rebuild.
    """
    digest = hashlib.sha256()
    identity = {
        "name": spec.name,
        "for": spec.stands_in_for,
        "dataset": spec.dataset,
        "labels": spec.id2label,
        "settings": asdict(settings),
        "bf16_autocast": training.bf16_autocast(settings),  # what this machine does with the settings' bf16 flag
        "code_version": TRAINING_CODE_VERSION,
        "libraries": library_versions(),
        "features": str(catalog.dataset_features(spec.dataset)),
    }
    digest.update(json.dumps(identity, sort_keys=True).encode())
    for path in training_code_files():
        digest.update(path.read_bytes())
    for path in catalog.dataset_inputs(spec.dataset):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update((asset_path(BASE_MODEL) / MARKER).read_bytes())
    return digest.hexdigest()


def model_card(spec: StandinSpec, settings: TrainSettings, info: dict) -> str:
    """The README.md saved beside a stand-in's weights."""
    sizes = info["metrics"]["split_sizes"]
    names = list(info["metrics"]["test"])
    header = "| split | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = "\n".join(
        f"| {split} | " + " | ".join(f"{info['metrics'][split][k]:.4f}" for k in names) + " |"
        for split in ("validation", "test")
    )
    labels = (
        "none: one start and one end logit per token"
        if spec.recipe == "question_answering"
        else ", ".join(f"{i} = {label}" for i, label in spec.id2label.items())
    )
    return f"""# {spec.name} (stand-in)

**This is a stand-in, not {spec.stands_in_for}.** The hub is unreachable where this course is built
and tested, so LLM Retreat fine-tunes its own model for this role. Learners online can load the real
checkpoint with `LLM_RETREAT_HUB=1`.

- Base model: sentence-transformers/all-MiniLM-L6-v2 (6-layer BERT encoder, uncased), from the offline kit
- Task head: {spec.head}; labels: {labels}
- Data: {spec.data_description}
- Split sizes used: train {sizes["train"]}, validation {sizes["validation"]}, test {sizes["test"]}
- Build mode: {info["mode"]}{" (small and fast: the numbers are not meaningful)" if info["mode"] == "smoke" else ""}
- Hyperparameters: {json.dumps(asdict(settings))}
- Training time: {info["train_seconds"]:.0f} s on {info["threads"]} CPU threads, {info.get("precision", "fp32")}

## Held-out metrics

{header}
{rows}

## Limits

{spec.limits}
"""


def build(name: str, force: bool = False, log: Callable[[str], None] = print) -> dict:
    """Build stand-in ``name`` for the current mode unless an identical build exists; return its info."""
    standin = registry.spec(name)
    settings = standin.settings()
    target = model_dir(name)
    if not is_complete(asset_path(BASE_MODEL)):
        raise FileNotFoundError(
            f"stand-in {name!r} needs the base model all-MiniLM-L6-v2, which is not in the asset "
            "home yet. Fetch it with: make kit"
        )
    if standin.dataset in prepared.PREPARED:  # a prepared dataset follows its committed sources before we hash it
        prepared.prepare(prepared.PREPARED[standin.dataset], log=log)
    wanted = fingerprint(standin, settings)
    info = read_info(name)
    if not force and info and info.get("fingerprint") == wanted and is_built(name):
        log(f"{name}: up to date ({mode_name()} build)")
        return info
    import torch

    previous = f"; the last build here took {info['train_seconds']:.0f} s" if info else ""
    log(
        f"{name}: training ({mode_name()} mode, {settings.epochs:g} epoch{'' if settings.epochs == 1 else 's'}, "
        f"max_length {settings.max_length}) "
        f"-> {display_path(target)}{previous}. The bar shows steps and the time left."
    )
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)  # staging beside the target: a stopped build leaves no /tmp litter
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        results = training.RECIPES[standin.recipe](standin, settings, staging)
        # Trainer.save_model also pickles its TrainingArguments; the course ships safetensors only.
        (staging / "training_args.bin").unlink(missing_ok=True)
        info = {
            "name": name,
            "mode": mode_name(),
            "fingerprint": wanted,
            "stands_in_for": standin.stands_in_for,
            "dataset": standin.dataset,
            "settings": asdict(settings),
            "metrics": results,
            "train_seconds": round(time.perf_counter() - started, 1),
            "threads": torch.get_num_threads(),
            "precision": "bf16 autocast" if training.bf16_autocast(settings) else "fp32",
        }
        (staging / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        (staging / "README.md").write_text(model_card(standin, settings, info), encoding="utf-8")
        write_marker(staging, wanted)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"{name}: done in {info['train_seconds']:.0f} s; test {json.dumps(info['metrics']['test'])}")
    return info


def _headline(scores: dict, split: str, metric: str) -> str:
    value = scores.get(split, {}).get(metric)
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def standin_list() -> str:
    """``python -m utils.course list``: every stand-in of both modes, its split sizes and headline metric (validation
    and test) and its build time, within 100 columns; then what each stands in for."""
    rows = []
    for mode in ("full", "smoke"):
        for name, spec in SPECS.items():
            folder = registry.model_dir(name, smoke=mode == "smoke")
            info_path = folder / registry.INFO_FILE
            info = (
                json.loads(info_path.read_text(encoding="utf-8"))
                if is_complete(folder) and info_path.is_file()
                else None
            )
            scores = info["metrics"] if info else {}
            sizes = scores.get("split_sizes", {})
            rows.append(
                {
                    "stand-in": name,
                    "mode": mode,
                    "built": "yes" if info else "no",
                    "train/val/test": "/".join(str(sizes[s]) for s in ("train", "validation", "test"))
                    if sizes
                    else "-",
                    "metric": spec.headline_metric,
                    "validation": _headline(scores, "validation", spec.headline_metric),
                    "test": _headline(scores, "test", spec.headline_metric),
                    "build s": f"{info['train_seconds']:.0f}" if info else "-",
                }
            )
    lines = [
        format_table(rows),
        "",
        f"current mode: {mode_name()}. Build what is missing with `make standins` (add LLM_RETREAT_SMOKE=1 for smoke",
        "mode). Every metric of a build is in its folder's standin.json.",
        "",
        "stands in for:",
    ]
    lines += [f"  {name}: {spec.stands_in_for}" for name, spec in SPECS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    configure()
    parser = argparse.ArgumentParser(prog="python -m utils.course", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build stand-ins (all when no name is given)")
    build_parser.add_argument("names", nargs="*", help=f"any of: {', '.join(SPECS)}")
    build_parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    sub.add_parser("list", help="list stand-ins and their state")
    args = parser.parse_args(argv)
    if args.command == "list":
        print(standin_list())
        return 0
    names = args.names or list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(f"error: unknown stand-in(s) {', '.join(unknown)}; valid names: {', '.join(SPECS)}", file=sys.stderr)
        return 2
    try:
        for name in names:
            build(name, force=args.force)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
