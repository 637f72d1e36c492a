"""Checks on hand-written datasets: duplicates, near-duplicates and lexical diversity.

Used by the data tests to prove that splits do not leak and that texts were written, not templated.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

from utils.course.prepared import normalise  # the one key for duplicates, shared with data preparation

__all__ = ["normalise", "words", "shingles", "near_duplicates", "bigram_diversity"]


def words(text: str) -> list[str]:
    """Lower-cased word tokens (punctuation dropped)."""
    return re.findall(r"[\w']+", text.lower())


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    tokens = words(text)
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def near_duplicates(texts: Sequence[str], threshold: float = 0.5, n: int = 3) -> list[tuple[int, int, float]]:
    """Pairs (i, j, jaccard) of texts whose word n-gram Jaccard similarity exceeds ``threshold``.

    An inverted index over n-grams keeps this fast: only texts sharing an n-gram are compared.
    """
    sets = [shingles(text, n) for text in texts]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, grams in enumerate(sets):
        for gram in grams:
            index[gram].append(i)
    found = []
    for i, grams in enumerate(sets):
        candidates = {j for gram in grams for j in index[gram] if j > i}
        for j in sorted(candidates):
            union = len(sets[i] | sets[j])
            score = len(sets[i] & sets[j]) / union if union else 0.0
            if score > threshold:
                found.append((i, j, round(score, 3)))
    return found


def bigram_diversity(texts: Sequence[str]) -> float:
    """Distinct word bigrams / all word bigrams (bigrams do not cross texts). Templated text scores low."""
    total, distinct = 0, set()
    for text in texts:
        tokens = words(text)
        pairs = list(zip(tokens, tokens[1:]))
        total += len(pairs)
        distinct.update(pairs)
    if total == 0:
        raise ValueError("no bigrams: texts are empty or single words")
    return len(distinct) / total
