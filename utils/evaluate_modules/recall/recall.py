"""Recall, written for this course: the share of real positives that are found.

How to load it offline, and what ``average`` means: :mod:`utils.evaluate_modules.label_metric`.
"""

from utils.evaluate_modules import label_metric


class Recall(label_metric.AveragedLabelMetric):
    """Recall over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    key = "recall"
    definition = "Recall is the share of real positives that are found: recall = TP / (TP + FN)."
    example = "1.0"
