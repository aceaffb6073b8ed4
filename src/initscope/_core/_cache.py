"""The one module for caches. Every memoised function in initscope is declared with
:func:`memo`: each is a pure function of hashable arguments (a rule, a shape, an
activation name), cached because an initializer call on a small tensor feels every
microsecond of validation and quadrature (benchmarks/results/init_throughput.md).
:func:`clear` empties them all; :func:`stats` shows what they hold.

>>> @memo(maxsize=8)
... def square(x: int) -> int:
...     return x * x
>>> square(3), square(3), stats()["square"].hits >= 1
(9, 9, True)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import _CacheInfo, lru_cache
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_CACHES: dict[str, Any] = {}


def memo(maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache(maxsize)``, registered here."""

    def wrap(fn: F) -> F:
        cached = lru_cache(maxsize=maxsize)(fn)
        _CACHES[fn.__qualname__ if fn.__module__ == __name__ else
                f"{fn.__module__}.{fn.__qualname__}"] = cached
        return cached  # type: ignore[return-value]

    return wrap


def clear() -> None:
    """Empty every cache."""
    for cached in _CACHES.values():
        cached.cache_clear()


def stats() -> dict[str, _CacheInfo]:
    """Each cache's hits, misses and size, by the function's qualified name."""
    return {name: cached.cache_info() for name, cached in _CACHES.items()}
