"""Measuring bias: the Word Embedding Association Test (WEAT) and counting words in generated text.

WEAT (Caliskan, Bryson & Narayanan, Science 2017) asks whether two sets of *target* vectors
X and Y (e.g. career words, family words) differ in how close they are to two sets of *attribute*
vectors A and B (e.g. male names, female names)::

    s(w, A, B) = mean cos(w, a) - mean cos(w, b)          (one number per target w)
    effect size d = (mean s(x) - mean s(y)) / std s(w over X and Y)
    p-value = share of re-partitions of X and Y into sets of the same sizes whose
              sum s(x) - sum s(y) is at least the observed one (one-sided)

``d`` is a standardised difference (like Cohen's d): about 0.2 is small, 0.8 large, 2 is the
maximum for equal set sizes. The p-value says how often a random split of the targets would
give an association at least as strong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, combinations

import numpy as np

EXACT_PARTITION_LIMIT = 20_000  # enumerate every partition when there are at most this many


@dataclass(frozen=True)
class WeatResult:
    """What :func:`weat` measured: effect size, one-sided p-value and how the p-value was obtained."""

    effect_size: float
    p_value: float
    n_partitions: int  # partitions the p-value was computed over
    exact: bool  # True: every partition was enumerated; False: random permutations


def _matrix(vectors: object, name: str) -> np.ndarray:
    """``vectors`` as a float64 array of shape (n, dim); raises ValueError if that is impossible."""
    try:
        array = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 2-D array of numbers (n vectors x dim): {error}") from None
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n vectors x dim), got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: each set needs at least one vector")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    norms = np.linalg.norm(array, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{name} contains a zero vector: cosine similarity is undefined for it")
    return array / norms[:, None]


def _sets(X: object, Y: object, A: object, B: object) -> tuple[np.ndarray, ...]:
    matrices = tuple(_matrix(v, n) for v, n in ((X, "X"), (Y, "Y"), (A, "A"), (B, "B")))
    dims = {name: m.shape[1] for name, m in zip("XYAB", matrices)}
    if len(set(dims.values())) != 1:
        raise ValueError(f"all vectors must have the same dimension, got {dims}")
    return matrices


def association(W: object, A: object, B: object) -> np.ndarray:
    """``s(w, A, B)`` for each row ``w`` of ``W``: mean cosine to ``A`` minus mean cosine to ``B``.

    Returns a 1-D array with one value per row of ``W``, each in [-2, 2].
    Raises ValueError for empty sets, non 2-D input, zero vectors, NaN or mismatched dimensions.
    """
    W_, A_, B_ = (_matrix(v, n) for v, n in ((W, "W"), (A, "A"), (B, "B")))
    if not W_.shape[1] == A_.shape[1] == B_.shape[1]:
        raise ValueError(
            f"all vectors must have the same dimension, got W {W_.shape[1]}, A {A_.shape[1]}, B {B_.shape[1]}"
        )
    return (W_ @ A_.T).mean(axis=1) - (W_ @ B_.T).mean(axis=1)


def _effect_size(s_x: np.ndarray, s_y: np.ndarray) -> float:
    spread = np.concatenate([s_x, s_y]).std(ddof=1)
    if not spread > 0:
        raise ValueError("every target has the same association: the effect size is undefined")
    return float((s_x.mean() - s_y.mean()) / spread)


def weat_effect_size(X: object, Y: object, A: object, B: object) -> float:
    """WEAT effect size ``d`` of targets X vs Y on attributes A vs B (positive: X is closer to A).

    Returns a float in [-2, 2] for equal set sizes. Raises ValueError for bad input (see
    :func:`association`), when X and Y hold fewer than three vectors together, or when all
    associations are equal (zero spread).
    """
    X_, Y_, A_, B_ = _sets(X, Y, A, B)
    if len(X_) + len(Y_) < 3:
        raise ValueError("X and Y need at least three vectors together to estimate a spread")
    return _effect_size(association(X_, A_, B_), association(Y_, A_, B_))


def weat_p_value(
    X: object, Y: object, A: object, B: object, n_permutations: int = 10_000, seed: int = 0
) -> tuple[float, int, bool]:
    """One-sided permutation p-value of the WEAT statistic ``sum s(x) - sum s(y)``.

    When the number of ways to split X and Y into sets of their sizes is at most
    ``max(n_permutations, EXACT_PARTITION_LIMIT)``, every split is enumerated and the p-value is exact
    (the observed split counts, so it is never 0). Otherwise ``n_permutations`` random splits (seeded)
    are drawn and p = (k + 1) / (n + 1). Returns ``(p_value, partitions used, exact)``.
    Raises ValueError for bad input or ``n_permutations < 1``.
    """
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    X_, Y_, A_, B_ = _sets(X, Y, A, B)
    scores = np.concatenate([association(X_, A_, B_), association(Y_, A_, B_)])
    n_x, total = len(X_), scores.sum()
    observed = 2 * scores[:n_x].sum() - total  # sum over X minus sum over Y
    tolerance = 1e-12 * max(1.0, abs(observed))  # ties (the observed split itself) count as "at least"
    n_splits = math.comb(len(scores), n_x)
    if n_splits <= max(n_permutations, EXACT_PARTITION_LIMIT):
        groups = np.fromiter(
            chain.from_iterable(combinations(range(len(scores)), n_x)), dtype=np.intp, count=n_splits * n_x
        ).reshape(n_splits, n_x)
        statistics = 2 * scores[groups].sum(axis=1) - total
        return float(np.mean(statistics >= observed - tolerance)), n_splits, True
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((n_permutations, len(scores))), axis=1)[:, :n_x]
    statistics = 2 * scores[order].sum(axis=1) - total
    hits = int(np.sum(statistics >= observed - tolerance))
    return (hits + 1) / (n_permutations + 1), n_permutations, False


def weat(X: object, Y: object, A: object, B: object, n_permutations: int = 10_000, seed: int = 0) -> WeatResult:
    """Effect size and permutation p-value together (see :func:`weat_effect_size`, :func:`weat_p_value`)."""
    effect = weat_effect_size(X, Y, A, B)
    p_value, n_partitions, exact = weat_p_value(X, Y, A, B, n_permutations=n_permutations, seed=seed)
    return WeatResult(effect_size=effect, p_value=p_value, n_partitions=n_partitions, exact=exact)


def weat_statistic(X: object, Y: object, A: object, B: object) -> float:
    """The unstandardised WEAT difference ``mean s(x) - mean s(y)`` (in units of cosine similarity).

    Unlike the effect size it is not divided by the spread, so it shrinks when A and B are mixed.
    Raises ValueError for bad input (see :func:`association`).
    """
    X_, Y_, A_, B_ = _sets(X, Y, A, B)
    return float(association(X_, A_, B_).mean() - association(Y_, A_, B_).mean())


def attribute_split_statistics(
    X: object, Y: object, A: object, B: object, n_splits: int = 1000, seed: int = 0
) -> np.ndarray:
    """:func:`weat_statistic` when the attribute vectors A and B are pooled and re-split at random (seeded).

    The WEAT p-value re-splits the *targets* only: it cannot tell whether the attribute split
    (e.g. male vs female names) matters or whether any two sets of names would do. The share of
    random attribute splits whose statistic reaches the observed one answers that. Each split keeps
    the sizes of A and B. (The effect size is a poor choice here: dividing by the spread makes a
    half-mixed split look as strong as the real one.)
    Returns a 1-D array of ``n_splits`` statistics. Raises ValueError for bad input or ``n_splits < 1``.
    """
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    X_, Y_, A_, B_ = _sets(X, Y, A, B)
    pooled = np.concatenate([A_, B_])
    targets = np.concatenate([X_, Y_])
    # cosine of every target with every attribute, computed once; a split only picks columns
    cosines = targets @ pooled.T
    sign = np.where(np.arange(len(targets)) < len(X_), 1 / len(X_), -1 / len(Y_))
    rng = np.random.default_rng(seed)
    statistics = np.empty(n_splits)
    for i in range(n_splits):
        order = rng.permutation(len(pooled))
        s = cosines[:, order[: len(A_)]].mean(axis=1) - cosines[:, order[len(A_) :]].mean(axis=1)
        statistics[i] = float(sign @ s)
    return statistics


# --- counting words in generated text -----------------------------------------------------------

PRONOUNS: dict[str, tuple[str, ...]] = {
    "he": ("he", "him", "his", "himself"),
    "she": ("she", "her", "hers", "herself"),
    "they": ("they", "them", "their", "theirs", "themselves", "themself"),
}

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (letters and inner apostrophes; "he's" stays one word)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def first_group(text: str, groups: Mapping[str, Sequence[str]] = PRONOUNS) -> str | None:
    """The name of the group whose word comes first in ``text``, or None if no group word occurs.

    ``groups`` maps a name to its words (default :data:`PRONOUNS`: he / she / they). A word followed
    by an apostrophe suffix counts as the word ("she's" counts as "she").
    Raises ValueError if a word belongs to two groups.
    """
    lookup: dict[str, str] = {}
    for name, members in groups.items():
        for member in members:
            member = member.lower()
            if member in lookup and lookup[member] != name:
                raise ValueError(f"word {member!r} is in two groups: {lookup[member]!r} and {name!r}")
            lookup[member] = name
    for word in words(text):
        stem = word.split("'")[0]
        if stem in lookup:
            return lookup[stem]
    return None


def count_first_groups(
    texts: Iterable[str], groups: Mapping[str, Sequence[str]] = PRONOUNS, none_label: str = "none"
) -> dict[str, int]:
    """How many ``texts`` have each group as their first group word (see :func:`first_group`).

    Returns a dict with every group name plus ``none_label`` (texts with no group word), in that order,
    so that tables built from several calls have the same columns.
    """
    counts = {name: 0 for name in groups}
    counts[none_label] = 0
    for text in texts:
        counts[first_group(text, groups) or none_label] += 1
    return counts
