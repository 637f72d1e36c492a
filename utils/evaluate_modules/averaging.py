"""Averaging of per-class precision, recall and F1, shared by the ``precision``, ``recall`` and ``f1`` modules.

The per-class arithmetic is :func:`utils.metrics.precision_recall_f1`; this module only decides which
classes to score and how to combine them, with scikit-learn's meaning of ``average``:

- ``"binary"``: the score of ``pos_label`` alone (inputs may hold at most two distinct labels);
- ``"macro"``: the unweighted mean over the classes;
- ``"weighted"``: the mean weighted by each class's number of references (its *support*);
- ``"micro"``: counts pooled over the classes (for single-label data this equals accuracy);
- ``None``: one score per class, as a list in the order of ``labels``.

A ratio with a zero denominator counts as 0.0 (scikit-learn's ``zero_division`` default).
"""

from __future__ import annotations

from collections.abc import Sequence

from utils import metrics

AVERAGES = ("binary", "macro", "micro", "weighted", None)


def averaged_score(
    key: str,
    predictions: Sequence[int],
    references: Sequence[int],
    *,
    average: str | None = "binary",
    pos_label: int = 1,
    labels: Sequence[int] | None = None,
) -> float | list[float]:
    """``key`` ("precision", "recall" or "f1") averaged as ``average`` says.

    ``labels`` chooses the classes to score (default: every label seen in predictions or references, sorted).
    Raises ValueError for an unknown ``key`` or ``average``, unequal or empty inputs, more than two labels
    with ``average="binary"``, or ``labels`` that is empty.
    """
    if key not in ("precision", "recall", "f1"):
        raise ValueError(f"key must be 'precision', 'recall' or 'f1', not {key!r}")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, not {average!r}")
    predictions, references = [int(p) for p in predictions], [int(r) for r in references]
    seen = sorted(set(predictions) | set(references))
    if average == "binary":
        if len(seen) > 2:
            raise ValueError(
                f"average='binary' needs at most two distinct labels, got {len(seen)} ({seen}); "
                "choose average='macro', 'micro' or 'weighted' for multi-class data"
            )
        return metrics.precision_recall_f1(predictions, references, positive=pos_label)[key]
    labels = seen if labels is None else [int(label) for label in labels]
    if not labels:
        raise ValueError("labels must name at least one class")
    if average == "micro":
        return _micro(key, predictions, references, labels)
    scores = [metrics.precision_recall_f1(predictions, references, positive=label)[key] for label in labels]
    if average is None:
        return scores
    if average == "macro":
        return sum(scores) / len(scores)
    support = [sum(1 for r in references if r == label) for label in labels]
    return sum(s * n for s, n in zip(scores, support)) / sum(support) if sum(support) else 0.0


def _micro(key: str, predictions: list[int], references: list[int], labels: list[int]) -> float:
    """Precision/recall/F1 from true positives, false positives and false negatives pooled over ``labels``."""
    chosen = set(labels)
    tp = sum(1 for p, r in zip(predictions, references) if p == r and p in chosen)
    fp = sum(1 for p, r in zip(predictions, references) if p != r and p in chosen)
    fn = sum(1 for p, r in zip(predictions, references) if p != r and r in chosen)
    return metrics.ratios_from_counts(tp, fp, fn)[key]
