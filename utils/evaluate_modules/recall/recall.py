"""Recall, written for this course: the share of real positives that are found: recall = TP / (TP + FN).

Loads offline (no hub download)::

    import evaluate
    from utils.evaluate_modules import module_path

    recall = evaluate.load(module_path("recall"))
    recall.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])  # {'recall': 1.0}

Per-class counts come from :func:`utils.metrics.precision_recall_f1`; averaging over classes
(`average=` "binary", "macro", "micro", "weighted" or None) from :mod:`utils.evaluate_modules.averaging`,
with scikit-learn's meaning (tested against scikit-learn in tests/test_evaluate_modules.py).
The Metric class itself is shared with recall/precision/f1: :mod:`utils.evaluate_modules.label_metric`.
"""

import evaluate
from utils.evaluate_modules import label_metric

_DESCRIPTION, _KWARGS_DESCRIPTION = label_metric.describe_averaged(
    "recall", "Recall is the share of real positives that are found: recall = TP / (TP + FN).", "1.0")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Recall(label_metric.AveragedLabelMetric):
    """Recall over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    key = "recall"
    texts = _DESCRIPTION, _KWARGS_DESCRIPTION
