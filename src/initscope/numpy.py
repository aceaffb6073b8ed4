"""NumPy initializers: ``scheme(rng, shape, dtype=np.float32, **options) -> np.ndarray``.

The same schemes, with the same variances, as :mod:`initscope.init`; each is a
:class:`~initscope.VarianceScaling` handed to one sampler. ``rng`` is a
``numpy.random.Generator`` (or an int seed). ``fans=`` defaults to the ``"torch"``
layout (out, in, *k); pass ``fans="jax"`` for (in, out) matrices used as ``x @ W``.

>>> import numpy as np
>>> from initscope import numpy as inp
>>> w = inp.xavier_uniform(np.random.default_rng(0), (256, 512))
>>> w.shape, w.dtype
((256, 512), dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._core import schemes as _schemes
from ._core.fans import FanLike, as_shape, resolve_fans
from ._core.scaling import Distribution, Draw, Mode, VarianceScaling
from ._gain import GainLike, as_gain

__all__ = [
    "glorot_standard",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "torch_default",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
]

RngLike = np.random.Generator | int


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"rng must be a numpy.random.Generator or an int seed; got {type(rng).__name__}"
    )


def _float_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    dt: np.dtype[Any] = np.dtype(dtype)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"dtype must be a floating type (float16, float32, float64); got {dt}")
    return dt


def draw_numpy(rng: np.random.Generator, draw: Draw, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Sample a core :class:`Draw` in float64."""
    if draw.distribution == "uniform":
        return rng.uniform(-draw.bound, draw.bound, shape)
    if draw.distribution == "normal":
        return rng.standard_normal(shape) * draw.std
    # Truncated normal: draw, then redraw only the out-of-range entries.
    z = rng.standard_normal(shape).reshape(-1)
    cut = draw.bound / draw.underlying_std
    bad = np.flatnonzero(np.abs(z) > cut)
    while bad.size:
        new = rng.standard_normal(bad.size)
        ok = np.abs(new) <= cut
        z[bad[ok]] = new[ok]
        bad = bad[~ok]
    return z.reshape(shape) * draw.underlying_std


def _sample(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike, rule: VarianceScaling, fans: FanLike
) -> NDArray[np.floating]:
    gen, dt, shp = _rng(rng), _float_dtype(dtype), as_shape(shape)
    draw = rule.draw(resolve_fans(shp, fans))
    out = draw_numpy(gen, draw, shp).astype(dt)
    if draw.distribution != "normal":  # casting may round a value past the bound
        edge = draw.bound_in(dt)
        np.clip(out, -edge, edge, out=out)
    return out


def variance_scaling(
    rng: RngLike,
    shape: Sequence[int],
    dtype: DTypeLike = np.float32,
    *,
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: Distribution = "truncated_normal",
    fans: FanLike = "torch",
) -> NDArray[np.floating]:
    """Var[w] = scale / n(mode) (see :class:`initscope.VarianceScaling`)."""
    return _sample(rng, shape, dtype, VarianceScaling(scale, mode, distribution), fans)


def xavier_uniform(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *,
    gain: GainLike = 1.0, fans: FanLike = "torch",
) -> NDArray[np.floating]:
    """Glorot & Bengio 2010: U[-a, a], a = gain * sqrt(6 / (fan_in + fan_out))."""
    rule = _schemes.xavier(as_gain(gain), "uniform")
    return _sample(rng, shape, dtype, rule, fans)


def xavier_normal(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *,
    gain: GainLike = 1.0, fans: FanLike = "torch",
) -> NDArray[np.floating]:
    """Glorot & Bengio 2010: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    rule = _schemes.xavier(as_gain(gain), "normal")
    return _sample(rng, shape, dtype, rule, fans)


def he_uniform(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *,
    activation: GainLike = "relu", mode: Mode = "fan_in", fans: FanLike = "torch",
) -> NDArray[np.floating]:
    """He et al. 2015: U[-b, b], b = sqrt(3) * gain(activation) / sqrt(fan_mode)."""
    rule = _schemes.he(as_gain(activation), mode, "uniform")
    return _sample(rng, shape, dtype, rule, fans)


def he_normal(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *,
    activation: GainLike = "relu", mode: Mode = "fan_in", fans: FanLike = "torch",
) -> NDArray[np.floating]:
    """He et al. 2015: N(0, gain(activation)^2 / fan_mode)."""
    rule = _schemes.he(as_gain(activation), mode, "normal")
    return _sample(rng, shape, dtype, rule, fans)


def lecun_uniform(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *, fans: FanLike = "torch"
) -> NDArray[np.floating]:
    """LeCun et al. 1998: U[-sqrt(3 / fan_in), sqrt(3 / fan_in)]."""
    return _sample(rng, shape, dtype, _schemes.lecun("uniform"), fans)


def lecun_normal(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *, fans: FanLike = "torch"
) -> NDArray[np.floating]:
    """LeCun et al. 1998: N(0, 1 / fan_in)."""
    return _sample(rng, shape, dtype, _schemes.lecun("normal"), fans)


def glorot_standard(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *, fans: FanLike = "torch"
) -> NDArray[np.floating]:
    """Glorot & Bengio 2010's standard init: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    rule = _schemes.glorot_standard()
    return _sample(rng, shape, dtype, rule, fans)


def torch_default(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *, fans: FanLike = "torch"
) -> NDArray[np.floating]:
    """torch's nn.Linear / nn.Conv default: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    rule = _schemes.torch_default()
    return _sample(rng, shape, dtype, rule, fans)


def orthogonal(
    rng: RngLike, shape: Sequence[int], dtype: DTypeLike = np.float32, *,
    gain: GainLike = 1.0,
) -> NDArray[np.floating]:
    """Saxe et al. 2014: gain times a Haar-random (semi-)orthogonal matrix; more than 2
    dims are flattened to (shape[0], rest), as in :func:`initscope.init.orthogonal_`."""
    gen, dt, shp = _rng(rng), _float_dtype(dtype), as_shape(shape)
    if len(shp) < 2:
        raise ValueError(f"orthogonal needs at least 2 dimensions; got shape {shp}")
    rows, cols = shp[0], int(np.prod(shp[1:]))
    a = gen.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r))
    if rows < cols:
        q = q.T
    out: NDArray[np.floating] = (q.reshape(shp) * as_gain(gain)).astype(dt)
    return out
