"""utils.contamination: n-gram overlap on hand cases, against a brute-force count, and broken variants that fail."""

import random

import pytest

from utils.contamination import NgramIndex, ngrams, overlaps, tokens

CORPUS = ["The quick brown fox jumps over the lazy dog.", "A stitch in time saves nine."]


def test_tokens_ignore_case_punctuation_and_spacing_but_keep_letters_of_any_script():
    assert tokens("The  QUICK, brown\tfox!") == ["the", "quick", "brown", "fox"]
    assert tokens("Café déjà-vu, 3.14 snake_case") == ["café", "déjà", "vu", "3", "14", "snake", "case"]


def test_hand_cases():
    assert overlaps(["the quick brown fox"], CORPUS, n=3) == [1.0]  # both 3-grams are in the corpus
    assert overlaps(["a quick brown fox"], CORPUS, n=3) == [0.5]  # "a quick brown" is not
    assert overlaps(["THE LAZY DOG ate a stitch"], CORPUS, n=3) == [pytest.approx(1 / 4)]
    assert overlaps(["nothing like it at all"], CORPUS, n=3) == [0.0]
    assert overlaps(["the quick"], CORPUS, n=3) == [None]  # shorter than n: undefined, not 0
    assert overlaps(["The quick brown fox jumps over the lazy dog"], CORPUS, n=9) == [1.0]


def test_ngrams_do_not_cross_document_boundaries():
    """ "lazy dog a stitch" is the end of one document joined to the start of the next: not in the corpus."""
    assert overlaps(["lazy dog a stitch"], CORPUS, n=4) == [0.0]


def test_repeated_ngrams_count_once_per_position():
    assert overlaps(["nine nine saves nine"], ["saves nine"], n=2) == [pytest.approx(1 / 3)]


def brute_force(item: str, corpus: list[str], n: int) -> float | None:
    """The definition, spelled out: for each position of the item, is that run of n tokens in some document?"""
    words = tokens(item)
    if len(words) < n:
        return None
    documents = [tokens(doc) for doc in corpus]
    hits = 0
    for i in range(len(words) - n + 1):
        run = words[i : i + n]
        hits += any(doc[j : j + n] == run for doc in documents for j in range(len(doc) - n + 1))
    return hits / (len(words) - n + 1)


def random_texts(rng: random.Random, count: int, vocabulary: list[str]) -> list[str]:
    return [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def test_random_texts_match_the_brute_force_definition():
    rng = random.Random(7)
    vocabulary = ["a", "b", "c", "d", "A,", "b!"]
    for _ in range(40):
        corpus, items, n = random_texts(rng, 5, vocabulary), random_texts(rng, 5, vocabulary), rng.randint(1, 4)
        assert overlaps(items, corpus, n) == [brute_force(item, corpus, n) for item in items]


def joined_corpus_overlap(item: str, corpus: list[str], n: int) -> float | None:
    """Broken variant 1: the corpus glued into one text, so n-grams run across document boundaries."""
    return NgramIndex([" ".join(corpus)], n).overlap(item)


def case_sensitive_overlap(item: str, corpus: list[str], n: int) -> float | None:
    """Broken variant 2: no normalisation, so 'The' and 'the' differ and copies with other casing are missed."""
    grams = {tuple(doc.split()[i : i + n]) for doc in corpus for i in range(len(doc.split()) - n + 1)}
    found = [tuple(item.split()[i : i + n]) in grams for i in range(len(item.split()) - n + 1)]
    return sum(found) / len(found) if found else None


def test_the_hand_cases_catch_the_broken_variants():
    assert joined_corpus_overlap("lazy dog a stitch", CORPUS, 4) == 1.0  # the boundary test would fail
    assert case_sensitive_overlap("THE LAZY DOG ate a stitch", CORPUS, 3) == 0.0  # the hand case would fail


def test_the_index_size_and_bad_n():
    index = NgramIndex(CORPUS, n=3)
    assert index.documents == 2 and len(index) == 7 + 4  # 9 tokens -> 7 trigrams, 6 tokens -> 4
    assert ngrams(["a", "b"], 3) == []
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        NgramIndex(CORPUS, n=0)
