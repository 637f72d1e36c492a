"""Retrieval measurements for the semantic-search notebook: precision@k, recall@k, a timer.

- :func:`precision_at_k`: the share of the first k results that are relevant, where relevant means
  "carries the query's label" (e.g. the same Wikipedia topic as the query document);
- :func:`recall_at_k`: the share of the exact top-k neighbours that an approximate index also returned
  in its top k (the usual way to score IVF/HNSW indexes against brute force);
- :func:`mean_precision_at_k` / :func:`mean_recall_at_k`: the same, averaged over a batch of queries;
- :class:`Timer`: wall-clock and CPU seconds of a ``with`` block (``time.perf_counter``,
  ``time.process_time``). On a shared machine wall-clock time depends on the load; CPU time much less.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from typing import Any

MISSING = -1  # what faiss returns as an id when it has fewer than k results to give


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def precision_at_k(query_label: Hashable, result_labels: Sequence[Hashable], k: int) -> float:
    """Share of the first ``k`` results whose label equals ``query_label`` (0.0 to 1.0).

    ``result_labels`` are the labels of the results, best first. Raises ValueError if ``k`` is not a
    positive integer or if there are fewer than ``k`` results (a short list would inflate the score).
    """
    _check_k(k)
    if len(result_labels) < k:
        raise ValueError(f"precision@{k} needs at least {k} results, got {len(result_labels)}")
    return sum(label == query_label for label in list(result_labels)[:k]) / k


def recall_at_k(approximate_ids: Sequence[int], exact_ids: Sequence[int], k: int) -> float:
    """Share of the exact top-``k`` ids that also appear in the approximate top ``k`` (order ignored).

    ids equal to -1 (faiss's "no result") in ``approximate_ids`` count as misses. Raises ValueError if
    ``k`` is not a positive integer, if either list has fewer than ``k`` ids, or if the exact top ``k``
    contains -1 or repeats an id (then it is not a valid ground truth).
    """
    _check_k(k)
    approximate, exact = [int(i) for i in list(approximate_ids)[:k]], [int(i) for i in list(exact_ids)[:k]]
    if len(exact) < k or len(approximate) < k:
        raise ValueError(
            f"recall@{k} needs {k} ids on each side, got {len(approximate)} approximate and {len(exact)} exact"
        )
    if MISSING in exact:
        raise ValueError(f"the exact top {k} contains -1 (no result): search fewer neighbours than documents")
    if len(set(exact)) < k:
        raise ValueError(f"the exact top {k} repeats an id: {exact}")
    return len(set(exact) & (set(approximate) - {MISSING})) / k


def mean_precision_at_k(query_labels: Sequence[Hashable], result_labels: Sequence[Sequence[Hashable]], k: int) -> float:
    """:func:`precision_at_k` averaged over queries. Raises ValueError on no queries or unequal lengths."""
    _check_batch(len(query_labels), len(result_labels))
    return sum(precision_at_k(q, r, k) for q, r in zip(query_labels, result_labels)) / len(query_labels)


def mean_recall_at_k(
    approximate_ids: Sequence[Sequence[int]] | Any, exact_ids: Sequence[Sequence[int]] | Any, k: int
) -> float:
    """:func:`recall_at_k` averaged over queries (rows of two id matrices, e.g. faiss's ``I`` arrays).

    Raises ValueError on no queries or a different number of rows.
    """
    _check_batch(len(approximate_ids), len(exact_ids))
    return sum(recall_at_k(a, e, k) for a, e in zip(approximate_ids, exact_ids)) / len(exact_ids)


def _check_batch(n_left: int, n_right: int) -> None:
    if n_left != n_right:
        raise ValueError(f"{n_left} queries on one side and {n_right} on the other")
    if n_left == 0:
        raise ValueError("cannot average over zero queries")


class Timer:
    """Wall-clock and CPU seconds spent inside a ``with`` block: ``with Timer() as t: ...`` then ``t.seconds``.

    ``seconds`` is wall-clock time; ``cpu_seconds`` is the CPU time of this process over the block, summed
    over its threads (so it can exceed ``seconds`` when several cores work). Reading either inside the block
    (or after :meth:`start`) gives the time so far; reading them before the timer starts raises RuntimeError.
    """

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None
        self._end: tuple[float, float] | None = None

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def __enter__(self) -> Timer:
        self._start, self._end = self._now(), None
        return self

    def start(self) -> Timer:
        """Start timing without a ``with`` block (to time a whole notebook); returns the timer."""
        return self.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._end = self._now()

    def _elapsed(self, which: int) -> float:
        if self._start is None:
            raise RuntimeError("the timer has not been started: use it as `with Timer() as t:`")
        end = self._end if self._end is not None else self._now()
        return end[which] - self._start[which]

    @property
    def seconds(self) -> float:
        return self._elapsed(0)

    @property
    def cpu_seconds(self) -> float:
        return self._elapsed(1)
