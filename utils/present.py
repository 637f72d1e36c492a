"""Present mode: a training cell loads the result of an earlier run instead of training.

An instructor presenting a training notebook live cannot wait minutes per cell. Every training cell of notebooks
10-16 and 20 calls :func:`train_or_load` (a ``Trainer``), :func:`run_or_load` (a hand-written loop) or
:func:`files_or_load` (training in other processes that report through files: notebook 11's ``notebook_launcher``);
the slow evaluation cells of notebook 20 (replies generated for the whole test set) call :func:`result_or_load`:

- normally they train, then save what training produced under ``<asset home>/runs/<notebook>/<run>/`` (smoke runs
  under ``runs/<notebook>-smoke/``): the trained weights (only the parameters that train, as safetensors), the
  ``Trainer``'s state with its ``log_history`` (or the loop's result), the optimizer and scheduler state of a loop, and
  the random-number generators as training left them;
- with ``LLM_RETREAT_PRESENT=1`` (``LLM_RETREAT_PRESENT=1 make lab``, or ``%env LLM_RETREAT_PRESENT=1`` in the first
  cell) they load all of that into the same objects instead, print where it came from and, for a ``Trainer``, show
  the run's epoch table (training and validation loss and metrics per epoch) as the live run showed it. Every later
  cell then computes what it computed after the real run: the same weights, logs and random state.

A saved run carries a fingerprint of what made it (training arguments, every row of the training data, trainable
parameters, the loop's settings); present mode refuses a run whose fingerprint differs from the cell's, and says how
to make a new one.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from utils.environment import asset_home, display_path, present_mode, smoke_mode

T = TypeVar("T")

WEIGHTS, RUN, TRAINER_STATE, FILES = "weights.safetensors", "run.json", "trainer_state.json", "files"
# Training arguments that name places or labels of one run, not how it trains.
_UNCOMPARED_ARGS = ("output_dir", "logging_dir", "run_name", "hub_token", "hub_model_id")
# Evaluation entries of log_history that Trainer's Jupyter table leaves out (NotebookProgressCallback.on_evaluate).
_EVALUATION_TIMES = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")


def run_dir(name: str) -> Path:
    """Where run ``"13/emotion"`` is saved: ``<asset home>/runs/13/emotion`` (``runs/13-smoke/emotion`` in smoke mode)."""
    notebook, _, run = name.partition("/")
    if not notebook or not run or "/" in run:
        raise ValueError(f"run name {name!r}: expected '<notebook>/<run>', for example '13/emotion'")
    return asset_home() / "runs" / (f"{notebook}-smoke" if smoke_mode() else notebook) / run


def train_or_load(trainer, name: str, keep: Sequence[object] = ()):
    """``trainer.train()``, then save the run; in present mode, load the saved run into ``trainer`` instead.

    Returns the ``TrainOutput`` of the run (the saved one in present mode: its ``train_runtime`` is the real
    training time). ``trainer.state`` (with ``log_history``) and ``trainer.model``'s trainable weights are restored.
    ``keep``: objects that measured the training (callbacks, timers); their attributes that JSON can hold (numbers,
    lists...) are saved with the run and set back in present mode.
    """
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import TrainOutput

    fingerprint = {**trainer_fingerprint(trainer), "kept": [type(measured).__name__ for measured in keep]}
    if present_mode():
        saved, _ = _load(name, fingerprint, trainer.model)
        trainer.state = TrainerState.load_from_json(str(run_dir(name) / TRAINER_STATE))
        if "log_history" in saved:  # in logged key order (the state file sorts the keys); older saves lack it
            trainer.state.log_history = saved["log_history"]
        for measured, attributes in zip(keep, saved["kept"], strict=True):
            for attribute, value in attributes.items():
                setattr(measured, attribute, value)
        output = TrainOutput(*saved["result"])
        show_epoch_table(trainer, output.metrics.get("train_runtime", saved["seconds"]))
        return output
    start = time.perf_counter()
    output = trainer.train()
    kept = [{key: value for key, value in vars(measured).items() if _storable(value)} for measured in keep]
    extra = {"kept": kept, "log_history": trainer.state.log_history}
    folder = _save(name, fingerprint, trainer.model, list(output), time.perf_counter() - start, extra=extra)
    trainer.state.save_to_json(str(folder / TRAINER_STATE))
    return output


def run_or_load(name: str, loop: Callable[[], T], model, *, settings: dict, optimizer=None, scheduler=None) -> T:
    """``loop()``, then save the run; in present mode, load the saved run into ``model`` and return its result.

    ``loop`` trains ``model`` and returns something JSON can hold (numbers, lists, dicts): the history to plot.
    ``settings`` are the numbers the loop trains with (epochs, learning rate...): a saved run with other settings is
    refused. A given ``optimizer`` and ``scheduler`` are saved and restored too (to resume or save them later).
    """
    fingerprint = {"settings": settings, **_model_fingerprint(model)}
    if present_mode():
        saved, tensors = _load(name, fingerprint, model)
        if optimizer is not None:
            state = {
                int(index): {key: tensors[f"optimizer/{index}/{key}"] for key in keys}
                for index, keys in saved["optimizer_state_keys"].items()
            }
            optimizer.load_state_dict({"state": state, "param_groups": saved["optimizer_param_groups"]})
        if scheduler is not None:
            scheduler.load_state_dict(saved["scheduler"])
        return saved["result"]
    start = time.perf_counter()
    result = loop()
    extra_tensors, extra = {}, {}
    if optimizer is not None:
        state_dict = optimizer.state_dict()
        extra["optimizer_param_groups"] = state_dict["param_groups"]
        extra["optimizer_state_keys"] = {index: sorted(values) for index, values in state_dict["state"].items()}
        extra_tensors = {
            f"optimizer/{index}/{key}": torch.as_tensor(value)
            for index, values in state_dict["state"].items()
            for key, value in values.items()
        }
    if scheduler is not None:
        extra["scheduler"] = scheduler.state_dict()
    _save(name, fingerprint, model, result, time.perf_counter() - start, extra_tensors, extra)
    return result


def files_or_load(name: str, make: Callable[[], T], folder: Path, *, settings: dict, data=None) -> T:
    """``make()``, which writes what it trained into ``folder`` as files, then save a copy of those files with the
    run; in present mode, copy the saved files into ``folder`` instead and return the saved result.

    For training that runs in other processes and reports through files (notebook 11's ``notebook_launcher``): there
    is no model in the kernel to load weights into. ``make`` returns something JSON can hold (its timings). The
    fingerprint is ``settings`` and, when given, every row of ``data`` (the training set).
    """
    folder = Path(folder)
    fingerprint = _result_fingerprint(settings, data)
    if present_mode():
        saved, _ = _load(name, fingerprint, None)
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted((run_dir(name) / FILES).iterdir()):
            shutil.copy2(path, folder / path.name)
        return saved["result"]
    start = time.perf_counter()
    result = make()
    seconds = time.perf_counter() - start
    copies = run_dir(name) / FILES
    shutil.rmtree(copies, ignore_errors=True)
    copies.mkdir(parents=True)
    for path in sorted(folder.iterdir()):
        if path.is_file():
            shutil.copy2(path, copies / path.name)
    _save(name, fingerprint, None, result, seconds)
    return result


def result_or_load(name: str, compute: Callable[[], T], *, settings: dict, data=None) -> T:
    """``compute()``, then save its result; in present mode, return the saved result instead.

    For evaluation cells that take minutes (greedy replies to a whole test set): ``compute`` returns something JSON
    can hold (lists of replies, losses). The fingerprint is ``settings`` (the model's identity, generation settings)
    and, when given, every row of ``data`` (the prompts): a saved result made from other prompts or settings is
    refused. Nothing is trained, so no weights are saved or loaded.
    """
    fingerprint = _result_fingerprint(settings, data)
    if present_mode():
        saved, _ = _load(name, fingerprint, None, activity="computing")
        return saved["result"]
    start = time.perf_counter()
    result = compute()
    _save(name, fingerprint, None, result, time.perf_counter() - start)
    return result


def epoch_table(log_history: Sequence[dict], eval_strategy: str) -> list[list]:
    """The table ``Trainer`` shows in Jupyter while it trains, rebuilt from a run's ``log_history``.

    Returns rows, the first one the column names: ``Epoch`` (``Step`` unless the run evaluated once per epoch),
    ``Training Loss``, ``Validation Loss`` and each metric, one row per evaluation (per logged loss when the run never
    evaluated). Built by transformers' own ``NotebookTrainingTracker.write_line`` with the values its
    ``NotebookProgressCallback`` passes it, so that the rows, columns and order are the ones of the live run.
    """
    from transformers.utils.notebook import NotebookTrainingTracker

    evaluated = str(eval_strategy).rsplit(".", 1)[-1].lower() != "no"
    first_column = "Epoch" if str(eval_strategy).rsplit(".", 1)[-1].lower() == "epoch" else "Step"
    columns = [first_column, "Training Loss", *(["Validation Loss"] if evaluated else [])]
    tracker = NotebookTrainingTracker(1, columns)
    for index, entry in enumerate(log_history):
        if not evaluated and "loss" in entry:
            tracker.write_line({"Training Loss": entry["loss"], "Step": entry.get("step")})
        losses = [key for key in entry if key.endswith("_loss") and key not in ("train_loss",)]
        if not evaluated or not losses:
            continue
        values: dict[str, Any] = {"Training Loss": "No log", "Validation Loss": "No log"}
        for earlier in reversed(log_history[:index]):
            if "loss" in earlier:
                values["Training Loss"] = earlier["loss"]
                break
        values[first_column] = int(entry.get("epoch", 0)) if first_column == "Epoch" else entry.get("step")
        prefix = losses[-1].removesuffix("_loss")
        skipped = {"total_flos", "epoch", "step", *(f"{prefix}_{k}" for k in _EVALUATION_TIMES)}
        for key, value in entry.items():
            if key not in skipped:
                name = " ".join(part.capitalize() for part in key.split("_")[1:])
                values["Validation Loss" if name == "Loss" else name] = value
        tracker.write_line(values)
    return tracker.inner_table


def show_epoch_table(trainer, seconds: float) -> None:
    """Show a loaded run's epoch table as the live run showed it: under a full progress bar in Jupyter, as text else.

    The table comes from :func:`epoch_table`; nothing is shown for a run that logged nothing.
    """
    from transformers.utils.notebook import (
        NotebookProgressCallback,
        format_time,
        html_progress_bar,
        text_to_html_table,
    )

    table = epoch_table(trainer.state.log_history, trainer.args.eval_strategy)
    if len(table) < 2:
        return
    steps, epochs = trainer.state.max_steps or trainer.state.global_step, trainer.state.num_train_epochs
    label = f"[{steps}/{steps} {format_time(seconds)}, Epoch {int(trainer.state.epoch or 0)}/{epochs}] (the saved run)"
    in_jupyter = any(isinstance(c, NotebookProgressCallback) for c in trainer.callback_handler.callbacks)
    if in_jupyter:
        from IPython.display import HTML, display

        display(HTML(html_progress_bar(steps, steps, "", label) + text_to_html_table(table)))
        return
    print(f"{label}\n{format_table(table)}")


def format_table(table: Sequence[Sequence]) -> str:
    """Rows (the first one the column names) as aligned text, numbers with 6 decimals as in Trainer's table."""
    cells = [[f"{value:.6f}" if isinstance(value, float) else str(value) for value in row] for row in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(value.rjust(width) for value, width in zip(row, widths)) for row in cells)


def trainer_fingerprint(trainer) -> dict[str, Any]:
    """What a ``Trainer`` run depends on: its arguments, its training data and the model's trainable parameters."""
    arguments = {key: value for key, value in trainer.args.to_dict().items() if key not in _UNCOMPARED_ARGS}
    callbacks = sorted(type(callback).__name__ for callback in trainer.callback_handler.callbacks)
    return {
        "trainer": type(trainer).__name__,
        "arguments": json.loads(json.dumps(arguments, default=str)),
        "callbacks": callbacks,
        "train_data": _data_fingerprint(trainer.train_dataset),
        **_model_fingerprint(trainer.model),
    }


def _data_fingerprint(dataset) -> dict[str, Any] | str:
    """The number of rows and a hash of every row, in order: an edit anywhere in a training set changes it.

    A ``datasets.Dataset`` is read in batches of 1,000 rows (about a second for 10,000 tokenized sentences); any
    other dataset (a torch ``Dataset``, a list) row by row.
    """
    if dataset is None:
        return "none"
    digest = hashlib.sha256()
    if hasattr(dataset, "iter") and hasattr(dataset, "column_names"):
        batches = dataset.with_format(None).iter(batch_size=1000)
    else:
        batches = ([dataset[i]] for i in range(len(dataset)))
    for batch in batches:
        digest.update(json.dumps(batch, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return {"rows": len(dataset), "sha256": digest.hexdigest()[:16]}


def _result_fingerprint(settings: dict, data) -> dict[str, Any]:
    """What a run without a model depends on: its settings and, when given, every row of its data."""
    return {"settings": settings, **({"data": _data_fingerprint(data)} if data is not None else {})}


def _model_fingerprint(model) -> dict[str, Any]:
    trainable = {name: list(p.shape) for name, p in model.named_parameters() if p.requires_grad}
    return {
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": hashlib.sha256(json.dumps(trainable, sort_keys=True).encode()).hexdigest()[:16],
    }


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"rng/cuda/{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    return tensors, {
        "numpy": [kind, keys.tolist(), position, has_gauss, cached],
        "python": [version, list(python_state), gauss_next],
    }


def _set_rng_state(tensors: dict[str, torch.Tensor], saved: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[key] for key in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, position, has_gauss, cached = saved["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    version, python_state, gauss_next = saved["python"]
    random.setstate((version, tuple(python_state), gauss_next))


def _save(name, fingerprint, model, result, seconds, extra_tensors=None, extra=None) -> Path:
    folder = run_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    rng_tensors, rng = _rng_state()
    trained = model.named_parameters() if model is not None else ()
    weights = {key: p.detach().cpu().contiguous() for key, p in trained if p.requires_grad}
    save_file({**weights, **rng_tensors, **(extra_tensors or {})}, str(folder / WEIGHTS))
    record = {
        "fingerprint": fingerprint,
        "result": result,
        "seconds": seconds,
        "saved_at": datetime.datetime.now().isoformat(sep=" ", timespec="minutes"),
        "rng": rng,
        **(extra or {}),
    }
    (folder / RUN).write_text(json.dumps(record, indent=1, default=_plain))
    return folder


def _storable(value) -> bool:
    try:
        json.dumps(value, default=_plain)
    except (TypeError, ValueError):
        return False
    return True


def _plain(value):
    """JSON for the numbers a history holds: NumPy and torch scalars and arrays."""
    if isinstance(value, (np.generic, np.ndarray, torch.Tensor)):
        return value.tolist()
    raise TypeError(f"cannot save {type(value).__name__} in a run's result: return numbers, lists and dicts")


def _load(name, fingerprint, model, activity: str = "training") -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    folder = run_dir(name)
    fix = (
        f"fix: run the notebook once without LLM_RETREAT_PRESENT (or `make run NB={name.split('/')[0]}`), which saves "
        "the run, or unset LLM_RETREAT_PRESENT to train now"
    )
    if not (folder / RUN).is_file():
        raise FileNotFoundError(f"present mode: no saved run {name!r} in {display_path(folder)}; {fix}")
    saved = json.loads((folder / RUN).read_text())
    differences = _differences(saved["fingerprint"], json.loads(json.dumps(fingerprint, default=str)))
    if differences:
        raise ValueError(
            f"present mode: the saved run {name!r} ({saved['saved_at']}) was made with other settings than this "
            f"cell's ({'; '.join(differences[:4])}); {fix}"
        )
    tensors = load_file(str(folder / WEIGHTS))
    weights = {key: value for key, value in tensors.items() if "/" not in key}
    _, unexpected = model.load_state_dict(weights, strict=False) if model is not None else ((), list(weights))
    if unexpected:  # cannot happen while the fingerprint matches; a damaged file would get here
        raise ValueError(
            f"present mode: {display_path(folder)} holds weights this model lacks: {unexpected[:3]}; {fix}"
        )
    _set_rng_state(tensors, saved["rng"])
    print(
        f"present mode: loaded run {name!r} from {display_path(folder)} (saved {saved['saved_at']}; "
        f"{activity} took {saved['seconds']:.0f} s there): {activity} skipped"
    )
    return saved, tensors


def _differences(saved: Any, now: Any, path: str = "") -> list[str]:
    """Where two fingerprints differ, as 'key: saved -> now' lines."""
    if isinstance(saved, dict) and isinstance(now, dict):
        return [
            line
            for key in sorted(set(saved) | set(now))
            for line in _differences(saved.get(key), now.get(key), f"{path}.{key}" if path else key)
        ]
    return [] if saved == now else [f"{path}: {saved!r} saved, {now!r} now"]
