"""F1, written for this course: the harmonic mean of precision and recall: F1 = 2 * precision * recall / (precision + recall).

Loads offline (no hub download)::

    import evaluate
    from utils.evaluate_modules import module_path

    f1 = evaluate.load(module_path("f1"))
    f1.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])  # {'f1': 0.666...}

Per-class counts come from :func:`utils.metrics.precision_recall_f1`; averaging over classes
(`average=` "binary", "macro", "micro", "weighted" or None) from :mod:`utils.evaluate_modules.averaging`,
with scikit-learn's meaning (tested against scikit-learn in tests/test_evaluate_modules.py).
The Metric class itself is shared with recall/precision/f1: :mod:`utils.evaluate_modules.label_metric`.
"""

import evaluate
from utils.evaluate_modules import label_metric

_DESCRIPTION, _KWARGS_DESCRIPTION = label_metric.describe_averaged(
    "f1", "F1 is the harmonic mean of precision and recall: F1 = 2 * precision * recall / (precision + recall).", "0.666...")


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(label_metric.AveragedLabelMetric):
    """F1 over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    key = "f1"
    texts = _DESCRIPTION, _KWARGS_DESCRIPTION
