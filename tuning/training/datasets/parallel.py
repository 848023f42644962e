"""Spreading batches over worker processes, in order, with a bounded number in flight.

Processes, not threads: bpe-openai's Rust tokenizer holds the GIL while it encodes (measured on
this code: two threads encode no faster than one), and JSON parsing and normalising are Python.
Workers are spawned, never forked: the parent has an event loop, aiosqlite's thread and locks.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

# Below this many examples, starting processes (about half a second each: a fresh interpreter, the
# app's main module, and the tokenizer) costs more than it saves.
PARALLEL_MIN_EXAMPLES = 20_000
IN_FLIGHT_PER_WORKER = 2


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Workers:
    """Batches mapped in input order over worker processes, or inline when there are none."""

    def __init__(self, executor: Executor | None, count: int) -> None:
        self._executor = executor
        self.count = count if executor else 1

    def map(self, work: Callable[[In], Out], batches: Iterable[In]) -> Iterator[Out]:
        """work(batch) for each batch, in input order. At most a few batches are pending per worker, so memory
        stays flat however many there are."""
        if self._executor is None:
            yield from map(work, batches)
            return
        pending: deque[Future[Out]] = deque()
        for batch in batches:
            pending.append(self._executor.submit(work, batch))
            if len(pending) >= IN_FLIGHT_PER_WORKER * self.count:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@contextmanager
def worker_pool(workers: int) -> Iterator[Workers]:
    if workers <= 1:
        yield Workers(None, 1)
        return
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield Workers(executor, workers)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
