"""Learning curves from ``trainer.state.log_history``: tidy tables, a figure, and a diagnosis.

``Trainer`` records every logging and evaluation event in ``trainer.state.log_history``, a list of
dicts: ``{"loss", "grad_norm", "learning_rate", "epoch", "step"}`` every ``logging_steps``,
``{"eval_loss", "eval_<metric>", "eval_runtime", ..., "epoch", "step"}`` every ``eval_steps`` (with
``eval_strategy="steps"``), and one closing ``{"train_runtime", "train_loss", ...}`` summary.

- :func:`log_tables` splits that list into two pandas tables (training loss by step; validation loss and
  metrics by step).
- :func:`plot_learning_curves` draws training loss, validation loss and a validation metric against steps;
  :func:`compare_learning_curves` puts several runs side by side.
- :func:`diagnose` names the regime of a run (good fit, underfitting, overfitting, erratic) with the numbers
  that justify it and what to change.

The thresholds are in :class:`Thresholds`, each with the reason for its value. They are rules of thumb
for a classifier fine-tuned for a few hundred steps and evaluated on a fixed validation set, not laws:
the evidence strings print the measured numbers next to each threshold so that a reader can judge a
borderline case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from utils.plots import DEFAULT_DPI

REGIMES = ("good fit", "underfitting", "overfitting", "erratic")

# Keys of an evaluation entry that are timings, not measurements of the model.
_EVAL_TIMINGS = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second")

_FIX_NO_EVAL = (
    'set eval_strategy="steps" and eval_steps (and pass an eval_dataset) in TrainingArguments / '
    "Trainer, then train again"
)
_FIX_NO_TRAIN = "set logging_steps (smaller than the number of training steps) in TrainingArguments, then train again"


@dataclass(frozen=True)
class LogTables:
    """``train``: one row per logging event (step, epoch, loss, and learning_rate / grad_norm when logged).
    ``eval``: one row per evaluation (step, epoch, loss, and each ``eval_<name>`` metric as ``<name>``)."""

    train: pd.DataFrame
    eval: pd.DataFrame


def log_tables(log_history: Sequence[Mapping[str, object]]) -> LogTables:
    """Split ``trainer.state.log_history`` into a training-loss table and a validation table, both by step.

    The closing summary entry (``train_runtime``, ``train_loss``...) and the evaluation timings are dropped.
    Either table may be empty (e.g. no evaluation was run); :func:`diagnose` and the plots refuse that.
    Raises ValueError if ``log_history`` is not a list of dicts or an entry has no ``step``.
    """
    if isinstance(log_history, (str, bytes)) or not isinstance(log_history, Sequence):
        raise ValueError(
            f"log_history must be a list of dicts (trainer.state.log_history), got {type(log_history).__name__}"
        )
    train_rows, eval_rows = [], []
    for index, entry in enumerate(log_history):
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"log_history[{index}] is a {type(entry).__name__}, not a dict: pass trainer.state.log_history"
            )
        if "loss" in entry or "eval_loss" in entry:
            if "step" not in entry:
                raise ValueError(f"log_history[{index}] has no 'step': pass trainer.state.log_history unchanged")
        if "loss" in entry:
            row = {"step": int(entry["step"]), "epoch": entry.get("epoch", math.nan), "loss": float(entry["loss"])}
            row.update({key: float(entry[key]) for key in ("learning_rate", "grad_norm") if key in entry})
            train_rows.append(row)
        if "eval_loss" in entry:
            row = {"step": int(entry["step"]), "epoch": entry.get("epoch", math.nan)}
            row.update(
                {
                    key.removeprefix("eval_"): float(value)
                    for key, value in entry.items()
                    if key.startswith("eval_") and key not in _EVAL_TIMINGS and isinstance(value, (int, float))
                }
            )
            eval_rows.append(row)
    train = pd.DataFrame(train_rows, columns=None if train_rows else ["step", "epoch", "loss"])
    evaluation = pd.DataFrame(eval_rows, columns=None if eval_rows else ["step", "epoch", "loss"])
    return LogTables(
        train=train.sort_values("step", ignore_index=True), eval=evaluation.sort_values("step", ignore_index=True)
    )


def _checked_tables(log_history: Sequence[Mapping[str, object]], min_points: int) -> LogTables:
    if isinstance(log_history, Sequence) and not isinstance(log_history, (str, bytes)) and len(log_history) == 0:
        raise ValueError("log_history is empty: pass trainer.state.log_history after trainer.train()")
    tables = log_tables(log_history)
    if len(tables.eval) == 0:
        raise ValueError(f"log_history has no evaluation entries (no 'eval_loss'): {_FIX_NO_EVAL}")
    if len(tables.train) == 0:
        raise ValueError(f"log_history has no training-loss entries (no 'loss'): {_FIX_NO_TRAIN}")
    if len(tables.eval) < min_points:
        raise ValueError(
            f"log_history has {len(tables.eval)} evaluation(s); a curve needs at least {min_points}: "
            "make eval_steps smaller than a third of the training steps"
        )
    if len(tables.train) < min_points:
        raise ValueError(
            f"log_history has {len(tables.train)} training-loss entries; a curve needs at least "
            f"{min_points}: make logging_steps smaller than a third of the training steps"
        )
    return tables


def _metric_column(tables: LogTables, metric: str | None) -> str | None:
    """The validation metric to show: ``metric`` if given (must exist), else the first non-loss column, if any."""
    candidates = [c for c in tables.eval.columns if c not in ("step", "epoch", "loss")]
    if metric is None:
        return candidates[0] if candidates else None
    if metric.removeprefix("eval_") not in candidates:
        raise ValueError(
            f"no validation metric {metric!r} in log_history; found {candidates or 'none'} "
            "(compute_metrics returns them)"
        )
    return metric.removeprefix("eval_")


def _draw(ax_loss, ax_metric, tables: LogTables, metric: str | None, title: str) -> None:
    ax_loss.plot(tables.train["step"], tables.train["loss"], color="tab:blue", alpha=0.8, label="training loss")
    ax_loss.plot(
        tables.eval["step"], tables.eval["loss"], color="tab:orange", marker="o", markersize=3, label="validation loss"
    )
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_ylim(bottom=0)
    ax_loss.legend(fontsize=8)
    ax_loss.grid(alpha=0.3)
    if title:
        ax_loss.set_title(title)
    if metric is None:
        if ax_metric is not None:
            ax_metric.set_axis_off()
        return
    ax_metric.plot(tables.eval["step"], tables.eval[metric], color="tab:green", marker="o", markersize=3)
    ax_metric.set_xlabel("step")
    ax_metric.set_ylabel(f"validation {metric}")
    ax_metric.grid(alpha=0.3)


def plot_learning_curves(
    log_history: Sequence[Mapping[str, object]], *, metric: str | None = None, title: str = "", dpi: int = DEFAULT_DPI
) -> Figure:
    """Two panels: training and validation loss against steps (left), a validation metric against steps (right).

    ``metric`` names a validation metric from ``compute_metrics`` (``"accuracy"`` or ``"eval_accuracy"``);
    by default the first one logged. Without any logged metric, the loss panel alone. Returns the Figure (built
    without pyplot: nothing stays open).
    Raises ValueError for an empty history, no evaluation or training-loss entries, or an unknown metric.
    """
    tables = _checked_tables(log_history, min_points=1)
    column = _metric_column(tables, metric)
    if column is None:
        fig = Figure(figsize=(4.5, 3.2), dpi=dpi)
        _draw(fig.subplots(), None, tables, None, title)
        fig.tight_layout()
        return fig
    fig = Figure(figsize=(9, 3.2), dpi=dpi)
    ax_loss, ax_metric = fig.subplots(1, 2)
    _draw(ax_loss, ax_metric, tables, column, title)
    fig.tight_layout()
    return fig


def compare_learning_curves(
    histories: Mapping[str, Sequence[Mapping[str, object]]], *, metric: str | None = None, dpi: int = DEFAULT_DPI
) -> Figure:
    """One column per run (titled with its name): losses on top, the validation metric below.

    The metric panels share one y-axis so that runs compare at a glance; each loss panel keeps its own, so that
    a run whose validation loss climbs far above the others' (overfitting) is shown whole. Returns the Figure.
    Raises ValueError for no runs, or as :func:`plot_learning_curves` does for any run.
    """
    if not histories:
        raise ValueError("no runs to compare: pass a dict {name: trainer.state.log_history}")
    fig = Figure(figsize=(3.2 * len(histories), 5.2), dpi=dpi)
    axes = fig.subplots(2, len(histories), squeeze=False)
    for column, (name, history) in enumerate(histories.items()):
        tables = _checked_tables(history, min_points=1)
        _draw(axes[0, column], axes[1, column], tables, _metric_column(tables, metric), name)
    lows, highs = zip(*(ax.get_ylim() for ax in axes[1]))
    for ax in axes[1]:
        ax.set_ylim(min(lows), max(highs))
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class Thresholds:
    """The rules of thumb :func:`diagnose` applies, with why each value was chosen.

    Losses are compared in *relative* terms (a share of their own level), so the same numbers work for
    any number of classes and any loss scale. ``window`` is the share of the logged training losses that
    is averaged at the start and at the end of a run: one logged loss is the mean over only
    ``logging_steps`` batches, and averaging a few of them keeps one lucky batch from deciding.
    """

    window: float = 0.2
    """Share of the training-loss points averaged at each end (at least one point)."""

    erratic_val_excess: float = 0.25
    """Erratic when the validation loss travels, up and down, more than 25% of its best value beyond the
    shortest path from its first value down to its minimum and on to its last value. A steady curve (falling,
    or falling then rising) travels almost exactly that shortest path; the validation set is fixed, so every
    extra up-and-down is the model itself jumping, not sampling noise. A well-behaved run wobbles by a few
    percent; 25% is far outside that."""

    erratic_metric_drop: float = 0.10
    """Erratic also when the validation metric falls by 0.10 (10 accuracy points) or more between two
    consecutive evaluations, at least twice: a stable run does not lose a tenth of its validation set in a
    few dozen steps, and once can be one bad step; twice is a pattern."""

    overfit_val_rise: float = 0.10
    """Overfitting when the last validation loss is 10% or more above the run's minimum, with the minimum
    before the end and the training loss still falling. The wobble of a plateaued validation loss on a few
    hundred fixed sentences is a few percent, so a 10% rise is a trend, not noise."""

    underfit_train_drop: float = 0.30
    """Underfitting when the training loss ends less than 30% below where it started: the model cannot even
    fit the data it sees. (For two balanced classes, chance is ln 2 = 0.693; a 30% drop is about 0.49, i.e.
    the model is still unsure of most training sentences.) A fine-tuned encoder on a few thousand sentences
    drops more than half."""

    underfit_still_falling: float = 0.10
    """Underfitting also when the validation loss still fell 10% or more over the last third of the
    evaluations: training stopped while it was still improving fast, so more steps would help."""

    borderline: float = 0.7
    """A measured value above ``borderline`` times a threshold (but not past it) is reported as borderline."""


@dataclass(frozen=True)
class Diagnosis:
    """``regime``: one of :data:`REGIMES`. ``evidence``: human-readable lines with the measured numbers (and the
    thresholds) behind the verdict, borderline values included. ``advice``: what to change. ``stats``: the
    measured values by name."""

    regime: str
    evidence: list[str]
    advice: str
    stats: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.regime}:"] + [f"  - {line}" for line in self.evidence] + [f"  => {self.advice}"]
        return "\n".join(lines)


ADVICE = {
    "good fit": "keep these settings; to gain more, add data or tune the learning rate, and stop near the "
    "best validation step",
    "underfitting": "let the model learn more: unfreeze the encoder, train for more steps, or raise the learning rate",
    "overfitting": "stop earlier (keep the step with the lowest validation loss: load_best_model_at_end or "
    "EarlyStoppingCallback), add training data, or regularise (weight_decay, fewer epochs)",
    "erratic": "make the updates smaller or less noisy: lower the learning rate (e.g. 10x), use larger batches "
    "(or gradient_accumulation_steps), add warmup",
}


def _path_excess(values: np.ndarray) -> float:
    """How far a curve travels beyond the shortest path first -> minimum -> last (0 for a steady curve)."""
    lowest = values.min()
    shortest = (values[0] - lowest) + (values[-1] - lowest)
    return float(np.abs(np.diff(values)).sum() - shortest)


def _mark(value: float, threshold: float, limits: Thresholds) -> str:
    if value >= threshold:
        return "past"
    return "borderline, close to" if value >= limits.borderline * threshold else "below"


def diagnose(
    log_history: Sequence[Mapping[str, object]], *, metric: str | None = None, thresholds: Thresholds | None = None
) -> Diagnosis:
    """Name the regime of a training run from ``trainer.state.log_history``, with its evidence.

    The rules are checked in this order, and the first that fires names the regime (see :class:`Thresholds`
    for the values and why):

    1. **erratic**: a non-finite loss, or a validation loss that zigzags (travels far more than a steady curve
       would), or a validation metric that drops sharply between evaluations more than once. Checked first:
       on a jumpy curve the trend rules below would read noise as a trend.
    2. **overfitting**: the validation loss ends well above its minimum while the training loss keeps falling.
    3. **underfitting**: the training loss barely fell, or the validation loss was still falling fast at the end.
    4. **good fit**: none of the above; training loss fell, and validation loss fell and held near its best.

    ``metric`` is the validation metric to quote (default: the first one logged, if any).
    Raises ValueError for an empty history, one without evaluation entries (fix: ``eval_strategy="steps"``
    with ``eval_steps``) or without training-loss entries (fix: ``logging_steps``), or fewer than 3 of either.
    """
    limits = thresholds or Thresholds()
    tables = _checked_tables(log_history, min_points=3)
    column = _metric_column(tables, metric)
    train = tables.train["loss"].to_numpy(dtype=float)
    val = tables.eval["loss"].to_numpy(dtype=float)
    steps = tables.eval["step"].to_numpy()
    evidence: list[str] = []

    if not (np.isfinite(train).all() and np.isfinite(val).all()):
        bad = "training" if not np.isfinite(train).all() else "validation"
        first = int(
            (tables.train if bad == "training" else tables.eval)["step"][
                ~np.isfinite(train if bad == "training" else val)
            ].iloc[0]
        )
        evidence.append(f"the {bad} loss became NaN or infinite at step {first}: training diverged")
        return Diagnosis("erratic", evidence, ADVICE["erratic"], {"diverged_at_step": float(first)})

    k = max(1, round(limits.window * len(train)))
    train_start, train_end = float(train[:k].mean()), float(train[-k:].mean())
    train_drop = 1.0 - train_end / train_start if train_start > 0 else 0.0
    best = int(val.argmin())
    val_min, val_first, val_last = float(val[best]), float(val[0]), float(val[-1])
    val_rise = val_last / val_min - 1.0 if val_min > 0 else 0.0
    excess = _path_excess(val) / val_min if val_min > 0 else 0.0
    third = max(2, math.ceil(len(val) / 3))
    tail = val[-third:]
    still_falling = 1.0 - tail[-1] / tail[0] if tail[0] > 0 else 0.0
    drops = 0
    metric_values = None
    if column is not None:
        metric_values = tables.eval[column].to_numpy(dtype=float)
        # Drops of a metric where higher is better; for a metric named like a loss or error, rises are drops.
        sign = -1.0 if any(word in column for word in ("loss", "error", "perplexity")) else 1.0
        drops = int((np.diff(sign * metric_values) <= -limits.erratic_metric_drop + 1e-12).sum())
    # Training loss where the validation loss was at its minimum (the logged point at or before that step).
    at_best = tables.train[tables.train["step"] <= steps[best]]["loss"]
    train_at_best = float(at_best.iloc[-1]) if len(at_best) else train_start
    stats = {
        "train_loss_start": train_start,
        "train_loss_end": train_end,
        "train_drop": train_drop,
        "val_loss_first": val_first,
        "val_loss_min": val_min,
        "val_loss_min_step": float(steps[best]),
        "val_loss_last": val_last,
        "val_rise": val_rise,
        "val_excess": excess,
        "val_still_falling": still_falling,
        "metric_drops": float(drops),
        "train_loss_at_val_min": train_at_best,
    }

    evidence.append(
        f"training loss {train_start:.3f} -> {train_end:.3f} (mean of the first/last {k} logged "
        f"values): down {train_drop:.0%} ({_mark(train_drop, limits.underfit_train_drop, limits)} the "
        f"{limits.underfit_train_drop:.0%} needed to count as learning)"
    )
    evidence.append(
        f"validation loss {val_first:.3f} -> lowest {val_min:.3f} at step {int(steps[best])} -> last "
        f"{val_last:.3f}: {val_rise:+.0%} above its lowest "
        f"({_mark(val_rise, limits.overfit_val_rise, limits)} the {limits.overfit_val_rise:.0%} "
        "overfitting threshold)"
    )
    evidence.append(
        f"validation loss zigzag: {excess:.0%} of its lowest value travelled beyond a steady path "
        f"({_mark(excess, limits.erratic_val_excess, limits)} the {limits.erratic_val_excess:.0%} "
        "erratic threshold)"
    )
    if metric_values is not None:
        evidence.append(
            f"validation {column} {metric_values[0]:.3f} -> best {metric_values.max():.3f} -> last "
            f"{metric_values[-1]:.3f}; {drops} drop(s) of {limits.erratic_metric_drop:.2f} or more "
            "between consecutive evaluations (2 make it erratic)"
        )

    if excess >= limits.erratic_val_excess or drops >= 2:
        regime = "erratic"
    elif val_rise >= limits.overfit_val_rise and best < len(val) - 1 and train_end < train_at_best:
        regime = "overfitting"
        evidence.append(
            f"meanwhile the training loss kept falling: {train_at_best:.3f} at the validation minimum "
            f"-> {train_end:.3f} at the end (the model memorises its training set)"
        )
    elif train_drop < limits.underfit_train_drop or still_falling >= limits.underfit_still_falling:
        regime = "underfitting"
        evidence.append(
            f"validation loss over the last {third} evaluations: down {still_falling:.0%} "
            f"({_mark(still_falling, limits.underfit_still_falling, limits)} the "
            f"{limits.underfit_still_falling:.0%} that says it was still improving fast)"
        )
    else:
        regime = "good fit"
        evidence.append(f"gap at the end: validation {val_last:.3f} vs training {train_end:.3f}")
    return Diagnosis(regime, evidence, ADVICE[regime], stats)
