"""Statistics for results: intervals for proportions and paired comparisons of two methods on the same items.

A lesson helper: notebook 20 writes each function where it is first needed (section "Statistics that hold"), and
``tests/test_stats.py`` proves these copies equal to the notebook's cells and to scipy on random inputs. Later
notebooks import them from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``successes / n``.

    Unlike the normal approximation or a percentile bootstrap, it does not collapse to a point at 0 or ``n``
    successes, and it stays inside [0, 1]. Raises ValueError for ``n < 1`` or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval needs 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    z = NormalDist().inv_cdf((1 + level) / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> tuple[int, int, float]:
    """Exact McNemar test of two methods scored right (True) or wrong on the same items.

    Returns ``(only_a, only_b, p)``: the items only ``a`` got right, the items only ``b`` got right, and the
    two-sided p-value of "both methods are equally good" (a binomial test of ``only_a`` out of the discordant items
    at one half). Items both get right or both get wrong say nothing about which is better. Raises ValueError when
    the two lists differ in length.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar_exact compares two methods on the same items: got {a.shape} and {b.shape} results")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        return only_a, only_b, 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return only_a, only_b, min(1.0, 2 * tail)


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], n_resamples: int = 10_000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean difference ``mean(a) - mean(b)`` over the same items, with a percentile bootstrap interval.

    The items are resampled as pairs (one index draws both methods' scores), so what the two methods share, the
    items' difficulty, cancels. Returns ``(difference, low, high)``. Raises ValueError when the lengths differ.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap compares two methods on the same items: got {a.shape} and {b.shape}")
    differences = a - b
    indices = np.random.default_rng(seed).integers(0, len(differences), size=(n_resamples, len(differences)))
    means = differences[indices].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(differences.mean()), float(low), float(high)
