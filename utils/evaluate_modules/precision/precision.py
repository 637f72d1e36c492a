"""Precision, written for this course: the share of predicted positives that are right.

How to load it offline, and what ``average`` means: :mod:`utils.evaluate_modules.label_metric`.
"""

from utils.evaluate_modules import label_metric


class Precision(label_metric.AveragedLabelMetric):
    """Precision over integer label ids, binary or averaged over classes (an Evaluate module of this project)."""

    key = "precision"
    definition = "Precision is the share of predicted positives that are right: precision = TP / (TP + FP)."
    example = "0.5"
