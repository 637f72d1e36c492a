"""Classification metrics written for this course (no downloads): accuracy, per-class and macro F1.

These are plain functions over label ids; the Evaluate modules of the fine-tuning notebooks and
the stand-in builder both call them, so every figure in the course is computed the same way.
"""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    """Share of predictions equal to the reference. Raises ValueError on empty or unequal inputs."""
    _check(predictions, references)
    return sum(int(p == r) for p, r in zip(predictions, references)) / len(references)


def precision_recall_f1(predictions: Sequence[int], references: Sequence[int], positive: int) -> dict[str, float]:
    """Precision, recall and F1 of one class (0.0 where a ratio has a zero denominator)."""
    _check(predictions, references)
    tp = sum(1 for p, r in zip(predictions, references) if p == positive and r == positive)
    fp = sum(1 for p, r in zip(predictions, references) if p == positive and r != positive)
    fn = sum(1 for p, r in zip(predictions, references) if p != positive and r == positive)
    return ratios_from_counts(tp, fp, fn)


def ratios_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from true positives, false positives and false negatives (0.0 for 0/0)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def macro_f1(predictions: Sequence[int], references: Sequence[int], labels: Sequence[int]) -> float:
    """Unweighted mean of the per-class F1 over ``labels``."""
    return sum(precision_recall_f1(predictions, references, label)["f1"] for label in labels) / len(labels)


def _check(predictions: Sequence[int], references: Sequence[int]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"predictions ({len(predictions)}) and references ({len(references)}) differ in length")
    if not references:
        raise ValueError("cannot score an empty set of predictions")


# --- extractive QA (SQuAD-style) ---------------------------------------------------------------

_ARTICLES = {"a", "an", "the"}


def normalise_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(word for word in text.split() if word not in _ARTICLES)


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    return float(any(normalise_answer(prediction) == normalise_answer(gold) for gold in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best bag-of-tokens F1 between the normalised prediction and any gold answer."""
    from collections import Counter

    def f1(predicted: str, gold: str) -> float:
        p, g = normalise_answer(predicted).split(), normalise_answer(gold).split()
        if not p or not g:
            return float(p == g)
        common = sum((Counter(p) & Counter(g)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(p), common / len(g)
        return 2 * precision * recall / (precision + recall)

    return max(f1(prediction, gold) for gold in answers)
