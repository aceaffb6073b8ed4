"""Make other people's init code world-size invariant: :func:`invariant_init`.

Models carry their own ``reset_parameters()`` / ``init_weights()`` / ``_init_weights``
written against ``torch.nn.init`` and ``Tensor.normal_``. On sharded parameters those
calls draw from torch's generators, so the values depend on the mesh and the world size.
Inside ``with invariant_init(model, seed):`` every such call on a parameter of ``model``
(the parameter, ``.data`` of it, or a slice of it) is answered by that parameter's
counter-based :class:`~initscope.rng.Stream`, keyed by ``(seed, canonical name)``, with
fans from the global shape: the same values on one process or on any mesh. Calls on
other tensors go to torch unchanged. The patches are removed when the block exits,
also on error.

What it routes: every random and filling function of ``torch.nn.init`` (looked up by
attribute at call time, as torch's own layers do), ``Tensor.normal_`` and
``Tensor.uniform_``. Code that bound a function earlier (``from torch.nn.init import
normal_`` at import) keeps torch's. A ``generator=`` passed inside the block is replaced
by the parameter's stream.

Threads: the routing is per thread. The wrappers are installed in ``torch.nn.init`` and
``torch.Tensor`` while any block is open (the first block in installs them, the last one
out restores torch's; Python offers no thread-local attribute of a module), but they
answer only the thread that opened a block, with that thread's own models: another
thread's calls, on any tensor, go to torch unchanged, and two threads may each run a
block of their own at once. (A ``TorchFunctionMode`` would be thread-local by itself,
but torch 2.13 dispatches only four of these functions through ``__torch_function__``,
and whole-matrix fills such as ``orthogonal_`` draw into a fresh tensor no mode can
tell from any other.)

>>> import torch
>>> from torch import nn
>>> from initscope.guard import invariant_init
>>> a, b = nn.Linear(8, 4), nn.Linear(8, 4)
>>> with invariant_init(a, seed=0):
...     a.reset_parameters()
>>> with invariant_init(b, seed=0):
...     b.reset_parameters()
>>> bool(torch.equal(a.weight, b.weight))
True
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from . import init as _ours
from .rng import Stream, is_dtensor

__all__ = ["invariant_init"]

#: torch.nn.init functions answered by initscope.init's twins.
_PATCHED = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_",
)


def _storage(t: torch.Tensor) -> int | None:
    local = t.to_local() if is_dtensor(t) else t  # type: ignore[attr-defined]
    if local.is_meta or local.numel() == 0:
        return None
    return int(local.untyped_storage().data_ptr())


class _Registry:
    """Parameters of the model by storage, each with one stream for the whole block (so
    per-block draws, e.g. per-gate orthogonal blocks, get distinct scratch sub-streams)."""

    def __init__(self, model: nn.Module, seed: int, prefix: str, audited: bool) -> None:
        self.seed, self.audited = seed, audited
        self.params: dict[int, tuple[str, torch.Tensor]] = {}
        for name, p in model.named_parameters():
            key = _storage(p)
            if key is not None:
                self.params[key] = (f"{prefix}.{name}" if prefix else name, p)
        self.streams: dict[str, Stream] = {}

    def stream_for(self, t: object) -> Stream | None:
        if not isinstance(t, torch.Tensor):
            return None
        key = _storage(t)
        found = self.params.get(key) if key is not None else None
        if found is None:
            return None
        name, param = found
        if name not in self.streams:
            stream = Stream(self.seed, name).bind(param.data)
            self.streams[name] = stream._audited() if self.audited else stream
        return self.streams[name]


_local = threading.local()  # .registries: the blocks this thread has open, innermost last
_lock = threading.Lock()
_open_blocks = 0
_saved: list[tuple[object, str, object]] = []


def _stream_for(t: object) -> Stream | None:
    """The stream of ``t`` when the calling thread has a block open on its model."""
    registries: list[_Registry] = getattr(_local, "registries", [])
    for registry in reversed(registries):
        stream: Stream | None = registry.stream_for(t)
        if stream is not None:
            return stream
    return None


def _route(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    ours = getattr(_ours, name)
    sig = inspect.signature(original)
    takes_generator = "generator" in sig.parameters

    def patched(*args: Any, **kwargs: Any) -> Any:
        if not getattr(_local, "registries", None):  # another thread's call: torch's
            return original(*args, **kwargs)
        bound = sig.bind(*args, **kwargs)
        tensor = bound.arguments.get("tensor")
        stream = _stream_for(tensor)
        if stream is None:
            return original(*args, **kwargs)
        if takes_generator:
            bound.arguments["generator"] = stream
        with torch.no_grad():
            ours(**bound.arguments)
        return tensor

    patched.__wrapped__ = original  # type: ignore[attr-defined]
    return patched


def _route_method(kind: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def patched(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        stream = _stream_for(self) if getattr(_local, "registries", None) else None
        if stream is None:
            return original(self, *args, **kwargs)
        kwargs.pop("generator", None)
        with torch.no_grad():
            if kind == "normal_":
                mean = args[0] if args else kwargs.get("mean", 0.0)
                std = args[1] if len(args) > 1 else kwargs.get("std", 1.0)
                stream.normal_(self, float(mean), float(std))
            else:
                lo = args[0] if args else kwargs.get("from", 0.0)
                hi = args[1] if len(args) > 1 else kwargs.get("to", 1.0)
                stream.uniform_(self, float(lo), float(hi))
        return self

    return patched


@contextmanager
def invariant_init(model: nn.Module, seed: int = 0, *, prefix: str = "") -> Iterator[None]:
    """Within the block, ``torch.nn.init.*``, ``Tensor.normal_`` and ``Tensor.uniform_``
    on a parameter of ``model`` draw from its counter stream (see the module docstring).

    Args:
        model: the module whose parameters are routed (a ``DTensor`` parameter is
            filled shard by shard).
        seed: the seed of the streams; ``initialize(model, seed=...)`` uses the same
            streams, so the two agree on a parameter both fill the same way.
        prefix: the qualified name of ``model`` inside a larger model, so that streams
            are keyed by the full parameter names.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"invariant_init: model must be an nn.Module; got {type(model).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"invariant_init: seed must be an int; got {type(seed).__name__}")
    with routed(model, seed, prefix=prefix):
        yield


@contextmanager
def routed(model: nn.Module, seed: int, *, prefix: str = "",
           audited: bool = False) -> Iterator[dict[str, Stream]]:
    """:func:`invariant_init`, yielding the streams drawn from so far by parameter name
    (filled in as the block runs). ``audited``: each stream sums what it draws
    (``Stream.moments_of`` then answers for a parameter its last fill wrote whole)."""
    registry = _Registry(model, seed, prefix, audited)
    _install()
    stack = _local.__dict__.setdefault("registries", [])
    stack.append(registry)
    try:
        yield registry.streams
    finally:
        stack.remove(registry)
        _uninstall()


def _install() -> None:
    """Install the routing wrappers if no block is open (under the lock)."""
    global _open_blocks
    with _lock:
        if _open_blocks == 0:
            for name in _PATCHED:
                original = getattr(torch.nn.init, name)
                _saved.append((torch.nn.init, name, original))
                setattr(torch.nn.init, name, _route(name, original))
            for name in ("normal_", "uniform_"):
                original = getattr(torch.Tensor, name)
                _saved.append((torch.Tensor, name, original))
                setattr(torch.Tensor, name, _route_method(name, original))
        _open_blocks += 1


def _uninstall() -> None:
    """Put torch's functions back when the last open block closes."""
    global _open_blocks
    with _lock:
        _open_blocks -= 1
        if _open_blocks == 0:
            for owner, name, original in reversed(_saved):
                setattr(owner, name, original)
            _saved.clear()
