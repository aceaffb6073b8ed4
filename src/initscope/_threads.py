"""One torch intra-op thread for a block, safe when several Python threads enter at once.

``torch.set_num_threads`` is process-wide: two blocks that each save the count, set 1
and restore what they saved can interleave so that the last restore writes 1 for good.
Here the first block in saves the count and the last one out restores it.

Used where intra-op threads cost more than they give: the counter stream's own worker
threads, the eigensolver after a forward pass, and the reproductions' small models
(which train many times faster on one thread: 9x measured on 2 cores).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
