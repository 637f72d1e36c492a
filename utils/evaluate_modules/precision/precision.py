"""Precision, written for this course: the share of predicted positives that are right: precision = TP / (TP + FP).

Loads offline (no hub download)::

    import evaluate
    from utils.evaluate_modules import module_path

    precision = evaluate.load(module_path("precision"))
    precision.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])  # {'precision': 0.5}

Per-class counts come from :func:`utils.metrics.precision_recall_f1`; averaging over classes
(`average=` "binary", "macro", "micro", "weighted" or None) from :mod:`utils.evaluate_modules.averaging`,
with scikit-learn's meaning (tested against scikit-learn in tests/test_evaluate_modules.py).
The Metric class itself is shared with recall/precision/f1: :mod:`utils.evaluate_modules.label_metric`.
"""

import evaluate
from utils.evaluate_modules import label_metric

_DESCRIPTION, _KWARGS_DESCRIPTION = label_metric.describe_averaged(
    "precision", "Precision is the share of predicted positives that are right: precision = TP / (TP + FP).", "0.5")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Precision(label_metric.AveragedLabelMetric):
    """Precision over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    key = "precision"
    texts = _DESCRIPTION, _KWARGS_DESCRIPTION
