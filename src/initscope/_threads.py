"""The one module that knows about threads: torch's intra-op thread count for a block,
and the pool of helper threads that share work with the caller.

``one_torch_thread``: ``torch.set_num_threads`` is process-wide: two blocks that each
save the count, set 1 and restore what they saved can interleave so that the last
restore writes 1 for good. Here the first block in saves the count and the last one out
restores it. Used where intra-op threads cost more than they give: the helper threads
below, the eigensolver after a forward pass, and the reproductions' small models.

``run_shared``: the caller and ``threads - 1`` helpers take tasks from one list (the
counter stream's chunks, initialize()'s parameters).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

_lock = threading.Lock()
_inside = 0
_saved = 1


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """``torch.set_num_threads(1)`` for the block; the count before the first of any
    overlapping blocks is restored when the last one ends.

    >>> before = torch.get_num_threads()
    >>> with one_torch_thread():
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                torch.set_num_threads(_saved)


def intra_op_threads() -> int:
    """torch's intra-op thread count as set outside any :func:`one_torch_thread` block
    (what a pool of worker threads may use while such a block runs)."""
    with _lock:
        return _saved if _inside else torch.get_num_threads()


_T = TypeVar("_T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0  # its helper threads (kept here: the executor's own count is private)

_local = threading.local()  # .shared: this thread runs tasks of run_shared()


def _executor() -> tuple[ThreadPoolExecutor, int] | None:
    """The helper pool and its size, made or resized for the thread count in force;
    None where there is nothing to share (one thread, or called from a helper)."""
    global _pool, _pool_size
    threads = min(intra_op_threads(), os.cpu_count() or 1)
    if threads < 2 or getattr(_local, "shared", False):
        return None
    if _pool is None or _pool_size != threads - 1:  # the caller is one
        _pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="initscope-rng")
        _pool_size = threads - 1
    return _pool, _pool_size


def has_helpers() -> bool:
    """Whether :func:`run_shared` would share its tasks with helper threads now."""
    return _executor() is not None


def pool_size() -> int:
    """How many helper threads the pool has (0 before it is first made)."""
    return _pool_size if _pool is not None else 0


def reset_pool() -> None:
    """Forget the pool (tests start from a known state; a new one is made on demand)."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


def run_shared(tasks: Sequence[Callable[[], _T]]) -> list[_T]:
    """Run ``tasks`` on the calling thread and the stream's worker threads, each thread
    taking the next task when done with one; their results in order. The first error
    is raised once every thread has stopped.

    One hand-off per helper, not one per task: each wakes a sleeping core. Torch ops
    inside run on one intra-op thread (OpenMP teams of their own would oversubscribe
    the cores), and a fill inside a task draws on its own thread only (the numbers:
    benchmarks/results/design_measurements.md).
    """
    found = _executor()
    if found is None or len(tasks) < 2:
        return [task() for task in tasks]
    pool, helpers_count = found
    results: list[Any] = [None] * len(tasks)
    take = threading.Lock()
    order = iter(range(len(tasks)))

    def share() -> None:
        _local.shared = True
        try:
            while True:
                with take:
                    i = next(order, None)
                if i is None:
                    return
                results[i] = tasks[i]()
        finally:
            _local.shared = False

    with one_torch_thread():
        helpers = [pool.submit(share) for _ in range(helpers_count)]
        try:
            share()
        finally:
            for h in helpers:
                h.result()
    return results
