"""Recall, written for this course: the share of real positives that are found: recall = TP / (TP + FN).

Loads offline (no hub download)::

    import evaluate
    from utils.evaluate_modules import module_path

    recall = evaluate.load(module_path("recall"))
    recall.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])  # {'recall': 1.0}

Per-class counts come from :func:`utils.metrics.precision_recall_f1`; averaging over classes
(`average=` "binary", "macro", "micro", "weighted" or None) from :mod:`utils.evaluate_modules.averaging`,
with scikit-learn's meaning (tested against scikit-learn in tests/test_evaluate_modules.py).
"""

import datasets
import evaluate
from utils.evaluate_modules import averaging

_DESCRIPTION = """
Recall is the share of real positives that are found: recall = TP / (TP + FN).
TP, FP and FN count true positives, false positives and false negatives of one class.
It ranges from 0.0 to 1.0; a ratio with a zero denominator counts as 0.0.
For more than two classes, choose how to combine the per-class scores with `average`.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted label ids.
    references (`list` of `int`): gold label ids, as many as predictions.
    average (`str` or None, default "binary"): "binary" scores the class `pos_label` alone (at most two
        distinct labels allowed); "macro" is the unweighted mean over classes; "weighted" weights each class
        by its number of references; "micro" pools the counts of all classes; None returns one score per class.
    pos_label (`int`, default 1): the positive class for average="binary".
    labels (`list` of `int`, optional): the classes to score for the other averages (default: every
        label seen in predictions or references, sorted).
Returns:
    recall (`float`, or a `list` of `float` with average=None).
Raises:
    ValueError: on empty or unequal inputs, an unknown `average`, or more than two labels with "binary".
Example:
    >>> recall = evaluate.load(module_path("recall"))
    >>> recall.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])
    {'recall': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Recall(evaluate.Metric):
    """Recall over integer label ids, binary or averaged over classes (an Evaluate module written by this project)."""

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/model_evaluation.html#precision-recall-f-measure-metrics"],
        )

    def _compute(self, predictions, references, average="binary", pos_label=1, labels=None):
        return {"recall": averaging.averaged_score("recall", predictions, references, average=average,
                                                   pos_label=pos_label, labels=labels)}
