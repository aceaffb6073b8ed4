"""Progress bars for long reproduction runs: shown by the ``initscope reproduce`` command
(on stderr, with rich), silent when a reproduction is called from Python or tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_shown: ContextVar[bool] = ContextVar("initscope_reproduce_progress", default=False)


@contextmanager
def shown() -> Iterator[None]:
    """Within the block, :func:`task` draws a progress bar."""
    token = _shown.set(True)
    try:
        yield
    finally:
        _shown.reset(token)


@contextmanager
def task(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar of ``total`` units; yields ``advance(n)``. A no-op unless shown."""
    if not _shown.get():
        def silent(n: int = 1) -> None:
            return None

        yield silent
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        handle = bar.add_task(label, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(handle, n)

        yield advance
