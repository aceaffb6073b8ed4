"""Per-layer statistics of one tensor, computed where it is produced (no tensor kept).

A tensor of a layer is viewed as (samples, units): units are the last axis of a Linear
or attention output and the channel axis of a convolution's; every other axis (batch,
sequence, space) counts as samples. Moments, saturation and dead units read every value
in place (one pass each, no reshaped copy); symmetry, effective rank and the histogram
read a random subsample of at most MAX_ROWS_RANK samples, gathered without copying the
rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._core.activations import Activation
from .._tensor_moments import as_float as _float
from .._tensor_moments import rounding_floor
from ._linalg import eigvalsh

#: Samples (rows) used for the effective rank, symmetry and the histogram.
MAX_ROWS_RANK = 512
#: Cosine similarity above which two units count as identical copies.
IDENTICAL_COSINE = 0.999
#: Above this many times the rows wanted, rows are drawn with replacement, deduplicated
#: and cut to size instead of permuting all of them (cheaper, and twice the draws leave
#: enough distinct rows at this ratio: benchmarks/results/design_measurements.md).
_PERMUTE_ABOVE = 4


def row_index(shape: torch.Size | tuple[int, ...], channel_dim: int,
              generator: torch.Generator, limit: int = MAX_ROWS_RANK) -> torch.Tensor | None:
    """Which samples of a tensor of ``shape`` to read: None for all of them when there are
    at most ``limit``, else a sorted, uniformly random subset of exactly ``limit``."""
    if len(shape) < 2:
        return None
    rows = math.prod(shape) // shape[channel_dim]
    if rows <= limit:
        return None
    idx = None
    if rows > _PERMUTE_ABOVE * limit:  # a permutation of all rows would cost the most
        idx = torch.unique(torch.randint(rows, (2 * limit,), generator=generator))
        idx = idx[torch.randperm(idx.numel(), generator=generator)[:limit]]
    if idx is None or idx.numel() < limit:
        idx = torch.randperm(rows, generator=generator)[:limit]
    return idx.sort().values


def take_rows(t: torch.Tensor, channel_dim: int, index: torch.Tensor | None,
              limit: int = MAX_ROWS_RANK) -> torch.Tensor:
    """The samples ``index`` (of :func:`row_index`; None: all) of ``t`` as a float
    (samples, units) matrix, gathered without copying the rest of ``t``."""
    t = t.detach()
    if t.dim() == 1:
        return _float(t[:limit]).reshape(-1, 1)
    cdim = channel_dim % t.dim()
    # (before, units, after): views of a contiguous tensor; a sample is (before, after)
    t3 = t.reshape(math.prod(t.shape[:cdim]), t.shape[cdim], math.prod(t.shape[cdim + 1:]))
    if index is None:
        return _float(t3.permute(0, 2, 1).reshape(-1, t3.shape[1]))
    index = index.to(t.device)
    if t3.shape[2] == 1:  # units last (linear, attention): one index_select of rows
        return _float(t3[:, :, 0].index_select(0, index))
    return _float(t3[index // t3.shape[2], :, index % t3.shape[2]])


#: Within this distance of an end of a bounded activation's range a value counts as
#: saturated: |tanh| > 0.99, sigmoid outside [0.01, 0.99] (Glorot & Bengio 2010 sec. 3.1
#: look at the same regions).
SAT_EDGE = 0.01


def saturated_fraction(act: torch.Tensor, spec: Activation | None) -> float | None:
    """Fraction of saturated values (within SAT_EDGE of an end of the activation's
    range, ``spec.bounds``); None for activations without bounds."""
    if spec is None or spec.bounds is None:
        return None
    low, high = spec.bounds
    outside = (act < low + SAT_EDGE) | (act > high - SAT_EDGE)
    return int(torch.count_nonzero(outside)) / act.numel()


def dead_fraction(act: torch.Tensor, spec: Activation | None, channel_dim: int = -1,
                  ) -> float | None:
    """Fraction of units that are zero for the whole batch (activations that are 0 on a
    half-line only: ``spec.dies``)."""
    if spec is None or not spec.dies:
        return None
    if act.dim() < 2:
        return float(bool(torch.all(act == 0)))
    cdim = channel_dim % act.dim()
    dims = tuple(d for d in range(act.dim()) if d != cdim)
    # ReLU's outputs are >= 0: a unit is all zero exactly when its largest value is
    largest = act.amax(dim=dims)
    return 1.0 - int(torch.count_nonzero(largest)) / largest.numel()


#: Units used for symmetry and the effective rank (a random subsample beyond this): the
#: eigensolver's cost grows as its cube.
MAX_UNITS = 64


@dataclass(frozen=True)
class UnitGram:
    """What symmetry and the effective rank need of a (samples, units) matrix X, in
    float64: the Gram matrix of the centered X, its column means, the number of samples,
    whether every value was finite and the eigenvalue below which the centered Gram
    matrix holds only rounding (``floor``). X^T X = centered + n mu mu^T (without
    cancellation)."""

    centered: torch.Tensor
    mean: torch.Tensor
    samples: int
    finite: bool = True
    floor: float = 0.0


def unit_gram(rows: torch.Tensor, generator: torch.Generator,
              dtype: torch.dtype | None = None) -> UnitGram | None:
    """One matrix product over at most MAX_ROWS_RANK samples and MAX_UNITS (random)
    units of ``rows``, in float64 (no overflow or underflow for any float32 value, no
    rescaling); None for fewer than two samples. ``dtype``: that of the tensor the rows
    come from (its rounding sets the floor; default: the rows' own)."""
    x = rows[: MAX_ROWS_RANK]
    if x.shape[1] > MAX_UNITS:  # index_select: faster than x[:, idx]
        x = x.index_select(1, torch.randperm(x.shape[1], generator=generator)[:MAX_UNITS])
    if x.shape[0] < 2:
        return None
    floor = rounding_floor(dtype if dtype is not None else x.dtype)
    x = x.double()  # float32 products are exact in float64: the Gram is the same anywhere
    flat = x.reshape(-1)
    total = float(torch.dot(flat, flat))  # NaN or inf exactly when a value is not finite
    mu = x.mean(dim=0)
    xc = x - mu
    return UnitGram(xc.T @ xc, mu, x.shape[0], math.isfinite(total), floor * floor * total)


def _batches(grams: list[UnitGram | None]) -> list[tuple[list[int], list[UnitGram]]]:
    """The Gram matrices grouped by size, with their positions: one batched call each."""
    by_size: dict[int, list[int]] = {}
    for i, g in enumerate(grams):
        if g is not None:
            by_size.setdefault(g.centered.shape[0], []).append(i)
    return [(ix, [grams[i] for i in ix]) for ix in by_size.values()]  # type: ignore[misc]


def identical_fractions(grams: list[UnitGram | None]) -> list[float]:
    """Per Gram matrix, the fraction of units that are an identical copy of another unit
    across the samples: cosine > IDENTICAL_COSINE and equal norms (within 0.1%), or both
    zero (parallel units of different sizes are a rank problem, not symmetry); NaN where
    a value was not finite."""
    out = [0.0] * len(grams)
    for members, gs in _batches(grams):
        if gs[0].centered.shape[0] < 2:
            continue
        mu = torch.stack([g.mean for g in gs])
        n = torch.tensor([float(g.samples) for g in gs], dtype=torch.float64)[:, None, None]
        raw = torch.stack([g.centered for g in gs]) + n * mu[:, :, None] * mu[:, None, :]
        norms = raw.diagonal(dim1=1, dim2=2).clamp_min(0.0).sqrt()
        a, b = norms[:, :, None], norms[:, None, :]
        cos = raw / (a * b).clamp_min(1e-300)
        cos.diagonal(dim1=1, dim2=2).fill_(-1.0)
        equal_size = (a - b).abs() <= 1e-3 * torch.maximum(a, b)
        same = ((cos > IDENTICAL_COSINE) & equal_size).any(dim=2)
        zero = norms == 0
        same |= zero & (zero.sum(dim=1, keepdim=True) > 1)  # zero units copy each other
        for i, g, f in zip(members, gs, same.double().mean(dim=1).tolist(), strict=True):
            out[i] = f if g.finite else math.nan
    return out


def effective_ranks(grams: list[UnitGram | None]) -> list[float]:
    """Per Gram matrix, exp(entropy of the normalized singular values) of the centered
    matrix (Roy & Vetterli 2007); singular values at the rounding floor count as 0 (rank
    0 when the samples do not differ beyond rounding). NaN, "not measurable", where a
    value was not finite or no solver converged (:func:`._linalg.eigvalsh`: one batched
    call per size)."""
    out = [0.0] * len(grams)
    for members, gs in _batches(grams):
        spectra = eigvalsh(torch.stack([g.centered for g in gs]))
        for i, g, ev in zip(members, gs, spectra, strict=True):
            if ev is None:
                out[i] = math.nan
                continue
            # descending; a centered matrix of n samples has rank <= n - 1: the rest are
            # round-off, as is anything at the floor
            ev = ev[::-1][: max(1, g.samples - 1)]
            s = np.sqrt(ev[ev > g.floor])
            total = float(s.sum())
            if total == 0.0:
                continue
            p = s / total
            out[i] = float(np.exp(-(p * np.log(p)).sum()))
    return out


def identical_fraction(x: torch.Tensor, generator: torch.Generator) -> float:
    """:func:`identical_fractions` of one (samples, units) matrix."""
    return identical_fractions([unit_gram(x, generator)])[0]


#: Bins of the per-layer histograms (Glorot & Bengio 2010, Figs. 6-7).
HIST_BINS = 60
#: Values per histogram: at most this many (whole samples), ~270 per bin on average.
HIST_VALUES = 1 << 14


class Histogram:
    """Counts over HIST_BINS equal bins of [lo, hi] of a sample of a layer's values,
    unpacking as ``(counts, lo, hi)``. diagnose() keeps the sample (at most HIST_VALUES
    float32 values, 64 KiB) and bins it when the counts are first read, by the figures:
    binning values that crowd into a few bins (half of a ReLU layer's are 0) is a serial
    count, which done for every layer during the pass showed in its time."""

    __slots__ = ("_counts", "hi", "lo", "sample")

    def __init__(self, sample: torch.Tensor, lo: float, hi: float) -> None:
        self.sample, self.lo, self.hi = sample, lo, hi
        self._counts: list[float] | None = None

    @property
    def counts(self) -> list[float]:
        if self._counts is None:
            # bin index by one affine map (torch.histc's rule: the top edge joins the
            # last bin)
            scale = HIST_BINS / (self.hi - self.lo)
            idx = ((self.sample - self.lo) * scale).clamp_(0, HIST_BINS - 1).long()
            self._counts = [float(c) for c in torch.bincount(idx, minlength=HIST_BINS).tolist()]
        return self._counts

    def __iter__(self) -> Iterator[Any]:
        return iter((self.counts, self.lo, self.hi))

    def __repr__(self) -> str:
        return f"Histogram({self.sample.numel()} values in [{self.lo:.3g}, {self.hi:.3g}])"


def histogram(x: torch.Tensor, spec: Activation | None = None,
              mean_square: float | None = None) -> Histogram:
    """A :class:`Histogram` of (at most HIST_VALUES of) the values of ``x``, copied out:
    over the activation's range when it is bounded (``spec.bounds``), else +-4
    root-mean-square around 0 (``mean_square`` of all values when the caller has it)."""
    x = x.reshape(-1)[:HIST_VALUES].to(torch.float32, copy=True)  # x may be a whole layer
    lo_hi = spec.bounds if spec is not None else None
    if lo_hi is None:
        ms = mean_square if mean_square is not None else float(x.pow(2).mean())
        r = 4.0 * math.sqrt(ms) if math.isfinite(ms) else 0.0
        lo_hi = (-r, r) if r > 0 else (-1.0, 1.0)
    return Histogram(x, *lo_hi)
