"""Counter-based random streams: every element a pure function of (seed, name, index).

A :class:`Stream` is what ``initscope.initialize(model, seed=...)`` draws each parameter
from, and what you can pass as ``generator=`` to any :mod:`initscope.init` function.
Element ``i`` (the element's flat index in the *global* tensor) gets the 32-bit lane
``i`` of the Philox-4x64-10 stream keyed by BLAKE2b(version, seed, canonical name) (see
:mod:`initscope._core.philox`), then:

- uniform on (a, b): ``x = (2 s + 1) / 2^23`` with ``s`` the lane's top 23 bits read as a
  signed integer, an exact, symmetric grid of (-1, 1); value ``(a + b) / 2 + x (b - a) / 2``;
- normal: the inverse CDF, ``mean + std * sqrt(2) * erfinv(x)`` (|z| <= 5.29);
- truncated normal on [a, b]: the inverse CDF of the truncated law,
  ``sqrt(2) erfinv(erf(alpha/sqrt 2) + (x + 1)/2 (erf(beta/sqrt 2) - erf(alpha/sqrt 2)))``
  for intervals around the mean, and ``ndtri`` in float64 (mirrored into the lower tail)
  for intervals beyond 4 std or on one side of the mean;
- float64 tensors use all 32 bits, ``x = (2 s + 1) / 2^32`` (|z| <= 6.34); float16 and
  bfloat16 are computed in float32 and rounded once.

No rejection loops, no data-dependent number of draws, no communication: a shard of a
``DTensor`` (any placements: ``Shard``, strided and uneven shards, 2-D meshes) computes
exactly its own elements, and its ``full_tensor()`` equals the single-process tensor bit
for bit. Draws into a tensor that is not the bound parameter or a slice of it (the
Gaussian matrix behind an orthogonal init) come from numbered sub-streams, so a
function that needs the whole parameter computes the same whole parameter everywhere.

>>> import torch
>>> from initscope import init
>>> from initscope.rng import Stream
>>> w = init.normal_(torch.empty(2, 3), std=0.02, generator=Stream(0, "fc.weight"))
>>> w2 = init.normal_(torch.empty(2, 3), std=0.02, generator=Stream(0, "fc.weight"))
>>> bool(torch.equal(w, w2)), Stream(0, "_orig_mod.fc.weight").key == Stream(0, "fc.weight").key
(True, True)
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from ._core._cache import memo
from ._core.philox import key_of, lanes, lanes_for_runs
from ._threads import has_helpers, one_torch_thread, run_shared

_T = TypeVar("_T")

__all__ = ["RNG_VERSION", "Layout", "Stream", "canonical_name", "is_dtensor"]

#: Version of the value scheme (lanes -> numbers, key derivation). Any change that would
#: change a value drawn for a given (seed, name) bumps it, and the golden-value tests.
RNG_VERSION = 1

_WRAPPERS = frozenset({"_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module"})
_LOW_PRECISION = (torch.float16, torch.bfloat16)
_CHUNK = 1 << 18          # elements per job at most (the best size on large tensors)
_PARALLEL_MIN = 1 << 19   # below this many elements, one thread
_PARTS = 8                # jobs per tensor from _PARALLEL_MIN elements (at most _CHUNK each)


def canonical_name(name: str) -> str:
    """A parameter name without the path segments wrappers insert (torch.compile's
    ``_orig_mod``, FSDP1's ``_fsdp_wrapped_module``, activation checkpointing's
    ``_checkpoint_wrapped_module``).

    >>> canonical_name("_orig_mod.blocks.0._checkpoint_wrapped_module.fc.weight")
    'blocks.0.fc.weight'
    """
    return ".".join(p for p in name.split(".") if p not in _WRAPPERS)


def is_dtensor(t: object) -> bool:
    """True for a ``torch.distributed.tensor.DTensor`` (without importing it eagerly)."""
    return type(t).__name__ == "DTensor" and hasattr(t, "placements")


# --- where a local tensor sits in the global one --------------------------------------


@dataclass(frozen=True)
class Layout:
    """The global shape of a parameter and, per dimension, the global indices a local
    tensor holds (``None``: all of them). A plain tensor is its own global tensor."""

    shape: tuple[int, ...]
    index: tuple[torch.Tensor | None, ...]

    def __post_init__(self) -> None:
        if len(self.index) != len(self.shape):
            raise ValueError(
                f"Layout: one index entry per dimension; got {len(self.index)} for shape "
                f"{self.shape}"
            )
        for d, (idx, n) in enumerate(zip(self.index, self.shape, strict=True)):
            if idx is None:
                continue
            if idx.dim() != 1 or idx.dtype != torch.int64:
                raise ValueError(f"Layout: index[{d}] must be a 1-D int64 tensor")
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
                raise ValueError(f"Layout: index[{d}] must lie in [0, {n})")

    @staticmethod
    def full(shape: tuple[int, ...]) -> Layout:
        """A whole tensor of this shape."""
        return Layout(tuple(shape), (None,) * len(shape))

    @staticmethod
    def block(shape: tuple[int, ...], offsets: tuple[int, ...], sizes: tuple[int, ...]) -> Layout:
        """The box ``[offsets, offsets + sizes)`` of a global tensor of ``shape``
        (e.g. a tensor-parallel shard: rows ``rank * n / world ...``)."""
        index = tuple(
            None if (o, s) == (0, n) else torch.arange(o, o + s, dtype=torch.int64)
            for o, s, n in zip(offsets, sizes, shape, strict=True)
        )
        return Layout(tuple(shape), index)

    @staticmethod
    def of_dtensor(t: Any) -> Layout:
        """Per-dim global indices of this rank's shard, for any placements.

        Each dimension's index vector ``arange(n)`` is sharded with the placements that
        split that dimension (``distribute_tensor(..., src_data_rank=None)``: each rank
        cuts its own piece, no communication); a DTensor's shard is the Cartesian
        product of those vectors.
        """
        from torch.distributed.tensor import Replicate, Shard, distribute_tensor
        from torch.distributed.tensor.placement_types import _StridedShard

        mesh, placements = t.device_mesh, tuple(t.placements)
        for p in placements:
            if p.is_partial():
                raise ValueError(
                    f"cannot initialize a DTensor with a Partial placement ({p}); "
                    "use Shard or Replicate placements for parameters"
                )
        index: list[torch.Tensor | None] = []
        local = tuple(t.to_local().shape)
        for d, n in enumerate(t.shape):
            per_mesh: list[Any] = []
            for p in placements:
                if isinstance(p, _StridedShard) and p.dim == d:
                    per_mesh.append(_StridedShard(0, split_factor=p.split_factor))
                elif isinstance(p, Shard) and p.dim == d:
                    per_mesh.append(Shard(0))
                else:
                    per_mesh.append(Replicate())
            if all(isinstance(p, Replicate) for p in per_mesh):
                index.append(None)
                continue
            vec = torch.arange(n, dtype=torch.int64)
            mine = distribute_tensor(vec, mesh, per_mesh, src_data_rank=None).to_local()
            mine = mine.to("cpu")
            if mine.numel() != local[d]:
                raise RuntimeError(
                    f"internal: dim {d} of a {tuple(t.shape)} DTensor with {placements} "
                    f"holds {local[d]} entries locally but the index map has {mine.numel()}"
                )
            index.append(mine)
        return Layout(tuple(t.shape), tuple(index))

    def take(self, full: torch.Tensor) -> torch.Tensor:
        """The local part of a full (global-shape) tensor."""
        out = full
        for d, idx in enumerate(self.index):
            if idx is not None:
                out = out.index_select(d, idx.to(full.device))
        return out


def _dim_indices(layout: Layout, d: int, start: int, length: int) -> torch.Tensor:
    idx = layout.index[d]
    if idx is None:
        return torch.arange(start, start + length, dtype=torch.int64)
    return idx[start:start + length]


def _is_range(v: torch.Tensor) -> bool:
    n = v.numel()
    if n <= 1:
        return True
    return int(v[-1]) - int(v[0]) == n - 1 and bool(torch.all(v[1:] - v[:-1] == 1))


def _runs(layout: Layout, box: list[tuple[int, int]]) -> tuple[np.ndarray, int]:
    """The elements of ``box`` (per-dim local (start, length)) as runs of consecutive
    global flat indices, in C order: (starts, run length)."""
    gshape = layout.shape
    nd = len(gshape)
    if nd == 0:
        return np.zeros(1, dtype=np.int64), 1
    if all(i is None for i in layout.index) and all(
        s == 0 and n == g for (s, n), g in zip(box, gshape, strict=True)
    ):
        return np.zeros(1, dtype=np.int64), math.prod(gshape)  # the whole tensor
    lists = [_dim_indices(layout, d, s, n) for d, (s, n) in enumerate(box)]
    gstride = [math.prod(gshape[d + 1:]) for d in range(nd)]
    d = nd - 1
    while d >= 0 and lists[d].numel() == gshape[d] and (
        layout.index[d] is None or _is_range(lists[d])
    ):
        d -= 1
    if d < 0:
        return np.zeros(1, dtype=np.int64), math.prod(gshape)
    tail = gstride[d]
    if _is_range(lists[d]):
        length, lead = lists[d].numel() * tail, d
        base = int(lists[d][0]) * tail if lists[d].numel() else 0
    else:
        length, lead, base = tail, d + 1, 0
    starts = torch.full((), base, dtype=torch.int64)
    for k in range(lead):
        shape = [1] * lead
        shape[k] = -1
        starts = starts + (lists[k] * gstride[k]).view(shape)
    return starts.reshape(-1).numpy(), length


# --- lanes -> numbers -------------------------------------------------------------------


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@memo(256)
def inside_bounds(a: float, b: float, dtype: torch.dtype) -> tuple[float, float]:
    """The smallest and largest values of ``dtype`` inside [a, b] (a bound that ``dtype``
    cannot represent rounds inward), so that a clamp in ``dtype`` never leaves [a, b].

    >>> inside_bounds(0.1, 0.2, torch.float32)[1] <= 0.2
    True
    """
    def inward(x: float, toward: float) -> float:
        if not math.isfinite(x):
            return x
        t = torch.tensor(x, dtype=torch.float64).to(dtype)
        if (float(t) > x) if toward < x else (float(t) < x):
            t = torch.nextafter(t, torch.tensor(toward, dtype=dtype))
        return float(t)

    return inward(a, math.inf), inward(b, -math.inf)


#: A truncated normal is computed in float32 (erfinv on the grid) when [a, b] holds at
#: least this much of the normal's mass: the float32 grid then resolves the interval as
#: finely as it resolves the plain normal's bulk. Below it (intervals in a tail) the
#: inverse CDF runs in float64, mirrored into the lower tail where Phi keeps its
#: relative resolution. Wide bounds (torch's default a = -2, b = 2 around std 0.02, i.e.
#: +-100 std) hold all the mass and take the float32 path.
_FLOAT32_MIN_MASS = 0.01


#: erfinv of the grid's largest value, 1 - 2^-23 (float32) or 1 - 2^-32 (float64), with
#: room: no value the grid maps lies beyond it (benchmarks/results/design_measurements.md).
_ERFINV_REACH = {False: 3.76, True: 4.49}


@dataclass(frozen=True)
class _Law:
    """A distribution as a map from the grid x to values, computed chunk by chunk."""

    kind: str              # "uniform" | "normal" | "trunc"
    mean: float
    scale: float           # half-width for uniform, std otherwise
    a: float = -math.inf   # truncation bounds in std units (trunc only)
    b: float = math.inf
    lo: float = -math.inf  # the same bounds in value units, as the caller gave them
    hi: float = math.inf

    def wide_math(self) -> bool:
        """Whether float32 tensors need float64 math: a truncation interval in a tail
        (less than _FLOAT32_MIN_MASS of the mass inside)."""
        if self.kind != "trunc":
            return False
        return _ndtr(self.b) - _ndtr(self.a) < _FLOAT32_MIN_MASS

    def fill(self, bits: torch.Tensor, out: torch.Tensor) -> None:
        """Lanes (int32) -> values, written into ``out``. The grid: float32 reads the top
        23 bits as a signed s, x = (2 s + 1) / 2^23; float64 all 32, x = (2 s + 1) / 2^32."""
        wide = out.dtype == torch.float64
        step, offset = (2.0 ** -31, 2.0 ** -32) if wide else (2.0 ** -22, 2.0 ** -23)
        k = bits if wide else bits >> 9
        if self.kind == "uniform":  # mean + scale x, as one multiply-add on s
            out.copy_(k).mul_(step * self.scale).add_(offset * self.scale + self.mean)
            return
        x = out.copy_(k).mul_(step).add_(offset)  # the exact grid
        root2 = math.sqrt(2.0)
        if self.kind == "normal":
            x.erfinv_().mul_(self.scale * root2).add_(self.mean)
            return
        if not self.wide_math():
            ea, eb = math.erf(self.a / root2), math.erf(self.b / root2)
            half, mid = (eb - ea) / 2, (eb + ea) / 2
            if half != 1.0 or mid != 0.0:  # (bounds far out: erf = -1, 1, the identity)
                x.mul_(half).add_(mid)
            x.erfinv_()
            reach = _ERFINV_REACH[wide]
            if not (self.a / root2 <= -reach and self.b / root2 >= reach):
                x.clamp_(self.a / root2, self.b / root2)
            x.mul_(self.scale * root2).add_(self.mean)
        else:
            # Mirror the interval into the lower tail, where Phi keeps its resolution.
            flip = self.a + self.b > 0
            lo, hi = (-self.b, -self.a) if flip else (self.a, self.b)
            pa, pb = _ndtr(lo), _ndtr(hi)
            z = torch.special.ndtri(x.to(torch.float64).mul_((pb - pa) / 2).add_((pb + pa) / 2))
            if flip:
                z = z.neg_()
            out.copy_(z.clamp_(self.a, self.b).mul_(self.scale).add_(self.mean))
        # the scale-and-shift rounds: a value may step over a bound by one ulp (a bound
        # beyond every value the grid reaches, rounding included, needs no clamp)
        span = math.sqrt(2.0) * _ERFINV_REACH[wide] * self.scale
        margin = span + 4 * torch.finfo(out.dtype).eps * (abs(self.mean) + span)
        if not (self.lo <= self.mean - margin and self.hi >= self.mean + margin):
            out.clamp_(*inside_bounds(self.lo, self.hi, out.dtype))


# --- the stream -------------------------------------------------------------------------

class Stream:
    """The random stream of one parameter, keyed by ``(seed, canonical name)``.

    Pass it as ``generator=`` to an :mod:`initscope.init` function. The first tensor it
    fills (or the one given to :meth:`bind`) is *the parameter*: element ``i`` of it,
    or of any slice of it, is drawn from lane ``i``, and for a ``DTensor`` ``i`` is the
    element's index in the global tensor. Tensors that are not the parameter or a slice
    of it (scratch space, e.g. the Gaussian matrix of an orthogonal init) take numbered
    sub-streams, one per call, so a deterministic function gets deterministic draws.

    Args:
        seed: any int.
        name: the parameter's qualified name (wrapper prefixes are stripped).
        substream: a further label (an int or str) for more independent streams.
    """

    def __init__(self, seed: int, name: str = "", *, substream: int | str = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"Stream: seed must be an int; got {type(seed).__name__}")
        if not isinstance(name, str):
            raise TypeError(f"Stream: name must be a str; got {type(name).__name__}")
        if not isinstance(substream, (int, str)) or isinstance(substream, bool):
            raise TypeError(
                f"Stream: substream must be an int or str; got {type(substream).__name__}"
            )
        self.seed, self.name, self.substream = seed, canonical_name(name), substream
        self.key = key_of("initscope", RNG_VERSION, seed, self.name, substream)
        self._base: torch.Tensor | None = None
        self._layout: Layout | None = None
        self._calls = 0
        # (tensor identity, sum, sum of squares) of the last fill that wrote a whole
        # float32/64 CPU tensor in place, summed chunk by chunk while each was in cache
        self._sums: tuple[tuple[int, int, int, int], float, float] | None = None
        self._keep_sums = False

    def _audited(self) -> Stream:
        """Also sum each fill's values as they are drawn, for :meth:`moments_of`
        (initialize()'s audit then needs no pass of its own over the tensor)."""
        self._keep_sums = True
        return self

    def __repr__(self) -> str:
        return f"Stream(seed={self.seed}, name={self.name!r}, substream={self.substream!r})"

    # binding -----------------------------------------------------------------------

    def bind(self, tensor: torch.Tensor, layout: Layout | None = None) -> Stream:
        """Make ``tensor`` (a plain tensor or a ``DTensor``) the parameter this stream
        indexes; returns ``self``.

        ``layout`` places a plain tensor that is one shard of a larger parameter (your
        own tensor-parallel code): its global shape and the global indices it holds per
        dimension. A ``DTensor`` knows its layout.
        """
        if layout is not None:
            if is_dtensor(tensor):
                raise ValueError("bind: a DTensor knows its layout; do not pass one")
            want = tuple(len(i) if i is not None else n
                         for i, n in zip(layout.index, layout.shape, strict=True))
            if tuple(tensor.shape) != want:
                raise ValueError(
                    f"bind: the layout holds a {want} block of {layout.shape}, but the "
                    f"tensor has shape {tuple(tensor.shape)}"
                )
            self._base, self._layout = tensor, layout
        elif is_dtensor(tensor):
            self._base = tensor.to_local()  # type: ignore[attr-defined]
            self._layout = Layout.of_dtensor(tensor)
        else:
            self._base = tensor
            self._layout = Layout.full(tuple(tensor.shape))
        self._calls = 0
        return self

    @property
    def layout(self) -> Layout | None:
        """Where the bound tensor sits in the global parameter (None before binding)."""
        return self._layout

    def global_shape(self, tensor: torch.Tensor) -> tuple[int, ...]:
        """The shape fans must come from: the global parameter's when ``tensor`` is the
        shard this stream is bound to, else ``tensor``'s own."""
        base = self._base
        if base is not None and self._layout is not None and not is_dtensor(tensor) and (
            tensor.data_ptr() == base.data_ptr() and tensor.shape == base.shape
        ):
            return self._layout.shape
        return tuple(tensor.shape)

    def for_full(self) -> Stream:
        """A fresh stream with this key, to compute a whole (global-shape) parameter."""
        twin = Stream.__new__(Stream)
        twin.seed, twin.name, twin.substream, twin.key = (
            self.seed, self.name, self.substream, self.key)
        twin._base, twin._layout, twin._calls = None, None, 0
        twin._sums, twin._keep_sums = None, self._keep_sums
        return twin

    def _box(self, t: torch.Tensor) -> list[tuple[int, int]] | None:
        """``t`` as a box (per-dim start, length) of the bound tensor, or None."""
        base = self._base
        assert base is not None
        if t.dim() != base.dim() or t.device != base.device:
            return None
        if t.data_ptr() == base.data_ptr() and t.shape == base.shape and (
            t.stride() == base.stride()
        ):
            return [(0, n) for n in t.shape]
        if not base.is_contiguous() or t.numel() == 0 or t.stride() != base.stride():
            return None
        if t.untyped_storage().data_ptr() != base.untyped_storage().data_ptr():
            return None
        offset = int(t.storage_offset()) - int(base.storage_offset())
        box = []
        for n, stride, limit in zip(t.shape, base.stride(), base.shape, strict=True):
            start, offset = divmod(offset, int(stride)) if stride else (0, offset)
            if start < 0 or start + n > limit:
                return None
            box.append((start, n))
        return box if offset == 0 else None

    def _source(self, t: torch.Tensor) -> tuple[tuple[int, int], Layout, list[tuple[int, int]]]:
        """(key, layout, box) to draw ``t`` from."""
        box = self._box(t)
        if box is not None:
            assert self._layout is not None
            return self.key, self._layout, box
        self._calls += 1
        key = key_of("initscope", RNG_VERSION, self.seed, self.name, self.substream,
                     "scratch", self._calls)
        return key, Layout.full(tuple(t.shape)), [(0, n) for n in t.shape]

    # drawing ---------------------------------------------------------------------------

    def _fill(self, tensor: torch.Tensor, law: _Law) -> torch.Tensor:
        if self._base is None:
            self.bind(tensor)
        t = tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined]
        if t.numel() == 0 or t.is_meta:
            return tensor
        # Same storage, outside autograd: the views the jobs write through are taken on
        # helper threads, where grad mode is on whatever the caller's (a parameter's
        # view made under the caller's no_grad may not be written there).
        t = t.detach()
        key, layout, box = self._source(t)
        starts, length = _runs(layout, box)
        work = torch.float64 if t.dtype == torch.float64 else torch.float32
        direct = t.dtype == work and t.is_contiguous() and t.device.type == "cpu"
        out = t.view(-1) if direct else torch.empty(t.numel(), dtype=work)
        # Jobs of at most _CHUNK elements, _PARTS of them from _PARALLEL_MIN up (4 per
        # thread on two cores). Their size follows the tensor alone, not the thread count,
        # so the sums kept per job (moments_of) are the same on any machine.
        large = t.numel() >= _PARALLEL_MIN
        parallel = large and has_helpers()
        chunk = min(_CHUNK, max(1 << 15, -(-t.numel() // (_PARTS if large else 1))))
        jobs = _jobs(starts, length, chunk)

        sums: list[tuple[float, float]] = []
        keep = direct and self._keep_sums

        def run(job: tuple[int, np.ndarray, int]) -> None:
            pos, run_starts, run_len = job
            bits = lanes(key, int(run_starts[0]), run_len) if len(run_starts) == 1 else (
                lanes_for_runs(key, run_starts, run_len))
            piece = out[pos:pos + bits.size]
            law.fill(torch.from_numpy(bits.view(np.int32)), piece)
            if keep:
                sums.append((float(piece.sum()), float(torch.dot(piece, piece))))

        if parallel and len(jobs) > 1:
            run_shared([functools.partial(run, job) for job in jobs])  # one torch thread each
        else:  # kept sums: each job's in the same order as on a helper
            with one_torch_thread() if keep else contextlib.nullcontext():
                for job in jobs:
                    run(job)
        if not direct:
            t.copy_(out.view(t.shape).to(t.device))
        self._sums = (_identity(t), math.fsum(a for a, _ in sums),
                      math.fsum(b for _, b in sums)) if keep else None
        return tensor

    def moments_of(self, t: torch.Tensor) -> tuple[float, float] | None:
        """(mean, mean square) of ``t`` if the stream keeps its sums (initialize()'s), its
        last fill wrote all of ``t`` and nothing has written to it since (its version
        counter says so); else None. Read off the chunks as they were drawn, which
        spares a caller's audit a pass over memory. The record is of memory (address,
        size, dtype, version), not of a Python object: ask about the tensor just drawn,
        or a view of all of it, while it lives."""
        if self._sums is None or self._sums[0] != _identity(t):
            return None
        n = t.numel()
        return self._sums[1] / n, self._sums[2] / n

    def uniform_(self, tensor: torch.Tensor, low: float, high: float) -> torch.Tensor:
        """Fill with U(low, high) (the open interval, up to rounding)."""
        return self._fill(tensor, _Law("uniform", (low + high) / 2, (high - low) / 2))

    def normal_(self, tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
        """Fill with N(mean, std^2) by the inverse CDF."""
        return self._fill(tensor, _Law("normal", mean, std))

    def trunc_normal_(self, tensor: torch.Tensor, mean: float, std: float, a: float,
                      b: float) -> torch.Tensor:
        """Fill with N(mean, std^2) conditioned on [a, b], by the inverse CDF."""
        if std == 0:
            return tensor.fill_(min(max(mean, a), b))
        return self._fill(tensor, _Law("trunc", mean, std, (a - mean) / std, (b - mean) / std,
                                       a, b))

    def rows_mask(self, rows: int, cols: int, k: int, device: torch.device) -> torch.Tensor:
        """A (rows, cols) mask with ``k`` True entries per column at uniformly random rows
        (the k smallest of a column of counter uniforms)."""
        scores = self.uniform_(torch.empty(rows, cols, device=device), 0.0, 1.0)
        mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
        if k:
            mask.scatter_(0, scores.topk(k, dim=0, largest=False).indices, True)
        return mask


def _identity(t: torch.Tensor) -> tuple[int, int, int, int]:
    """Which memory, how much of it, how it is cast and how often it was written to."""
    return (t.data_ptr(), t.numel(), hash(t.dtype), t._version)


def _jobs(starts: np.ndarray, length: int, chunk: int) -> list[tuple[int, np.ndarray, int]]:
    """Split runs into jobs of about ``chunk`` elements: (output position, run starts,
    run length)."""
    jobs: list[tuple[int, np.ndarray, int]] = []
    pos = 0
    if length >= chunk:
        for s in starts:
            for off in range(0, length, chunk):
                n = min(chunk, length - off)
                jobs.append((pos, np.array([int(s) + off], dtype=np.int64), n))
                pos += n
        return jobs
    per = max(1, chunk // max(length, 1))
    for i in range(0, len(starts), per):
        group = starts[i:i + per]
        jobs.append((pos, group, length))
        pos += len(group) * length
    return jobs


def on_full(tensor: torch.Tensor, fill: Any, generator: Any) -> torch.Tensor:
    """Run ``fill(full, generator)`` on a plain tensor of ``tensor``'s global shape and keep
    this rank's part, for a ``DTensor``; plain tensors are filled in place.

    For initializers that need the whole parameter (orthogonal, delta-orthogonal, sparse,
    dirac, eye, a custom fill): every rank that holds a shard computes the same whole
    parameter from the counter stream (memory: one full parameter, transiently; compute:
    the whole initializer on every rank; no communication) and keeps its own box.
    """
    if isinstance(generator, Stream) and generator.layout is None:
        generator.bind(tensor)  # the parameter, not the first scratch tensor drawn
    if not is_dtensor(tensor):
        return fill(tensor, generator)  # type: ignore[no-any-return]
    local = tensor.to_local()  # type: ignore[attr-defined]
    work = torch.empty(tuple(tensor.shape), dtype=local.dtype, device=local.device)
    gen = generator.for_full().bind(work) if isinstance(generator, Stream) else generator
    fill(work, gen)
    layout = generator.layout if isinstance(generator, Stream) and generator.layout else (
        Layout.of_dtensor(tensor))
    with torch.no_grad():
        local.copy_(layout.take(work))
    return tensor
