"""F1, written for this course: the harmonic mean of precision and recall.

How to load it offline, and what ``average`` means: :mod:`utils.evaluate_modules.label_metric`.
"""

from utils.evaluate_modules import label_metric


class F1(label_metric.AveragedLabelMetric):
    """F1 over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    key = "f1"
    definition = "F1 is the harmonic mean of precision and recall: F1 = 2 * precision * recall / (precision + recall)."
    example = "0.666..."
