"""WEAT effect size and permutation p-value on synthetic vectors with a known effect; word counting."""

import math

import numpy as np
import pytest

from utils.bias import (
    PRONOUNS,
    association,
    attribute_split_statistics,
    count_first_groups,
    first_group,
    weat,
    weat_effect_size,
    weat_p_value,
    weat_statistic,
    words,
)


def planted(n=8, dim=16, shift=1.0, seed=0):
    """Targets X lean towards attribute A, targets Y towards B, by ``shift`` along two fixed directions."""
    rng = np.random.default_rng(seed)
    a_dir, b_dir = np.eye(dim)[0], np.eye(dim)[1]
    A = a_dir + 0.1 * rng.normal(size=(n, dim))
    B = b_dir + 0.1 * rng.normal(size=(n, dim))
    X = rng.normal(size=(n, dim)) * 0.3 + shift * a_dir
    Y = rng.normal(size=(n, dim)) * 0.3 + shift * b_dir
    return X, Y, A, B


def test_association_by_hand():
    A = [[1.0, 0.0]]
    B = [[0.0, 1.0]]
    W = [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]
    np.testing.assert_allclose(association(W, A, B), [1.0, -1.0, 0.0], atol=1e-12)


def test_effect_size_by_hand():
    # s(x) = 1, 1, s(y) = -1, -1: mean difference 2, sample std of [1, 1, -1, -1] = sqrt(4/3)
    X, Y = [[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]
    A, B = [[1.0, 0.0]], [[0.0, 1.0]]
    assert weat_effect_size(X, Y, A, B) == pytest.approx(2 / math.sqrt(4 / 3))


def test_planted_effect_is_large_and_significant():
    X, Y, A, B = planted()
    result = weat(X, Y, A, B)
    assert result.effect_size > 1.5
    assert result.exact and result.n_partitions == math.comb(16, 8)
    # only the observed split (the most extreme one) reaches the observed statistic
    assert result.p_value == pytest.approx(1 / math.comb(16, 8))


def test_swapping_targets_flips_the_sign():
    X, Y, A, B = planted(seed=3)
    assert weat_effect_size(Y, X, A, B) == pytest.approx(-weat_effect_size(X, Y, A, B))
    assert weat_effect_size(X, Y, B, A) == pytest.approx(-weat_effect_size(X, Y, A, B))


def test_no_effect_gives_a_large_p_value():
    rng = np.random.default_rng(1)
    X, Y, A, B = (rng.normal(size=(8, 32)) for _ in range(4))
    result = weat(X, Y, A, B)
    assert abs(result.effect_size) < 1.2
    assert result.p_value > 0.05


def test_p_values_under_the_null_are_roughly_uniform():
    rng = np.random.default_rng(7)
    p_values = [weat_p_value(*(rng.normal(size=(5, 8)) for _ in range(4)))[0] for _ in range(200)]
    # a valid test rejects a true null about as often as its level says
    assert 0.35 < np.mean(np.array(p_values) < 0.5) < 0.65
    assert np.mean(np.array(p_values) < 0.05) < 0.1


def test_random_permutations_are_seeded_and_close_to_exact():
    X, Y, A, B = planted(n=12, shift=0.15, seed=5)  # comb(24, 12) is too many to enumerate
    p1, n1, exact1 = weat_p_value(X, Y, A, B, n_permutations=2000, seed=1)
    p2, _, _ = weat_p_value(X, Y, A, B, n_permutations=2000, seed=1)
    assert not exact1 and n1 == 2000
    assert p1 == p2
    assert 1 / 2001 <= p1 <= 1


def test_random_p_value_is_never_zero():
    X, Y, A, B = planted(n=12, shift=3.0)
    p_value, n, exact = weat_p_value(X, Y, A, B, n_permutations=500)
    assert not exact and p_value == pytest.approx(1 / 501)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"X": np.zeros((0, 4))}, "X is empty"),
        ({"Y": np.ones(4)}, "Y must be a 2-D array"),
        ({"A": np.ones((3, 5))}, "same dimension"),
        ({"B": np.zeros((2, 4))}, "B contains a zero vector"),
        ({"X": np.full((2, 4), np.nan)}, "X contains NaN"),
        ({"A": [["a", "b", "c", "d"]]}, "A must be a 2-D array of numbers"),
    ],
)
def test_bad_input_raises_a_clear_error(bad, message):
    rng = np.random.default_rng(0)
    sets = {name: rng.normal(size=(3, 4)) for name in "XYAB"}
    sets.update(bad)
    with pytest.raises(ValueError, match=message):
        weat(sets["X"], sets["Y"], sets["A"], sets["B"])


def test_identical_targets_have_no_effect_size():
    v = np.ones((3, 4))
    with pytest.raises(ValueError, match="every target has the same association"):
        weat_effect_size(v, v, np.eye(4)[:1], np.eye(4)[1:2])


def test_too_few_targets():
    with pytest.raises(ValueError, match="at least three vectors"):
        weat_effect_size([[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]])


def test_permutation_count_must_be_positive():
    X, Y, A, B = planted()
    with pytest.raises(ValueError, match="n_permutations must be at least 1, got 0"):
        weat_p_value(X, Y, A, B, n_permutations=0)


def test_words_and_first_group():
    assert words("She's a Nurse, isn't she?") == ["she's", "a", "nurse", "isn't", "she"]
    assert first_group("The engineer said that his design worked; she agreed.") == "he"
    assert first_group("Their shift ended. He left.") == "they"
    assert first_group("She's tired.") == "she"
    assert first_group("She\u2019s tired.") == "she"  # a typographic apostrophe
    assert first_group("The nurse smiled.") is None
    assert first_group("hello world") is None
    assert first_group("Shepherd and theory are not pronouns") is None


def test_count_first_groups_keeps_every_column():
    counts = count_first_groups(["he went", "she went", "nobody went", "his car"])
    assert counts == {"he": 2, "she": 1, "they": 0, "none": 1}
    assert list(count_first_groups([])) == [*PRONOUNS, "none"]


def test_a_word_in_two_groups_is_rejected():
    with pytest.raises(ValueError, match="word 'her' is in two groups"):
        first_group("her", {"a": ["her"], "b": ["her"]})


def test_statistic_by_hand():
    X, Y = [[1.0, 0.0], [2.0, 0.0]], [[0.0, 1.0], [0.0, 3.0]]
    assert weat_statistic(X, Y, [[1.0, 0.0]], [[0.0, 1.0]]) == pytest.approx(2.0)


def test_attribute_splits_separate_a_real_attribute_from_any_split():
    X, Y, A, B = planted(seed=2)
    observed = weat_statistic(X, Y, A, B)
    null = attribute_split_statistics(X, Y, A, B, n_splits=500, seed=0)
    assert null.shape == (500,)
    assert np.mean(null >= observed - 1e-12) < 0.01  # only the planted split (or none) reaches it
    np.testing.assert_array_equal(null, attribute_split_statistics(X, Y, A, B, n_splits=500, seed=0))


def test_attribute_splits_of_random_attributes_are_not_special():
    rng = np.random.default_rng(4)
    X, Y, A, B = (rng.normal(size=(8, 16)) for _ in range(4))
    null = attribute_split_statistics(X, Y, A, B, n_splits=500)
    assert 0.05 < np.mean(null >= weat_statistic(X, Y, A, B)) < 0.95


def test_attribute_split_count_must_be_positive():
    X, Y, A, B = planted()
    with pytest.raises(ValueError, match="n_splits must be at least 1, got -3"):
        attribute_split_statistics(X, Y, A, B, n_splits=-3)
