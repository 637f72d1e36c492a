"""pass@k: the chance that at least one of k sampled programs passes, estimated from n samples of which c passed.

The unbiased estimator (Chen et al. 2021, the HumanEval paper) is ``1 - C(n-c, k) / C(n, k)``: the share of the
k-subsets of the n samples that contain at least one passing program. It is computed as the product
``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which equals the ratio of binomial coefficients but never forms them (they
overflow a float for n in the hundreds). The naive ``1 - (1 - c/n)^k`` plugs the observed pass rate into the formula
for independent draws: its average over repeated experiments is below the true pass@k (Jensen's inequality), so it
underestimates, most for small n and large k.
"""

from __future__ import annotations

from collections.abc import Iterable


def _check(n: int, c: int, k: int) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, c, k)):
        raise TypeError(f"n, c and k must be integers, got n={n!r}, c={c!r}, k={k!r}")
    if not 0 <= c <= n:
        raise ValueError(f"c (passing samples) must be between 0 and n={n}, got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n} (the samples drawn), got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from ``n`` samples with ``c`` passing, a float in [0, 1].

    Raises TypeError for non-integers and ValueError unless 0 <= c <= n and 1 <= k <= n.
    """
    _check(n, c, k)
    if n - c < k:  # every k-subset holds a passing sample
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def naive_pass_at_k(n: int, c: int, k: int) -> float:
    """The biased plug-in estimate ``1 - (1 - c/n)^k`` (same arguments and errors as :func:`pass_at_k`)."""
    _check(n, c, k)
    return 1.0 - (1.0 - c / n) ** k


def mean_pass_at_k(samples: Iterable[tuple[int, int]], k: int) -> float:
    """pass@k of a benchmark: the mean of :func:`pass_at_k` over problems given as ``(n, c)`` pairs.

    Raises ValueError for an empty benchmark (and as :func:`pass_at_k` for a bad pair).
    """
    values = [pass_at_k(n, c, k) for n, c in samples]
    if not values:
        raise ValueError("no problems: pass@k of an empty benchmark is undefined")
    return sum(values) / len(values)
