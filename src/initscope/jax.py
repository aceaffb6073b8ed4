"""JAX initializers: each scheme returns ``init(key, shape, dtype=jnp.float32) -> Array``.

The callables work as Flax ``kernel_init=`` and as ``jax.nn.initializers`` do; options
(gain, mode, distribution) are validated when the initializer is built, fans when it is
called (that is when the shape is known). The default layout is ``"jax"``:
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
from ._core.fans import Layout, fans
from ._core.scaling import Distribution, Mode, VarianceScaling
from ._gain import ActivationLike, gain

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


def _initializer(
    rule: VarianceScaling,
    layout: Layout,
    groups: int,
    splits: int,
    batch_axes: Sequence[int],
) -> Initializer:
    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shp = tuple(int(d) for d in shape)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a floating type; got {jnp.dtype(dtype)}")
        f = fans(shp, layout=layout, groups=groups, splits=splits, batch_axes=batch_axes)
        draw = rule.draw(f)
        # Sample in float32 at least, then cast once (as the torch shell does for bf16).
        work = jnp.promote_types(dtype, jnp.float32)
        if draw.distribution == "uniform":
            w = jax.random.uniform(key, shp, work, -draw.bound, draw.bound)
        elif draw.distribution == "normal":
            w = jax.random.normal(key, shp, work) * draw.std
        else:
            cut = draw.bound / draw.underlying_std
            w = jax.random.truncated_normal(key, -cut, cut, shp, work) * draw.underlying_std
        return w.astype(dtype)

    return init


def _gain(g: float | ActivationLike) -> float:
    if isinstance(g, bool):
        raise TypeError("gain must be a number or an activation; got a bool")
    if isinstance(g, (int, float)):
        if not g > 0:
            raise ValueError(f"gain must be > 0; got {g!r}")
        return float(g)
    return gain(g)


def variance_scaling(
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: Distribution = "truncated_normal",
    *,
    layout: Layout = "jax",
    groups: int = 1,
    splits: int = 1,
    batch_axes: Sequence[int] = (),
) -> Initializer:
    """Var[w] = scale / n(mode) (see :class:`initscope.VarianceScaling`)."""
    rule = VarianceScaling(scale, mode, distribution)
    return _initializer(rule, layout, groups, splits, batch_axes)


def xavier_uniform(
    gain: float | ActivationLike = 1.0, *, layout: Layout = "jax", groups: int = 1,
    splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """Glorot & Bengio 2010: U[-a, a], a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _initializer(_schemes.xavier(_gain(gain), "uniform"), layout, groups, splits, batch_axes)


def xavier_normal(
    gain: float | ActivationLike = 1.0, *, layout: Layout = "jax", groups: int = 1,
    splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """Glorot & Bengio 2010: N(0, gain^2 * 2 / (fan_in + fan_out))."""
    return _initializer(_schemes.xavier(_gain(gain), "normal"), layout, groups, splits, batch_axes)


def he_uniform(
    activation: float | ActivationLike = "relu", *, mode: Mode = "fan_in",
    layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """He et al. 2015: U[-b, b], b = sqrt(3) * gain(activation) / sqrt(fan_mode)."""
    rule = _schemes.he(_gain(activation), mode, "uniform")
    return _initializer(rule, layout, groups, splits, batch_axes)


def he_normal(
    activation: float | ActivationLike = "relu", *, mode: Mode = "fan_in",
    layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """He et al. 2015: N(0, gain(activation)^2 / fan_mode)."""
    rule = _schemes.he(_gain(activation), mode, "normal")
    return _initializer(rule, layout, groups, splits, batch_axes)


def lecun_uniform(
    *, layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """LeCun et al. 1998: U[-sqrt(3 / fan_in), sqrt(3 / fan_in)]."""
    return _initializer(_schemes.lecun("uniform"), layout, groups, splits, batch_axes)


def lecun_normal(
    *, layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """LeCun et al. 1998: N(0, 1 / fan_in)."""
    return _initializer(_schemes.lecun("normal"), layout, groups, splits, batch_axes)


def glorot_standard(
    *, layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """Glorot & Bengio 2010's standard init: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    return _initializer(_schemes.glorot_standard(), layout, groups, splits, batch_axes)


def torch_default(
    *, layout: Layout = "jax", groups: int = 1, splits: int = 1, batch_axes: Sequence[int] = (),
) -> Initializer:
    """torch's nn.Linear / nn.Conv default: U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    return _initializer(_schemes.torch_default(), layout, groups, splits, batch_axes)


def orthogonal(gain: float | ActivationLike = 1.0, column_axis: int = -1) -> Initializer:
    """Saxe et al. 2014: gain times a Haar-random (semi-)orthogonal matrix, all axes but
    ``column_axis`` flattened into rows (as ``jax.nn.initializers.orthogonal``)."""
    g = _gain(gain)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        shp = tuple(int(d) for d in shape)
        if len(shp) < 2:
            raise ValueError(f"orthogonal needs at least 2 dimensions; got shape {shp}")
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
