"""Simple baselines and decision helpers for the task notebooks (13 emotion, 14 toxicity).

A task notebook fine-tunes a transformer and compares it with a baseline trained in the same notebook:
TF-IDF features and a logistic regression (scikit-learn). This module builds that baseline, picks a
decision threshold from a precision-recall curve, and measures false positive rates per group
(the fairness probe of notebook 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def tfidf_logreg(
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    ngram_range: tuple[int, int] = (1, 2),
    analyzer: str = "word",
    min_df: int = 1,
    sublinear_tf: bool = True,
    C: float = 10.0,
    class_weight: str | dict | None = None,
    max_iter: int = 2000,
):
    """A fitted scikit-learn ``Pipeline``: ``TfidfVectorizer`` then ``LogisticRegression``.

    Features are word n-grams by default; ``analyzer="char_wb"`` uses character n-grams inside words.

    ``predict`` gives label ids, ``predict_proba`` one column per label id (in sorted order).
    ``class_weight="balanced"`` weighs each class by the inverse of its frequency.
    Raises ValueError when texts and labels differ in length, when there are no texts, when a text is
    not a string, or when the labels hold fewer than two classes.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    texts, labels = list(texts), [int(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if not texts:
        raise ValueError("cannot fit a baseline on no texts")
    bad = next((i for i, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise ValueError(f"texts must be strings; item {bad} is {type(texts[bad]).__name__}")
    if len(set(labels)) < 2:
        raise ValueError(f"a classifier needs at least two classes, got only {sorted(set(labels))}")
    pipeline = Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(ngram_range=ngram_range, analyzer=analyzer, min_df=min_df, sublinear_tf=sublinear_tf),
            ),
            ("logreg", LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter)),
        ]
    )
    return pipeline.fit(texts, labels)


@dataclass(frozen=True)
class ThresholdChoice:
    """A decision threshold on a positive-class score and what it gives on the data it was chosen on."""

    threshold: float
    precision: float
    recall: float
    f1: float


def choose_threshold(
    references: Sequence[int], scores: Sequence[float], *, min_precision: float | None = None
) -> ThresholdChoice:
    """Pick a threshold from the precision-recall curve of ``scores`` (predict positive when score >= threshold).

    By default the threshold with the best F1 of the positive class (label 1); with ``min_precision``,
    the one with the highest recall among those whose precision reaches ``min_precision`` (ties: the
    higher precision, then the higher threshold). Choose it on validation data, then apply it unchanged
    to the test split.
    Raises ValueError for inputs of different lengths, no input, labels other than 0/1, no positive
    example, a ``min_precision`` outside (0, 1], or a precision target that no threshold reaches.
    """
    from sklearn.metrics import precision_recall_curve

    y, s = np.asarray(references), np.asarray(scores, dtype=float)
    if len(y) != len(s):
        raise ValueError(f"references ({len(y)}) and scores ({len(s)}) differ in length")
    if len(y) == 0:
        raise ValueError("cannot choose a threshold from no examples")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"references must be 0/1 labels, got {sorted(np.unique(y).tolist())}")
    if not y.any():
        raise ValueError("no positive example (label 1): a precision-recall curve needs at least one")
    if min_precision is not None and not 0 < min_precision <= 1:
        raise ValueError(f"min_precision must be in (0, 1], got {min_precision}")
    precision, recall, thresholds = precision_recall_curve(y, s)
    precision, recall = precision[:-1], recall[:-1]  # the last point (recall 0) has no threshold
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    if min_precision is None:
        keys = (thresholds, f1)  # lexsort: last key first; best F1, then the higher threshold
    else:
        allowed = precision >= min_precision
        if not allowed.any():
            raise ValueError(f"no threshold reaches precision {min_precision} (best is {precision.max():.3f})")
        keys = (thresholds, precision, np.where(allowed, recall, -1.0))
    best = np.lexsort(keys)[-1]
    return ThresholdChoice(float(thresholds[best]), float(precision[best]), float(recall[best]), float(f1[best]))


def false_positive_rates(references: Sequence[int], predictions: Sequence[int], groups: Sequence[str]):
    """False positive rate per group, over the negative examples (label 0) only.

    Returns a pandas DataFrame indexed by group (sorted) with columns ``negatives`` (how many label-0
    examples the group has), ``false_positives`` (how many of them were predicted 1) and ``fpr``
    (their ratio). Groups without a negative example are left out.
    Raises ValueError when the three inputs differ in length, are empty, or hold labels other than 0/1,
    or when there is no negative example at all.
    """
    import pandas as pd

    y, p, g = np.asarray(references), np.asarray(predictions), np.asarray(groups, dtype=object)
    if not len(y) == len(p) == len(g):
        raise ValueError(f"references ({len(y)}), predictions ({len(p)}) and groups ({len(g)}) differ in length")
    if len(y) == 0:
        raise ValueError("cannot measure false positive rates on no examples")
    for name, values in (("references", y), ("predictions", p)):
        if not set(np.unique(values).tolist()) <= {0, 1}:
            raise ValueError(f"{name} must be 0/1 labels, got {sorted(np.unique(values).tolist())}")
    negative = y == 0
    if not negative.any():
        raise ValueError("no negative example (label 0): a false positive rate is undefined")
    frame = pd.DataFrame({"group": g[negative], "fp": p[negative] == 1})
    table = frame.groupby("group", sort=True)["fp"].agg(negatives="size", false_positives="sum")
    table["false_positives"] = table["false_positives"].astype(int)
    table["fpr"] = table["false_positives"] / table["negatives"]
    return table
