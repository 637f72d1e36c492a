"""The data-test helpers themselves: duplicates are found at the threshold the data tests rely on."""

from tests.text_checks import bigram_diversity, near_duplicates, normalise, shingles


def test_normalise_is_the_key_data_preparation_uses():
    assert normalise("It's GREAT,  really!") == "it s great really"


def test_near_duplicates_default_threshold_is_one_half():
    base = "the film was slow but the actors were wonderful in every scene"
    edited = "the film was slow but the actors were wonderful in the last scene"
    ((i, j, score),) = near_duplicates([base, edited])
    assert (i, j) == (0, 1) and 0.5 < score < 0.95  # found at the default 0.5; a 0.95 default would miss it
    assert near_duplicates([base, edited], threshold=0.95) == []
    assert near_duplicates([base, "an unrelated sentence about trains and weather"]) == []


def test_shingles_and_diversity():
    assert shingles("a b c d", n=3) == {("a", "b", "c"), ("b", "c", "d")}
    assert shingles("a b", n=3) == {("a", "b")}
    assert bigram_diversity(["a b a b", "a b"]) < bigram_diversity(["a b", "c d"])
