"""What the project's label metrics (accuracy, precision, recall, f1) share: inputs, info, and the averaged compute.

Evaluate loads one ``<name>/<name>.py`` per metric and takes the ``evaluate.Metric`` subclass defined in that file,
so each metric keeps its own small file: a subclass of :class:`AveragedLabelMetric` that states its definition
in words (or a metric of its own using :func:`label_metric_info`). Loading, offline::

    import evaluate
    from utils.evaluate_modules import module_path

    f1 = evaluate.load(module_path("f1"))
    f1.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0], average="binary")  # {'f1': 0.666...}

Averages (``average=`` "binary", "macro", "micro", "weighted" or None) have scikit-learn's meaning; they are
tested against scikit-learn in tests/test_evaluate_modules.py. The arithmetic is :mod:`utils.metrics` and
:mod:`utils.evaluate_modules.averaging`.
"""

from __future__ import annotations

import datasets
import evaluate

from utils.evaluate_modules import averaging

SKLEARN_DOCS = "https://scikit-learn.org/stable/modules/model_evaluation.html"

_AVERAGED_ARGS = """
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
    {key} (`float`, or a `list` of `float` with average=None).
Raises:
    ValueError: on empty or unequal inputs, an unknown `average`, or more than two labels with "binary".
Example:
    >>> {key} = evaluate.load(module_path("{key}"))
    >>> {key}.compute(predictions=[1, 1, 0, 0], references=[1, 0, 0, 0])
    {{'{key}': {example}}}
"""


def describe_averaged(key: str, definition: str, example: str) -> tuple[str, str]:
    """The description and the arguments text of the averaged metric ``key`` (shown by ``evaluate``)."""
    description = (
        f"\n{definition}\nTP, FP and FN count true positives, false positives and false negatives of one "
        "class.\nIt ranges from 0.0 to 1.0; a ratio with a zero denominator counts as 0.0.\n"
        "For more than two classes, choose how to combine the per-class scores with `average`.\n"
    )
    return description, _AVERAGED_ARGS.format(key=key, example=example)


def label_metric_info(description: str, inputs_description: str, reference_url: str) -> evaluate.MetricInfo:
    """The MetricInfo of a metric over integer label ids (``predictions`` and ``references``)."""
    return evaluate.MetricInfo(
        description=description,
        citation="",
        inputs_description=inputs_description,
        features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
        reference_urls=[reference_url],
    )


class AveragedLabelMetric(evaluate.Metric):
    """Precision, recall or F1 (``key``) over integer label ids, binary or averaged over classes.

    A subclass sets ``key``, ``definition`` (one sentence) and ``example`` (the result of the documented example);
    its description, arguments text and docstring are derived from them.
    """

    key = definition = example = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.key not in ("precision", "recall", "f1"):
            raise ValueError(f"{cls.__name__}.key must be 'precision', 'recall' or 'f1', not {cls.key!r}")
        cls.texts = describe_averaged(cls.key, cls.definition, cls.example)
        cls.__doc__ = "".join(cls.texts) + (cls.__doc__ or "")  # what evaluate's add_start_docstrings does

    def _info(self):
        return label_metric_info(*self.texts, f"{SKLEARN_DOCS}#precision-recall-f-measure-metrics")

    def _compute(self, predictions, references, average="binary", pos_label=1, labels=None):
        return {
            self.key: averaging.averaged_score(
                self.key, predictions, references, average=average, pos_label=pos_label, labels=labels
            )
        }
