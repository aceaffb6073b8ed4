"""JAX initializers: each scheme returns ``init(key, shape, dtype=jnp.float32) -> Array``.

The callables work as Flax ``kernel_init=`` and as ``jax.nn.initializers`` do; options
(gain, mode, distribution) are validated when the initializer is built, fans when it is
called (that is when the shape is known). ``fans=`` defaults to the ``"jax"`` layout:
kernels ``(*kernel, in, out)``. Every ``*_normal`` is an untruncated normal, as in
:mod:`initscope.init` (``jax.nn.initializers.he_normal`` truncates; use
``variance_scaling(..., distribution="truncated_normal")`` for that).

Importing this module imports jax; ``import initscope`` does not.

>>> import jax
>>> from initscope import jax as ijax
>>> init = ijax.he_normal("gelu")
>>> init(jax.random.key(0), (512, 256)).shape
(512, 256)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._core import schemes as _schemes
from ._core.fans import FanLike, as_shape, resolve_fans
from ._core.scaling import Distribution, Mode, VarianceScaling
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

Initializer = Callable[..., jax.Array]


def _initializer(rule: VarianceScaling, fans: FanLike) -> Initializer:
    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shp = as_shape(shape)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating type; got {jnp.dtype(dtype)}")
        draw = rule.draw(resolve_fans(shp, fans))
        # Sample in float32 at least, then cast once (as the torch shell does for bf16).
        work = jnp.promote_types(dtype, jnp.float32)
        if draw.distribution == "uniform":
            w = jax.random.uniform(key, shp, work, -draw.bound, draw.bound)
        elif draw.distribution == "normal":
            w = jax.random.normal(key, shp, work) * draw.std
        else:
            cut = draw.bound / draw.underlying_std
            w = jax.random.truncated_normal(key, -cut, cut, shp, work) * draw.underlying_std
        if draw.distribution == "normal":
            return w.astype(dtype)
        edge = draw.bound_in(jnp.dtype(dtype))  # casting may round a value past it
        return jnp.clip(w.astype(dtype), -edge, edge)

    return init


def variance_scaling(
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: Distribution = "truncated_normal",
    *,
    fans: FanLike = "jax",
) -> Initializer:
    """Var[w] = scale / n(mode) (see :class:`initscope.VarianceScaling`)."""
    return _initializer(VarianceScaling(scale, mode, distribution), fans)


def xavier_uniform(
    gain: GainLike = 1.0, *, fans: FanLike = "jax"
) -> Initializer:
    """Glorot & Bengio 2010: U[-a, a], a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _initializer(_schemes.xavier(as_gain(gain), "uniform"), fans)


def xavier_normal(
    gain: GainLike = 1.0, *, fans: FanLike = "jax"
) -> Initializer:
    """Glorot & Bengio 2010: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    return _initializer(_schemes.xavier(as_gain(gain), "normal"), fans)


def he_uniform(
    activation: GainLike = "relu", *, mode: Mode = "fan_in", fans: FanLike = "jax"
) -> Initializer:
    """He et al. 2015: U[-b, b], b = sqrt(3) * gain(activation) / sqrt(fan_mode)."""
    rule = _schemes.he(as_gain(activation), mode, "uniform")
    return _initializer(rule, fans)


def he_normal(
    activation: GainLike = "relu", *, mode: Mode = "fan_in", fans: FanLike = "jax"
) -> Initializer:
    """He et al. 2015: N(0, gain(activation)^2 / fan_mode)."""
    rule = _schemes.he(as_gain(activation), mode, "normal")
    return _initializer(rule, fans)


def lecun_uniform(
    *, fans: FanLike = "jax"
) -> Initializer:
    """LeCun et al. 1998: U[-sqrt(3 / fan_in), sqrt(3 / fan_in)]."""
    return _initializer(_schemes.lecun("uniform"), fans)


def lecun_normal(
    *, fans: FanLike = "jax"
) -> Initializer:
    """LeCun et al. 1998: N(0, 1 / fan_in)."""
    return _initializer(_schemes.lecun("normal"), fans)


def glorot_standard(
    *, fans: FanLike = "jax"
) -> Initializer:
    """Glorot & Bengio 2010's standard init: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    return _initializer(_schemes.glorot_standard(), fans)


def torch_default(
    *, fans: FanLike = "jax"
) -> Initializer:
    """torch's nn.Linear / nn.Conv default: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    return _initializer(_schemes.torch_default(), fans)


def orthogonal(gain: GainLike = 1.0, column_axis: int = -1) -> Initializer:
    """Saxe et al. 2014: gain times a Haar-random (semi-)orthogonal matrix, all axes but
    ``column_axis`` flattened into rows (as ``jax.nn.initializers.orthogonal``)."""
    g = as_gain(gain)
    if isinstance(column_axis, bool) or not isinstance(column_axis, int):
        raise TypeError(f"column_axis must be an int; got {column_axis!r}")

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shp = as_shape(shape)
        if len(shp) < 2:
            raise ValueError(f"orthogonal needs at least 2 dimensions; got shape {shp}")
        if not -len(shp) <= column_axis < len(shp):
            raise ValueError(f"column_axis={column_axis} is out of range for shape {shp} "
                             f"({len(shp)} dimensions; valid: {-len(shp)} to {len(shp) - 1})")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating type; got {jnp.dtype(dtype)}")
        cols = shp[column_axis]
        rows = 1
        for i, d in enumerate(shp):
            if i != column_axis % len(shp):
                rows *= d
        a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q, r = jnp.linalg.qr(a)
        q = q * jnp.sign(jnp.diagonal(r))
        if rows < cols:
            q = q.T
        q = jnp.moveaxis(q.reshape(*(d for i, d in enumerate(shp) if i != column_axis % len(shp)),
                                   cols), -1, column_axis)
        return (q * g).astype(dtype)

    return init
