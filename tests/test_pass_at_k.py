"""utils.pass_at_k: the product form equals the average over every k-subset, and the naive estimate is biased."""

import itertools
import math
from fractions import Fraction

import pytest

from utils.pass_at_k import mean_pass_at_k, naive_pass_at_k, pass_at_k


def brute_force(n: int, c: int, k: int) -> Fraction:
    """pass@k by definition: the share of the k-subsets of n samples (c passing) that hold at least one pass."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return Fraction(sum(any(s) for s in subsets), len(subsets))


def broken_pass_at_k(n: int, c: int, k: int) -> float:
    """A plausible slip: the product one step off (i from n-c to n-1)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(max(n - c, 1), n))


CASES = [(n, c, k) for n in range(1, 9) for c in range(n + 1) for k in range(1, n + 1)]


@pytest.mark.parametrize(("n", "c", "k"), CASES)
def test_the_estimator_is_the_average_over_all_k_subsets(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(float(brute_force(n, c, k)), abs=1e-12)


def test_the_brute_force_check_catches_an_off_by_one_product():
    wrong = [(n, c, k) for n, c, k in CASES if abs(broken_pass_at_k(n, c, k) - float(brute_force(n, c, k))) > 1e-9]
    assert len(wrong) > len(CASES) // 4


def test_large_n_is_stable_where_the_binomials_overflow_a_float():
    n, c, k = 2000, 3, 500
    with pytest.raises(OverflowError):
        float(math.comb(n, k))
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)
    assert pass_at_k(200, 0, 10) == 0.0 and pass_at_k(200, 200, 10) == 1.0 and pass_at_k(10, 1, 1) == pytest.approx(0.1)


def expected(estimator, n: int, p: float, k: int) -> float:
    """The estimator's mean over repeated experiments: c ~ Binomial(n, p), summed exactly over every c."""
    return sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) * estimator(n, c, k) for c in range(n + 1))


@pytest.mark.parametrize(("n", "p", "k"), [(10, 0.1, 5), (20, 0.05, 10), (5, 0.3, 3), (100, 0.02, 50)])
def test_the_unbiased_estimator_averages_to_the_true_pass_at_k_and_the_naive_one_falls_short(n, p, k):
    truth = 1 - (1 - p) ** k  # k independent samples, each passing with probability p
    assert expected(pass_at_k, n, p, k) == pytest.approx(truth, abs=1e-12)
    naive = expected(naive_pass_at_k, n, p, k)
    assert naive < truth - 0.01, (naive, truth)  # e.g. n=10, p=0.1, k=5: 0.349 against 0.410


def test_simulation_agrees_with_the_exact_expectation():
    import random

    rng = random.Random(0)
    n, p, k, trials = 10, 0.1, 5, 20000
    counts = [sum(rng.random() < p for _ in range(n)) for _ in range(trials)]
    unbiased = sum(pass_at_k(n, c, k) for c in counts) / trials
    naive = sum(naive_pass_at_k(n, c, k) for c in counts) / trials
    truth = 1 - (1 - p) ** k
    assert abs(unbiased - truth) < 0.01 and truth - naive > 0.04


def test_k_equal_one_is_the_pass_rate_for_both():
    for n, c in [(10, 3), (7, 0), (5, 5)]:
        assert pass_at_k(n, c, 1) == pytest.approx(c / n) == naive_pass_at_k(n, c, 1)


def test_a_benchmark_is_the_mean_over_problems():
    assert mean_pass_at_k([(10, 0), (10, 10), (10, 5)], k=1) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="empty benchmark"):
        mean_pass_at_k([], k=1)


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((5, 6, 1), ValueError, r"c \(passing samples\) must be between 0 and n=5, got 6"),
        ((5, 2, 0), ValueError, r"k must be between 1 and n=5 \(the samples drawn\), got 0"),
        ((5, 2, 6), ValueError, r"got 6"),
        ((5.0, 2, 1), TypeError, r"must be integers"),
    ],
)
def test_bad_arguments_say_what_is_wrong(args, error, message):
    with pytest.raises(error, match=message):
        pass_at_k(*args)


def test_the_helper_equals_notebook_21s_estimator():
    """Notebook 21 writes the estimator where pass@k is taught; this helper reuses it, proven equal on every case."""
    import random

    from tests.notebook_code import NOTEBOOKS, run_cells

    cell = run_cells(
        NOTEBOOKS / "21_reasoning_and_rewards.ipynb", ["def pass_at_k(n, c, k)"], {"math": math, "random": random}
    )
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert cell["pass_at_k"](n, c, k) == pytest.approx(pass_at_k(n, c, k), abs=1e-12), (n, c, k)
