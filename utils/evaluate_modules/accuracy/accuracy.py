"""Accuracy, written for this course: the share of predictions equal to their reference.

Loads offline (no hub download)::

    import evaluate
    from utils.evaluate_modules import module_path

    accuracy = evaluate.load(module_path("accuracy"))
    accuracy.compute(predictions=[0, 1, 1], references=[0, 1, 0])  # {'accuracy': 0.666...}

The arithmetic is :func:`utils.metrics.accuracy` (tested against scikit-learn in tests/test_evaluate_modules.py).
"""

import evaluate
from utils import metrics
from utils.evaluate_modules import label_metric

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among all predictions:
accuracy = (number of predictions equal to their reference) / (number of predictions).
It ranges from 0.0 to 1.0. With imbalanced classes a high accuracy can hide a poor minority class:
look at per-class precision, recall and F1 too.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted label ids.
    references (`list` of `int`): gold label ids, as many as predictions.
    normalize (`bool`, default True): return the share of correct predictions; False returns their count.
Returns:
    accuracy (`float` or `int`): the share (or, with normalize=False, the number) of correct predictions.
Raises:
    ValueError: when predictions and references are empty or differ in length.
Example:
    >>> accuracy = evaluate.load(module_path("accuracy"))
    >>> accuracy.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'accuracy': 0.75}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Accuracy over integer label ids (an Evaluate module written by this project)."""

    def _info(self):
        return label_metric.label_metric_info(_DESCRIPTION, _KWARGS_DESCRIPTION,
                                              f"{label_metric.SKLEARN_DOCS}#accuracy-score")

    def _compute(self, predictions, references, normalize=True):
        share = metrics.accuracy(predictions, references)
        return {"accuracy": share if normalize else round(share * len(references))}
