"""diagnose() names the regime of synthetic learning curves, with its numbers; the tables and plots behave."""

import math

import matplotlib

matplotlib.use("Agg")  # tests draw off-screen; notebooks use the inline backend

import numpy as np
import pytest
from matplotlib.figure import Figure

from utils.learning_curves import (
    REGIMES,
    Diagnosis,
    Thresholds,
    compare_learning_curves,
    diagnose,
    log_tables,
    plot_learning_curves,
)


def history(train, val, accuracy=None, *, logging_steps=10, eval_steps=20, steps_per_epoch=100):
    """A log history shaped like Trainer's: loss entries, eval entries, and the closing summary entry."""
    entries = []
    for i, loss in enumerate(train, start=1):
        step = i * logging_steps
        entries.append(
            {"loss": loss, "grad_norm": 1.0, "learning_rate": 5e-5, "epoch": step / steps_per_epoch, "step": step}
        )
    accuracy = accuracy if accuracy is not None else [0.5 + 0.3 * (1 - v / max(val)) for v in val]
    for i, (loss, acc) in enumerate(zip(val, accuracy), start=1):
        step = i * eval_steps
        entries.append(
            {
                "eval_loss": loss,
                "eval_accuracy": acc,
                "eval_runtime": 1.2,
                "eval_samples_per_second": 250.0,
                "eval_steps_per_second": 4.0,
                "epoch": step / steps_per_epoch,
                "step": step,
            }
        )
    last = max(len(train) * logging_steps, len(val) * eval_steps)
    entries.append(
        {
            "train_runtime": 30.0,
            "train_samples_per_second": 50.0,
            "train_steps_per_second": 3.0,
            "total_flos": 1.0,
            "train_loss": float(np.mean(train)),
            "epoch": last / steps_per_epoch,
            "step": last,
        }
    )
    entries.sort(key=lambda e: (e["step"], "eval_loss" in e, "train_runtime" in e))  # Trainer's order
    return entries


def decay(start, end, n, rate=4.0):
    """A smooth exponential decay from start towards end over n points."""
    return [end + (start - end) * math.exp(-rate * i / (n - 1)) for i in range(n)]


def noisy(values, scale, seed=0):
    rng = np.random.default_rng(seed)
    return [float(v * (1 + scale * rng.standard_normal())) for v in values]


GOOD = history(noisy(decay(0.69, 0.30, 20), 0.05), decay(0.68, 0.36, 10, rate=5))
UNDER_FROZEN = history(noisy(decay(0.70, 0.62, 20, rate=2), 0.02), decay(0.69, 0.63, 10, rate=2))
UNDER_TOO_FEW_STEPS = history(noisy(np.linspace(0.70, 0.40, 20).tolist(), 0.03), np.linspace(0.69, 0.45, 10).tolist())
OVER = history(decay(0.69, 0.01, 20, rate=6), [0.66, 0.58, 0.55, 0.57, 0.61, 0.66, 0.71, 0.75, 0.79, 0.82])
ERRATIC_ZIGZAG = history(
    noisy([0.7] * 20, 0.25),
    [0.69, 0.95, 0.60, 1.20, 0.70, 0.90, 0.65, 1.10, 0.72, 0.80],
    accuracy=[0.5, 0.5, 0.68, 0.5, 0.62, 0.55, 0.7, 0.52, 0.6, 0.58],
)
ERRATIC_METRIC = history(
    noisy(decay(0.7, 0.4, 20), 0.05),
    decay(0.68, 0.42, 10),
    accuracy=[0.55, 0.70, 0.58, 0.74, 0.76, 0.62, 0.78, 0.79, 0.80, 0.80],
)


@pytest.mark.parametrize(
    "log_history, regime",
    [
        (GOOD, "good fit"),
        (UNDER_FROZEN, "underfitting"),
        (UNDER_TOO_FEW_STEPS, "underfitting"),
        (OVER, "overfitting"),
        (ERRATIC_ZIGZAG, "erratic"),
        (ERRATIC_METRIC, "erratic"),
    ],
    ids=["good", "under-frozen", "under-too-few-steps", "over", "erratic-zigzag", "erratic-metric"],
)
def test_each_regime_is_named(log_history, regime):
    diagnosis = diagnose(log_history)
    assert isinstance(diagnosis, Diagnosis)
    assert diagnosis.regime == regime, str(diagnosis)
    assert diagnosis.regime in REGIMES
    assert diagnosis.advice
    assert all(isinstance(line, str) and line for line in diagnosis.evidence)


def test_evidence_quotes_the_numbers():
    diagnosis = diagnose(OVER)
    text = "\n".join(diagnosis.evidence)
    assert "lowest 0.550 at step 60" in text
    assert "last 0.820" in text
    assert "+49% above its lowest" in text
    assert "kept falling" in text
    assert diagnosis.stats["val_loss_min_step"] == 60
    assert str(diagnosis).startswith("overfitting:")


def test_overfitting_advice_names_early_stopping():
    assert "EarlyStoppingCallback" in diagnose(OVER).advice


def test_underfitting_by_slow_convergence_says_still_improving():
    diagnosis = diagnose(UNDER_TOO_FEW_STEPS)
    assert diagnosis.stats["train_drop"] >= Thresholds().underfit_train_drop  # it did learn...
    assert diagnosis.stats["val_still_falling"] >= Thresholds().underfit_still_falling  # ...but was not done
    assert "train for more steps" in diagnosis.advice


def test_small_rise_is_good_fit_but_reported_as_borderline():
    # Validation loss 8% above its minimum at the end: under the 10% threshold, but worth a look.
    val = [0.66, 0.55, 0.48, 0.45, 0.44, 0.44, 0.45, 0.46, 0.47, 0.475]
    diagnosis = diagnose(history(decay(0.69, 0.2, 20), val))
    assert diagnosis.regime == "good fit"
    assert any(
        "+8% above its lowest (borderline, close to the 10% overfitting threshold)" in line
        for line in diagnosis.evidence
    ), diagnosis.evidence


def test_rise_just_past_the_threshold_is_overfitting():
    val = [0.66, 0.55, 0.48, 0.45, 0.44, 0.44, 0.45, 0.46, 0.47, 0.485]
    assert diagnose(history(decay(0.69, 0.2, 20), val)).regime == "overfitting"


def test_rising_validation_loss_with_a_flat_training_loss_is_not_overfitting():
    # Both curves go up: the model is not memorising, something else is wrong (here: it barely learns).
    val = [0.69, 0.68, 0.67, 0.70, 0.72, 0.74, 0.75, 0.76, 0.77, 0.78]
    diagnosis = diagnose(history([0.70] * 10 + [0.72] * 10, val, accuracy=[0.5] * 10))
    assert diagnosis.regime != "overfitting"
    assert diagnosis.regime == "underfitting"


def test_one_metric_drop_alone_is_not_erratic():
    accuracy = [0.55, 0.70, 0.74, 0.76, 0.64, 0.78, 0.79, 0.80, 0.80, 0.81]  # one 12-point dip
    diagnosis = diagnose(history(decay(0.7, 0.3, 20), decay(0.68, 0.40, 10), accuracy=accuracy))
    assert diagnosis.regime == "good fit"
    assert diagnosis.stats["metric_drops"] == 1


def test_diverged_run_is_erratic_with_the_step():
    train = [0.7, 0.69, 2.5, float("nan"), float("nan")]
    diagnosis = diagnose(history(train, [0.69, float("nan"), float("nan")]))
    assert diagnosis.regime == "erratic"
    assert "NaN or infinite at step 40" in diagnosis.evidence[0]


def test_thresholds_can_be_changed():
    strict = Thresholds(overfit_val_rise=0.05)
    val = [0.66, 0.55, 0.48, 0.45, 0.44, 0.44, 0.45, 0.46, 0.47, 0.475]
    assert diagnose(history(decay(0.69, 0.2, 20), val), thresholds=strict).regime == "overfitting"


def test_diagnosis_does_not_need_a_metric():
    entries = [{k: v for k, v in e.items() if k != "eval_accuracy"} for e in GOOD]
    diagnosis = diagnose(entries)
    assert diagnosis.regime == "good fit"
    assert not any("validation accuracy" in line for line in diagnosis.evidence)


@pytest.mark.parametrize(
    "log_history, message",
    [
        ([], "log_history is empty: pass trainer.state.log_history after trainer.train()"),
        ([e for e in GOOD if "eval_loss" not in e], 'no evaluation entries .* eval_strategy="steps"'),
        ([e for e in GOOD if "loss" not in e], "no training-loss entries .* logging_steps"),
        (
            history([0.7, 0.6, 0.5], [0.7, 0.6]),
            "2 evaluation\\(s\\); a curve needs at least 3: make eval_steps smaller",
        ),
        (history([0.7, 0.6], [0.7, 0.6, 0.5]), "2 training-loss entries; .* make logging_steps smaller"),
        ("loss", "must be a list of dicts"),
        ([1, 2, 3], r"log_history\[0\] is a int, not a dict"),
        ([{"loss": 0.5}], "has no 'step'"),
    ],
)
def test_bad_input_says_how_to_fix_it(log_history, message):
    with pytest.raises(ValueError, match=message):
        diagnose(log_history)


def test_unknown_metric_lists_the_ones_logged():
    with pytest.raises(ValueError, match=r"no validation metric 'f1' in log_history; found \['accuracy'\]"):
        diagnose(GOOD, metric="f1")
    with pytest.raises(ValueError, match="no validation metric 'f1'"):
        plot_learning_curves(GOOD, metric="f1")


def test_log_tables_split_train_and_eval_by_step():
    tables = log_tables(GOOD)
    assert list(tables.train.columns) == ["step", "epoch", "loss", "learning_rate", "grad_norm"]
    assert list(tables.eval.columns) == ["step", "epoch", "loss", "accuracy"]
    assert tables.train["step"].tolist() == list(range(10, 210, 10))
    assert tables.eval["step"].tolist() == list(range(20, 220, 20))
    assert len(tables.train) == 20 and len(tables.eval) == 10  # the closing summary entry is dropped
    assert tables.eval["loss"].iloc[0] == pytest.approx(0.68)


def test_log_tables_of_a_history_without_evaluation():
    tables = log_tables([e for e in GOOD if "eval_loss" not in e])
    assert len(tables.eval) == 0 and list(tables.eval.columns) == ["step", "epoch", "loss"]
    assert len(tables.train) == 20


def test_plot_has_loss_and_metric_panels():
    fig = plot_learning_curves(GOOD, title="good fit")
    assert isinstance(fig, Figure)
    ax_loss, ax_metric = fig.axes
    assert [line.get_label() for line in ax_loss.get_lines()] == ["training loss", "validation loss"]
    assert ax_loss.get_lines()[1].get_xdata().tolist() == list(range(20, 220, 20))
    assert ax_metric.get_ylabel() == "validation accuracy"
    assert ax_loss.get_title() == "good fit"


def test_plot_without_a_metric_draws_the_loss_panel_alone():
    entries = [{k: v for k, v in e.items() if k != "eval_accuracy"} for e in GOOD]
    fig = plot_learning_curves(entries)
    assert len(fig.axes) == 1
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["training loss", "validation loss"]


def test_plot_refuses_a_history_without_evaluation():
    with pytest.raises(ValueError, match="eval_strategy"):
        plot_learning_curves([e for e in GOOD if "eval_loss" not in e])


def test_compare_puts_runs_side_by_side():
    fig = compare_learning_curves({"good": GOOD, "over": OVER, "erratic": ERRATIC_ZIGZAG}, metric="eval_accuracy")
    assert len(fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:3]] == ["good", "over", "erratic"]
    loss_axes, metric_axes = fig.axes[:3], fig.axes[3:]
    assert len({ax.get_ylim() for ax in metric_axes}) == 1  # one scale for the metric
    for ax, history in zip(loss_axes, [GOOD, OVER, ERRATIC_ZIGZAG]):  # every loss point is inside its own panel
        highest = max(row[key] for row in history for key in ("loss", "eval_loss") if key in row)
        assert ax.get_ylim()[1] >= highest
    with pytest.raises(ValueError, match="no runs to compare"):
        compare_learning_curves({})
