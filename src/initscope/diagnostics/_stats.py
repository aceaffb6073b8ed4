"""Per-layer statistics of one tensor, computed where it is produced (no tensor kept).

A tensor of a layer is viewed as (samples, units): units are the last axis of a Linear
or attention output and the channel axis of a convolution's; every other axis (batch,
sequence, space) counts as samples.
"""

from __future__ import annotations

import math

import torch

#: Units compared for symmetry (pairwise cosine): a random subsample keeps it O(1).
MAX_UNITS_COMPARED = 128
#: Rows used for the effective rank and for symmetry.
MAX_ROWS_RANK = 512
#: Cosine similarity above which two units count as identical copies.
IDENTICAL_COSINE = 0.999


def as_samples_by_units(t: torch.Tensor, channel_dim: int) -> torch.Tensor:
    t = t.detach()
    if t.dim() == 1:
        return t.reshape(-1, 1).float()
    return t.movedim(channel_dim, -1).reshape(-1, t.shape[channel_dim]).float()


def second_moment(x: torch.Tensor) -> float:
    return float(x.pow(2).mean())


def saturated_fraction(act: torch.Tensor, name: str, low: float, high: float) -> float | None:
    """Fraction of saturated values: |tanh| > high, sigmoid outside (low, high); None for
    activations that do not saturate."""
    base = name.split("(")[0]
    if base in ("tanh", "hardtanh", "softsign", "erf"):
        return float((act.abs() > high).float().mean())
    if base in ("sigmoid", "hardsigmoid"):
        return float(((act < low) | (act > high)).float().mean())
    return None


def dead_fraction(act: torch.Tensor, name: str) -> float | None:
    """Fraction of units that are zero for the whole batch (ReLU-like only)."""
    if name.split("(")[0] not in ("relu", "relu6"):
        return None
    return float((act.abs().amax(dim=0) == 0).float().mean())


def identical_fraction(x: torch.Tensor, generator: torch.Generator) -> float:
    """Fraction of (a subsample of) units that are an identical copy of another unit
    across the samples: cosine > IDENTICAL_COSINE and equal norms (within 0.1%), or both
    zero. (Parallel units of different sizes are a rank problem, not symmetry.)"""
    units = x.shape[1]
    if units < 2:
        return 0.0
    if units > MAX_UNITS_COMPARED:
        idx = torch.randperm(units, generator=generator)[:MAX_UNITS_COMPARED]
        x = x[:, idx]
    x = x[: MAX_ROWS_RANK]
    norms = x.norm(dim=0)
    zero = norms == 0
    unit = x / norms.clamp_min(1e-30)
    cos = unit.T @ unit
    cos.fill_diagonal_(-1.0)
    bigger = torch.maximum(norms[:, None], norms[None, :])
    equal_size = (norms[:, None] - norms[None, :]).abs() <= 1e-3 * bigger
    same = ((cos > IDENTICAL_COSINE) & equal_size).any(dim=1)
    if zero.sum() > 1:  # all-zero units are copies of each other
        same |= zero
    return float(same.float().mean())


#: Units used for the effective rank (a random subsample beyond this).
MAX_UNITS_RANK = 128


def effective_rank(x: torch.Tensor, generator: torch.Generator | None = None) -> float:
    """exp(entropy of the normalized singular values) of the centered (samples, units)
    matrix (Roy & Vetterli 2007), over at most MAX_ROWS_RANK samples and MAX_UNITS_RANK
    units; the singular values come from the eigenvalues of the smaller Gram matrix."""
    x = x[: MAX_ROWS_RANK]
    if x.shape[1] > MAX_UNITS_RANK:
        x = x[:, torch.randperm(x.shape[1], generator=generator)[:MAX_UNITS_RANK]]
    x = x - x.mean(dim=0, keepdim=True)
    if x.shape[0] < 2:
        return 0.0
    # float32 is plenty for an entropy of singular values (scaled to unit size first)
    xf = x.float()
    xf = xf / xf.abs().amax().clamp_min(1e-30)
    gram = xf.T @ xf if x.shape[1] <= x.shape[0] else xf @ xf.T
    s = torch.linalg.eigvalsh(gram).clamp_min(0.0).sqrt()
    total = float(s.sum())
    if total == 0.0 or not math.isfinite(total):
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


#: Bins of the per-layer histograms (Glorot & Bengio 2010, Figs. 6-7).
HIST_BINS = 60
#: Values per histogram: the first this many (whole samples), ~270 per bin on average.
HIST_VALUES = 1 << 14
_BOUNDED = {"tanh": (-1.0, 1.0), "hardtanh": (-1.0, 1.0), "softsign": (-1.0, 1.0),
            "erf": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "hardsigmoid": (0.0, 1.0)}


def histogram(x: torch.Tensor, name: str = "") -> tuple[list[float], float, float]:
    """Counts over HIST_BINS equal bins: the activation's range when it is bounded,
    else +-4 root-mean-square around 0."""
    lo_hi = _BOUNDED.get(name.split("(")[0])
    if lo_hi is None:
        r = 4.0 * math.sqrt(float(x.pow(2).mean())) or 1.0
        lo_hi = (-r, r)
    lo, hi = lo_hi
    x = x.reshape(-1)[:HIST_VALUES]
    counts = torch.histc(x.float().clamp(lo, hi), bins=HIST_BINS, min=lo, max=hi)
    return counts.tolist(), lo, hi
