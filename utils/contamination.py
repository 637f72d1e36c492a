"""Contamination by n-gram overlap: how much of each benchmark item already appears, word for word, in a corpus.

Text is normalised to tokens first (lower case, runs of letters and digits only, so case, punctuation and spacing do
not hide a copy). An item's **overlap** is the share of its n-gram positions (``n`` consecutive tokens; 13 as in the
GPT-3 paper's decontamination) that occur anywhere in the corpus. N-grams never cross from one corpus document to the
next. An item shorter than ``n`` tokens has no n-gram, and its overlap is None (undefined), not 0: pick a smaller
``n`` for short items. The corpus side keeps only a 64-bit hash of each n-gram, so a large corpus fits in memory; two
different n-grams share a hash with probability about (corpus n-grams) / 2**64, negligible here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TOKEN = re.compile(r"[^\W_]+")  # runs of letters and digits (any script); punctuation and underscores split


def tokens(text: str) -> list[str]:
    """The normalised tokens of ``text``: lower-cased runs of letters and digits."""
    return TOKEN.findall(text.lower())


def ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive words, in order (repeats kept); [] when there are fewer than ``n``."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


class NgramIndex:
    """The n-grams of a corpus (as hashes), built once and asked about many items."""

    def __init__(self, documents: Iterable[str], n: int = 13) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self.hashes: set[int] = set()
        self.documents = 0
        for document in documents:
            self.documents += 1
            self.hashes.update(hash(gram) for gram in ngrams(tokens(document), n))

    def __len__(self) -> int:
        return len(self.hashes)

    def overlap(self, item: str) -> float | None:
        """The share of the item's n-gram positions found in the corpus, in [0, 1]; None when it has none."""
        grams = ngrams(tokens(item), self.n)
        if not grams:
            return None
        return sum(hash(gram) in self.hashes for gram in grams) / len(grams)


def overlaps(items: Iterable[str], corpus: Iterable[str], n: int = 13) -> list[float | None]:
    """:meth:`NgramIndex.overlap` of every item against ``corpus`` (an iterable of documents)."""
    index = NgramIndex(corpus, n)
    return [index.overlap(item) for item in items]
