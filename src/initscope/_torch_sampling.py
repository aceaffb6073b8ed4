"""Sampling shell for torch: fill a tensor in place from a :class:`Draw`.

Every function validates first and writes last, so a bad call leaves the tensor as it
was. Half-precision tensors are sampled in float32 and cast once (torch's own samplers
round bounds and draws in bf16). Meta tensors and zero-element tensors pass through.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._core._cache import memo
from ._core.fans import Fans
from ._core.scaling import Draw, VarianceScaling
from ._gain import real_number
from .rng import Stream, _ndtr, inside_bounds, is_dtensor

#: What a sampler accepts as ``generator``: torch's, initscope's counter-based stream, or
#: None (torch's global generator).
Source = torch.Generator | Stream | None

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_WIDE = (torch.float32, torch.float64)
#: An interval wider than this times its largest magnitude holds float32 values (their
#: relative spacing is 1.2e-7).
_RELATIVE_GAP = 1e-6


def check_floating(tensor: torch.Tensor, fn: str) -> None:
    """Raise unless ``tensor`` is a real floating-point tensor."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{fn}: expected a torch.Tensor; got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(
            f"{fn}: expected a floating-point tensor (float16, bfloat16, float32, float64);"
            f" got dtype {tensor.dtype}. Initialize a float tensor and cast it if you must."
        )


def check_number(fn: str, name: str, value: object, *, positive: bool = False) -> float:
    if type(value) is float and math.isfinite(value) and (value > 0 or not positive):
        return value  # the common case, first (a per-call cost small tensors feel)
    v = float(value) if type(value) is int else real_number(value)  # (int: no ABC check)
    if v is None or not math.isfinite(v):
        raise ValueError(f"{fn}: {name} must be a finite number; got {value!r}")
    if positive and v <= 0:
        raise ValueError(f"{fn}: {name} must be > 0; got {value!r}")
    return v


def check_seed(fn: str, seed: object) -> int:
    """``seed`` as an int that ``torch.Generator.manual_seed`` takes: [-2^63, 2^64)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{fn}: seed must be an int; got {type(seed).__name__}")
    if not -(2**63) <= int(seed) < 2**64:
        raise ValueError(f"{fn}: seed must lie in [-2**63, 2**64) (a 64-bit seed); got {seed}")
    return int(seed)


#: The smallest largest finite value of the floating dtypes: values within it fit all.
FLOAT16_MAX = torch.finfo(torch.float16).max


def check_in_range(fn: str, tensor: torch.Tensor, low: float, high: float) -> None:
    """Refuse values that ``tensor``'s dtype cannot hold: [low, high] must lie inside its
    finite range, or the fill would write inf (``normal_(std=1e300)`` on float32)."""
    if (low >= -FLOAT16_MAX and high <= FLOAT16_MAX) or not tensor.dtype.is_floating_point:
        return  # every floating dtype holds them: the common case, first
    top = torch.finfo(tensor.dtype).max
    if not (-top <= low and high <= top):
        raise ValueError(
            f"{fn}: values up to {max(abs(low), abs(high)):.3g} are beyond {tensor.dtype}'s "
            f"range (largest {top:.3g}): they would be written as inf")


def skip(tensor: torch.Tensor) -> bool:
    """True where there is nothing to write: meta tensors and zero-element tensors."""
    return tensor.is_meta or tensor.numel() == 0


# A pure function of hashable arguments, cached: keeps an initializer's per-call overhead
# near torch.nn.init's on small tensors.
@memo(4096)
def draw_for(rule: VarianceScaling, f: Fans) -> Draw:
    """``rule.draw(f)``, cached."""
    return rule.draw(f)


def _work_dtype(tensor: torch.Tensor) -> torch.dtype:
    return torch.float32 if tensor.dtype in _LOW_PRECISION else tensor.dtype


def _into(tensor: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    if values is not tensor:
        tensor.copy_(values)
    return tensor


def _buffer(tensor: torch.Tensor) -> torch.Tensor:
    """Where to sample: the tensor itself when it is float32/64 and contiguous."""
    if tensor.dtype not in _LOW_PRECISION and tensor.is_contiguous():
        return tensor
    return torch.empty(tensor.shape, dtype=_work_dtype(tensor), device=tensor.device)


def uniform(tensor: torch.Tensor, low: float, high: float, generator: Source) -> torch.Tensor:
    if isinstance(generator, Stream):
        generator.uniform_(tensor, low, high)
    else:
        buf = _buffer(tensor)
        buf.uniform_(low, high, generator=generator)
        _into(tensor, buf)
    if tensor.dtype in _LOW_PRECISION:  # the cast from float32 may round past a bound
        _clamp_inside(tensor, low, high)
    return tensor


def _clamp_inside(tensor: torch.Tensor, low: float, high: float) -> None:
    """Clamp (this rank's part of) ``tensor`` to the values of its dtype in [low, high]."""
    local = tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined]
    local.clamp_(*inside_bounds(low, high, tensor.dtype))


def check_representable(fn: str, tensor: torch.Tensor, low: float, high: float) -> None:
    """Refuse an interval [low, high] that holds no value of ``tensor``'s dtype (every
    value written would lie outside it)."""
    if tensor.dtype in _WIDE and high - low > _RELATIVE_GAP * max(abs(low), abs(high)):
        return  # wider than float32's spacing there: values lie inside (the common case)
    if tensor.dtype.is_floating_point:
        lo, hi = inside_bounds(low, high, tensor.dtype)
        if lo > hi:
            raise ValueError(f"{fn}: no {tensor.dtype} value lies in [{low!r}, {high!r}]; "
                             "widen the interval or use a wider dtype")


def normal(tensor: torch.Tensor, mean: float, std: float, generator: Source) -> torch.Tensor:
    if isinstance(generator, Stream):
        return generator.normal_(tensor, mean, std)
    buf = _buffer(tensor)
    buf.normal_(mean, std, generator=generator)
    return _into(tensor, buf)


#: Below this probability mass inside [a, b], redrawing the outliers of a normal wastes
#: most draws, and the inverse CDF is used instead.
_REJECTION_MIN_MASS = 0.3

#: From this many elements on, trunc_normal on CPU samples through a counter stream, on
#: its worker threads (rng._PARALLEL_MIN): on one thread its inverse CDF is no faster
#: than torch's normal_ with the outliers redrawn, and it costs a key
#: (benchmarks/results/design_measurements.md).
_STREAM_MIN = 1 << 19


def trunc_normal(
    tensor: torch.Tensor,
    mean: float,
    std: float,
    a: float,
    b: float,
    generator: Source,
) -> torch.Tensor:
    """N(mean, std^2) conditioned on [a, b].

    Large CPU tensors: the inverse CDF of the truncated law over a counter-based stream
    (:class:`initscope.rng.Stream`) whose seed is one draw from ``generator`` (torch's
    global generator when None, so ``torch.manual_seed`` still reproduces it): one
    vectorised pass, computed in parallel chunks.

    Otherwise (small tensors, other devices) it draws plain normals into the tensor and
    replaces those outside [a, b] (4.6% at +-2 std) by draws inside (each then
    distributed as the truncated normal): on CPU by rejection from a second, small batch
    of normals, elsewhere by the inverse CDF. Intervals holding little mass use the
    inverse CDF throughout.
    """
    if not isinstance(generator, Stream) and tensor.numel() >= _STREAM_MIN and (
        tensor.device.type == "cpu" and not is_dtensor(tensor)
    ):
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        generator = Stream(seed, "initscope.trunc_normal_")
    if isinstance(generator, Stream):
        generator.trunc_normal_(tensor, mean, std, a, b)
    else:
        _normal_then_redraw(tensor, mean, std, a, b, generator)
    if tensor.dtype in _LOW_PRECISION:  # rounding to half precision
        _clamp_inside(tensor, a, b)
    return tensor


def _normal_then_redraw(tensor: torch.Tensor, mean: float, std: float, a: float, b: float,
                        generator: torch.Generator | None) -> None:
    alpha, beta = (a - mean) / std, (b - mean) / std
    buf = _buffer(tensor)
    flat = buf.view(-1)
    inside = _ndtr(beta) - _ndtr(alpha)
    if inside >= _REJECTION_MIN_MASS:
        if flat.device.type == "cpu":
            _replace_outliers_cpu(flat, mean, std, a, b, inside, generator)
        else:
            flat.normal_(mean, std, generator=generator)
            idx = _outside(flat, a, b).nonzero().squeeze(1)
            if idx.numel():
                flat[idx] = _inverse_cdf(idx.numel(), mean, std, a, b, flat, generator)
    else:
        flat.copy_(_inverse_cdf(flat.numel(), mean, std, a, b, flat, generator))
    lo, hi = inside_bounds(a, b, flat.dtype)
    if (lo, hi) != (a, b):  # a bound the dtype cannot hold: comparisons rounded it
        flat.clamp_(lo, hi)
    _into(tensor, buf)


def _inverse_cdf(
    n: int,
    mean: float,
    std: float,
    a: float,
    b: float,
    like: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """n draws of N(mean, std^2) on [a, b] as ndtri(U(cdf(alpha), cdf(beta))), in float64
    and mirrored into the lower tail (an interval above the mean is drawn as minus the
    one below it), so that far-tail intervals keep their resolution: Phi(9) rounds to 1
    in float64, Phi(-9) = 1.1e-19 does not."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    flip = alpha + beta > 0
    lo, hi = (-beta, -alpha) if flip else (alpha, beta)
    u = torch.empty(n, dtype=torch.float64, device=like.device)
    u.uniform_(_ndtr(lo), _ndtr(hi), generator=generator)
    z = torch.special.ndtri(u).clamp_(lo, hi)
    if flip:
        z.neg_()
    out: torch.Tensor = z.mul_(std).add_(mean).clamp_(a, b)
    return out.to(like.dtype)


def _replace_outliers_cpu(flat: torch.Tensor, mean: float, std: float, a: float, b: float,
                          inside: float, generator: torch.Generator | None) -> None:
    """CPU: normals drawn into ``flat`` by torch (so its version counter moves, and a
    graph that saved it refuses to backpropagate, as after torch.nn.init); those outside
    [a, b] are then replaced, through a NumPy view, by the first draws inside [a, b] of a
    batch of normals 6 standard deviations larger than the expected need (another batch
    in the rare case it falls short). Each kept value is an independent draw of the
    truncated law. One normal_ over the tensor, two NumPy passes and a small normal_,
    no scratch copy of the tensor (faster than drawing a larger scratch and compacting
    it: benchmarks/results/design_measurements.md)."""
    flat.normal_(mean, std, generator=generator)
    values = flat.numpy()
    bad = np.flatnonzero((values < a) | (values > b))
    while bad.size:  # ends: inside >= _REJECTION_MIN_MASS
        k = bad.size
        m = math.ceil((k + 6.0 * math.sqrt(k * (1.0 - inside))) / inside) + 8
        draws = torch.empty(m, dtype=flat.dtype).normal_(mean, std, generator=generator)
        d = draws.numpy()
        d = d[(d >= a) & (d <= b)][:k]
        values[bad[:d.size]] = d
        bad = bad[d.size:]


def _outside(x: torch.Tensor, a: float, b: float) -> torch.Tensor:
    # Two boolean passes allocate 2 bytes per entry; abs() would allocate a float copy,
    # and on CPU the page faults of a fresh allocation cost more than the comparisons.
    return torch.gt(x, b).logical_or_(torch.lt(x, a))


def random_rows_mask(
    rows: int, cols: int, k: int, device: torch.device, generator: Source
) -> torch.Tensor:
    """A (rows, cols) boolean mask with exactly ``k`` True entries in each column, at
    uniformly random rows.

    Rows are drawn with replacement and a column that got a repeat draws again for its
    missing entries, until every column has k. The process treats all rows alike, so each
    column's set is a uniform k-subset; for k > rows / 2 the complement is drawn instead,
    which keeps repeats rare (at most half the draws collide). The first round counts
    with one reduction; later rounds, small, check their few draws against the mask.
    """
    if isinstance(generator, Stream):
        return generator.rows_mask(rows, cols, k, device)
    flip = k > rows // 2
    want = rows - k if flip else k
    mask = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    flat = mask.view(-1)
    columns = torch.arange(cols, device=device)
    col = columns.repeat_interleave(want)
    row = torch.randint(rows, (col.numel(),), generator=generator, device=device)
    flat[row * cols + col] = True
    missing = want - mask.view(torch.uint8).sum(0, dtype=torch.int32)
    while True:
        col = columns.repeat_interleave(missing)
        if not col.numel():
            break
        row = torch.randint(rows, (col.numel(),), generator=generator, device=device)
        new = torch.unique(row * cols + col)
        new = new[~flat[new]]
        flat[new] = True
        missing = missing - torch.bincount(new % cols, minlength=cols)
    return ~mask if flip else mask


def extent(draw: Draw) -> float:
    """How far from 0 a draw's values reach: its bound, or 8 std for a normal (beyond
    any draw of the float32 grid, 5.3 std, or of torch's normal_)."""
    return draw.bound if draw.distribution != "normal" else 8.0 * draw.std


def sample(tensor: torch.Tensor, draw: Draw, generator: Source) -> torch.Tensor:
    """Fill ``tensor`` from a core :class:`Draw` (zero mean)."""
    if draw.distribution == "uniform":
        return uniform(tensor, -draw.bound, draw.bound, generator)
    if draw.distribution == "normal":
        return normal(tensor, 0.0, draw.std, generator)
    s = draw.underlying_std
    return trunc_normal(tensor, 0.0, s, -draw.bound, draw.bound, generator)
