"""utils.stats, the lesson helper for intervals and paired tests: equal to notebook 20's own cells (where the
statistics are taught) and to scipy on random inputs; each with a deliberately broken variant that must fail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from tests.notebook_code import NOTEBOOKS, run_cells
from utils.stats import mcnemar_exact, paired_bootstrap, wilson_interval

NOTEBOOK_20 = NOTEBOOKS / "20_fine_tuning_an_llm.ipynb"


@pytest.fixture(scope="module")
def notebook():
    from statistics import NormalDist

    import pandas as pd

    return run_cells(
        NOTEBOOK_20,
        ["def wilson_interval", "def mcnemar_exact"],
        {"np": np, "pd": pd, "math": math, "NormalDist": NormalDist},
    )


counts = st.integers(min_value=1, max_value=400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
paired = st.integers(min_value=1, max_value=120).flatmap(
    lambda n: st.tuples(
        st.lists(st.booleans(), min_size=n, max_size=n), st.lists(st.booleans(), min_size=n, max_size=n)
    )
)


@settings(max_examples=200, deadline=None)
@given(counts)
def test_wilson_equals_the_notebook_and_scipy(notebook, case):
    successes, n = case
    mine = wilson_interval(successes, n)
    assert mine == notebook["wilson_interval"](successes, n)
    reference = scipy_stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert mine == pytest.approx((reference.low, reference.high), abs=1e-9)


def test_wilson_does_not_collapse_at_zero_or_n():
    low, high = wilson_interval(0, 80)
    assert low == pytest.approx(0, abs=1e-12) and 0.04 < high < 0.05  # 0 of 80 still allows a rate of a few percent
    low, high = wilson_interval(80, 80)
    assert 0.95 < low < 0.96 and high == pytest.approx(1, abs=1e-12)


def test_a_normal_approximation_interval_would_be_caught():
    def wald(successes, n, z=1.959964):  # the textbook interval the notebook warns against: collapses at 0
        p = successes / n
        half = z * math.sqrt(p * (1 - p) / n)
        return p - half, p + half

    assert wald(0, 80) == (0.0, 0.0)
    assert wald(0, 80) != pytest.approx(wilson_interval(0, 80))


@pytest.mark.parametrize("successes,n", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_rejects_impossible_counts_with_a_clear_message(successes, n):
    with pytest.raises(ValueError, match="0 <= successes <= n and n >= 1"):
        wilson_interval(successes, n)


@settings(max_examples=200, deadline=None)
@given(paired)
def test_mcnemar_equals_the_notebook_and_a_binomial_test(notebook, case):
    a, b = case
    mine = mcnemar_exact(a, b)
    assert mine == notebook["mcnemar_exact"](a, b)
    only_a, only_b, p = mine
    assert only_a == sum(x and not y for x, y in zip(a, b)) and only_b == sum(y and not x for x, y in zip(a, b))
    expected = 1.0 if only_a + only_b == 0 else scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue
    assert p == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_mcnemar_hand_cases():
    # 10 discordant items all won by a: p = 2 / 2**10; concordant items change nothing
    a = [True] * 10 + [True] * 30 + [False] * 40
    b = [False] * 10 + [True] * 30 + [False] * 40
    assert mcnemar_exact(a, b) == (10, 0, pytest.approx(2 / 1024))
    assert mcnemar_exact([True, False], [False, True]) == (1, 1, 1.0)
    assert mcnemar_exact([True] * 5, [True] * 5) == (0, 0, 1.0)


def test_a_mcnemar_that_counts_agreeing_items_would_be_caught():
    def unpaired(a, b):  # wrong: a binomial test on each method's total right, as if the items were unrelated
        right_a, right_b = int(np.sum(a)), int(np.sum(b))
        return right_a, right_b, scipy_stats.binomtest(right_a, right_a + right_b, 0.5).pvalue

    a = [True] * 10 + [True] * 30 + [False] * 40
    b = [False] * 10 + [True] * 30 + [False] * 40
    assert unpaired(a, b)[2] > 0.05  # blind to the 10-0 split that the paired test sees
    assert mcnemar_exact(a, b)[2] < 0.01


def test_mcnemar_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        mcnemar_exact([True, False], [True])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=60), st.integers(0, 2**16))
def test_paired_bootstrap_equals_the_notebook(notebook, values, seed):
    rng = np.random.default_rng(seed)
    other = rng.random(len(values)).tolist()
    mine = paired_bootstrap(values, other, n_resamples=500, seed=seed)
    assert mine == notebook["paired_bootstrap"](values, other, n_resamples=500, seed=seed)
    difference, low, high = mine
    assert low <= difference + 1e-12 and difference <= high + 1e-12
    assert difference == pytest.approx(np.mean(values) - np.mean(other))


def test_paired_bootstrap_sees_a_consistent_small_gain_that_unpaired_intervals_miss():
    rng = np.random.default_rng(0)
    difficulty = rng.random(80)
    a, b = difficulty + 0.02, difficulty  # a is better on every item, by little against the spread of items
    difference, low, high = paired_bootstrap(a, b)
    assert low > 0  # shown by the paired interval
    spread = 1.96 * difficulty.std(ddof=1) / math.sqrt(80)
    assert (a.mean() - spread) < (b.mean() + spread)  # per-method intervals overlap: "no difference" if unpaired


def test_paired_bootstrap_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([0.1, 0.2], [0.3])
