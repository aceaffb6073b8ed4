"""Sampling shell for torch: fill a tensor in place from a :class:`Draw`.

Every function validates first and writes last, so a bad call leaves the tensor as it
was. Half-precision tensors are sampled in float32 and cast once (torch's own samplers
round bounds and draws in bf16). Meta tensors and zero-element tensors pass through.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._core.fans import Fans, Layout, fans
from ._core.scaling import Draw

_LOW_PRECISION = (torch.float16, torch.bfloat16)


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
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)):  # type: ignore[arg-type]
        raise ValueError(f"{fn}: {name} must be a finite number; got {value!r}")
    if positive and float(value) <= 0:  # type: ignore[arg-type]
        raise ValueError(f"{fn}: {name} must be > 0; got {value!r}")
    return float(value)  # type: ignore[arg-type]


def skip(tensor: torch.Tensor) -> bool:
    """True where there is nothing to write: meta tensors and zero-element tensors."""
    return tensor.is_meta or tensor.numel() == 0


def tensor_fans(
    tensor: torch.Tensor,
    fn: str,
    *,
    layout: Layout,
    groups: int,
    splits: int,
    batch_axes: Sequence[int],
) -> Fans:
    try:
        return fans(
            tuple(tensor.shape), layout=layout, groups=groups, splits=splits, batch_axes=batch_axes
        )
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None


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


def uniform(
    tensor: torch.Tensor, low: float, high: float, generator: torch.Generator | None
) -> torch.Tensor:
    buf = _buffer(tensor)
    buf.uniform_(low, high, generator=generator)
    return _into(tensor, buf)


def normal(
    tensor: torch.Tensor, mean: float, std: float, generator: torch.Generator | None
) -> torch.Tensor:
    buf = _buffer(tensor)
    buf.normal_(mean, std, generator=generator)
    return _into(tensor, buf)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


#: Below this probability mass inside [a, b], redrawing the outliers of a normal wastes
#: most draws, and the inverse CDF is used instead.
_REJECTION_MIN_MASS = 0.3


def trunc_normal(
    tensor: torch.Tensor,
    mean: float,
    std: float,
    a: float,
    b: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """N(mean, std^2) conditioned on [a, b].

    With most mass inside (the usual +-2 std) it draws a normal and redraws only the
    out-of-range entries, by index, until none is left (about 4.6% after the first draw
    at +-2 std, so a handful of small rounds): about the cost of one ``normal_``, against
    torch's redraw of a full tensor on every round. Far-tail intervals use the inverse CDF.
    """
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = _cdf(beta) - _cdf(alpha)
    buf = _buffer(tensor)
    flat = buf.view(-1)
    if mass >= _REJECTION_MIN_MASS:
        flat.normal_(generator=generator)
        idx = ((flat < alpha) | (flat > beta)).nonzero().squeeze(1)
        while idx.numel():
            redraw = torch.empty(idx.numel(), dtype=flat.dtype, device=flat.device)
            redraw.normal_(generator=generator)
            ok = (redraw >= alpha) & (redraw <= beta)
            flat[idx[ok]] = redraw[ok]
            idx = idx[~ok]
    else:
        # Inverse CDF in float64 so that far-tail intervals keep their resolution.
        u = torch.empty(flat.shape, dtype=torch.float64, device=flat.device)
        u.uniform_(_cdf(alpha), _cdf(beta), generator=generator)
        flat.copy_(torch.special.ndtri(u).clamp_(alpha, beta))
    flat.mul_(std).add_(mean).clamp_(a, b)
    _into(tensor, buf)
    if tensor.dtype in _LOW_PRECISION:
        _pull_inside(tensor, a, b)
    return tensor


def _pull_inside(tensor: torch.Tensor, a: float, b: float) -> None:
    """Rounding to half precision may step over a bound that is not representable;
    move such entries one ulp back inside."""
    wide = tensor.float()
    over, under = wide > b, wide < a
    if over.any():
        tensor[over] = torch.nextafter(tensor[over], torch.full_like(tensor[over], -math.inf))
    if under.any():
        tensor[under] = torch.nextafter(tensor[under], torch.full_like(tensor[under], math.inf))


def sample(tensor: torch.Tensor, draw: Draw, generator: torch.Generator | None) -> torch.Tensor:
    """Fill ``tensor`` from a core :class:`Draw` (zero mean)."""
    if draw.distribution == "uniform":
        return uniform(tensor, -draw.bound, draw.bound, generator)
    if draw.distribution == "normal":
        return normal(tensor, 0.0, draw.std, generator)
    s = draw.underlying_std
    return trunc_normal(tensor, 0.0, s, -draw.bound, draw.bound, generator)
