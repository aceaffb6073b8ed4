"""Moments of every value of a tensor, each in one reduction without a temporary copy
(the diagnostics read them off activations, gradients and weights; the theory off
weights)."""

from __future__ import annotations

import functools
import math

import torch

__all__ = ["as_float", "mean_square", "moments", "moments_in_parts", "nonfinite_fraction",
           "rounding_floor", "variance"]


def as_float(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _sum_of_squares(t: torch.Tensor) -> float:
    # BLAS dot of a contiguous tensor with itself: one pass at the speed of sum(), and
    # more accurate than vector_norm()**2 (benchmarks/results/design_measurements.md);
    # vector_norm for strided tensors, where a flat view would copy
    if t.is_contiguous():
        flat = t.view(-1)
        total = float(torch.dot(flat, flat))
    else:
        total = float(torch.linalg.vector_norm(t)) ** 2
    if math.isinf(total) and t.dtype != torch.float64:
        # finite values whose float32 squares overflow (|x| > 1.8e19): in float64
        total = float(torch.linalg.vector_norm(t, dtype=torch.float64)) ** 2
    return total


def _sum(t: torch.Tensor) -> float:
    total = float(t.sum())
    if math.isinf(total) and t.dtype != torch.float64:
        total = float(t.sum(dtype=torch.float64))
    return total


def moments(t: torch.Tensor) -> tuple[float, float]:
    """(mean, mean square) of every value of ``t``: two reductions, no temporary
    (float64 where float32 sums overflow); NaN for an empty tensor."""
    t = as_float(t)
    n = t.numel()
    if n == 0:
        return math.nan, math.nan
    return _sum(t) / n, _sum_of_squares(t) / n


#: moments_in_parts: elements per part (fixed, so the sums do not depend on the thread
#: count), and the size from which the parts are shared with the helper threads.
_PART = 1 << 18
_SHARED_FROM = 1 << 21


def moments_in_parts(t: torch.Tensor) -> tuple[float, float]:
    """:func:`moments` of a large contiguous tensor, summed in parts of a fixed size on
    the calling thread and the helper threads (each part on one torch thread, the parts'
    sums added exactly by ``math.fsum``): the same two numbers on any thread count, in
    half the time of one thread on two cores. Other tensors: :func:`moments` on one
    torch thread.

    >>> moments_in_parts(torch.ones(3_000_000))
    (1.0, 1.0)
    """
    from ._threads import one_torch_thread, run_shared

    t = as_float(t)
    n = t.numel()
    if n < _SHARED_FROM or not t.is_contiguous():
        with one_torch_thread():
            return moments(t)
    flat = t.view(-1)

    def part(start: int) -> tuple[float, float]:
        piece = flat[start:start + _PART]
        return _sum(piece), _sum_of_squares(piece)

    sums = run_shared([functools.partial(part, s) for s in range(0, n, _PART)])
    return math.fsum(a for a, _ in sums) / n, math.fsum(b for _, b in sums) / n


def mean_square(t: torch.Tensor) -> float:
    """Mean of the squares of every value of ``t``: one reduction, no temporary; NaN
    for an empty tensor."""
    t = as_float(t)
    return _sum_of_squares(t) / t.numel() if t.numel() else math.nan


def nonfinite_fraction(t: torch.Tensor) -> float:
    """Fraction of the values of ``t`` that are NaN or +-inf (0 for an empty tensor)."""
    n = t.numel()
    return int(torch.count_nonzero(~torch.isfinite(t.detach()))) / n if n else 0.0


#: E[x^2] - E[x]^2 loses about log10(1 / (1 - this)) digits to cancellation; beyond it
#: the variance is computed by torch.var's two-pass rule instead.
_CANCELLATION = 0.5


def variance(t: torch.Tensor, known: tuple[float, float] | None = None) -> float:
    """Unbiased variance of every value, as torch.var: from the two moments (one pass
    each, no temporary; ``known``: the (mean, mean square) when the caller has them)
    when the mean is small against the spread, as for weights and gradients; by
    torch.var when the mean dominates (a constant fill, sigmoid outputs), where
    E[x^2] - E[x]^2 would cancel."""
    n = t.numel()
    if n < 2:
        return math.nan
    m, q = known if known is not None else moments(t)
    if m * m > _CANCELLATION * q:
        return float(as_float(t).var())
    return (q - m * m) * n / (n - 1)


#: Variation across samples below this fraction of a tensor's root mean square is
#: rounding, not signal: float32 sums of a few thousand terms carry ~sqrt(n) x 6e-8
#: relative error, and a value rounded to a narrower dtype its own epsilon. Rounding noise
#: differs from one CPU (and BLAS kernel) to the next: below this floor diagnose's
#: effective rank counts it as nothing (the same rank everywhere), and lsuv refuses to
#: scale a layer up by the inverse of its noise.
ROUNDING_FLOOR_FLOAT32 = 64 * torch.finfo(torch.float32).eps


def rounding_floor(dtype: torch.dtype) -> float:
    """The relative spread below which variation across samples of a tensor of
    ``dtype`` counts as rounding (see ROUNDING_FLOOR_FLOAT32)."""
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(ROUNDING_FLOOR_FLOAT32, eps)
