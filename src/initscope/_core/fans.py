"""Fans of a weight tensor from its shape and layout.

fan_in is the number of inputs summed into one output unit, fan_out the number of
outputs one input unit feeds (Glorot & Bengio 2010 call them n_j and n_{j+1}); both
include the kernel's receptive field. Layouts:

========================  ==========================  ======================================
layout                    weight shape                fans
========================  ==========================  ======================================
``torch``                 (out, in/groups, *k)        in = shape[1]*rf, out = shape[0]*rf/groups
``torch_conv_transpose``  (in, out/groups, *k)        in = shape[0]*rf/groups, out = shape[1]*rf
``jax`` (alias keras)     (*k, in/groups, out)        in = shape[-2]*rf, out = shape[-1]*rf/groups
``embedding``             (num_embeddings, dim)       in = 1 (a lookup reads one row), out = dim
========================  ==========================  ======================================

``torch.nn.init``'s own helper reads every tensor as ``torch``: it swaps fan_in and
fan_out of transposed convolutions and ignores groups in fan_out.

Further options (a :class:`FanSpec`): ``splits`` cuts the output axis into equal parts
(fused QKV projections, LSTM gate blocks) before fans are computed; ``batch_axes`` names
axes that stack independent weights (mixture-of-experts ``(E, out, in)``), which count
in neither fan; ``in_axis``/``out_axis`` describe any other layout (as in jax's
``variance_scaling``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from ._cache import memo

Layout = Literal["torch", "torch_conv_transpose", "jax", "keras", "embedding"]
LAYOUTS: tuple[str, ...] = ("torch", "torch_conv_transpose", "jax", "keras", "embedding")

# (in_axis, out_axis) of each layout; for torch_conv_transpose the in-channel axis is 0.
_AXES: dict[str, tuple[int, int]] = {
    "torch": (1, 0),
    "torch_conv_transpose": (0, 1),
    "jax": (-2, -1),
    "keras": (-2, -1),
}
# Which axis holds channels/groups (the one divided by groups) for each layout.
_GROUPED_AXIS: dict[str, str] = {
    "torch": "in",
    "torch_conv_transpose": "out",
    "jax": "in",
    "keras": "in",
}


class Fans(NamedTuple):
    """Fans of a weight: inputs per output unit, outputs per input unit, kernel size."""

    fan_in: int
    fan_out: int
    receptive: int

    @property
    def fan_avg(self) -> float:
        """(fan_in + fan_out) / 2, Glorot & Bengio 2010's normalized-init denominator."""
        return (self.fan_in + self.fan_out) / 2.0


def _norm_axis(axis: int, ndim: int, what: str, shape: tuple[int, ...]) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}={axis} is out of range for shape {shape} ({ndim} dimensions)")
    return axis % ndim


def as_shape(shape: object) -> tuple[int, ...]:
    """``shape`` as a tuple of non-negative ints: a sequence of Python or NumPy ints, or
    anything with a ``.shape`` (a tensor or array stands for its shape). Floats are
    refused, not truncated ((2.7, 3) is no shape).

    >>> as_shape([2, 3]), as_shape(__import__("numpy").zeros((4, 5)))
    ((2, 3), (4, 5))
    """
    if not isinstance(shape, (tuple, list)) and hasattr(shape, "shape"):
        shape = tuple(shape.shape)
    try:
        dims: tuple[object, ...] = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise ValueError(f"shape must be a sequence of non-negative ints; got a "
                         f"{type(shape).__name__}") from None
    bad = [d for d in dims if isinstance(d, (bool, np.bool_))
           or not isinstance(d, (int, np.integer)) or d < 0]
    if bad:
        raise ValueError(f"shape must be a sequence of non-negative ints; got {dims!r} "
                         f"({bad[0]!r} is not)")
    return tuple(int(d) for d in dims)  # type: ignore[call-overload]


def _positive_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return value


@dataclass(frozen=True)
class FanSpec:
    """How to read fans off a weight's shape: the options that travel together.

    Validated when built; :meth:`of` applies it to a shape. Every initializer takes one
    as ``fans=`` (or just a layout name, or explicit :class:`Fans`).

    Attributes:
        layout: how the axes are arranged (see the module table).
        groups: convolution groups; the channel axis holds ``channels / groups``.
        splits: number of equal blocks stacked along the output axis (3 for a fused QKV
            projection, 4 for LSTM gates); fans are those of one block.
        batch_axes: axes of independently used weights (experts), excluded from fans.
        in_axis, out_axis: explicit axes (override the layout's; both or neither).

    >>> FanSpec("torch_conv_transpose", groups=2).of((32, 16, 3, 3))
    Fans(fan_in=144, fan_out=144, receptive=9)
    """

    layout: Layout = "torch"
    groups: int = 1
    splits: int = 1
    batch_axes: tuple[int, ...] = ()
    in_axis: int | None = None
    out_axis: int | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"unknown layout {self.layout!r}; valid: {', '.join(map(repr, LAYOUTS))}"
                " (or pass in_axis= and out_axis=)"
            )
        _positive_int("groups", self.groups)
        _positive_int("splits", self.splits)
        object.__setattr__(self, "batch_axes", tuple(self.batch_axes))
        if (self.in_axis is None) != (self.out_axis is None):
            raise ValueError("give both in_axis and out_axis, or neither")
        if self.layout == "embedding" and (
            self.groups != 1 or self.splits != 1 or self.in_axis is not None
        ):
            raise ValueError("layout 'embedding' takes no groups, splits or axes")

    def of(self, shape: Sequence[int]) -> Fans:
        """The :class:`Fans` of a weight of this ``shape``."""
        return _fans_of(tuple(shape), self)


FanLike = Layout | FanSpec | Fans
"""What initializers accept as ``fans=``: a layout name, a :class:`FanSpec`, or
explicit :class:`Fans` (for weights whose shape does not tell, e.g. a flattened shard)."""


def resolve_fans(shape: Sequence[int], spec: FanLike) -> Fans:
    """Fans of ``shape`` under ``spec`` (a layout name, a :class:`FanSpec` or :class:`Fans`).

    >>> resolve_fans((64, 32, 3, 3), "torch")
    Fans(fan_in=288, fan_out=576, receptive=9)
    """
    shape = as_shape(shape)
    if isinstance(spec, Fans):
        return _checked(spec, shape, "given explicitly")
    if isinstance(spec, str):
        spec = FanSpec(spec)
    if not isinstance(spec, FanSpec):
        raise TypeError(
            f"fans must be a layout name, a FanSpec or Fans; got {type(spec).__name__}"
        )
    return _fans_of(shape, spec)


def fans(
    shape: Sequence[int],
    *,
    layout: Layout = "torch",
    groups: int = 1,
    splits: int = 1,
    batch_axes: Sequence[int] = (),
    in_axis: int | None = None,
    out_axis: int | None = None,
) -> Fans:
    """Compute :class:`Fans` for a weight ``shape``; the options are those of :class:`FanSpec`.

    Returns:
        ``Fans(fan_in, fan_out, receptive)``.

    >>> fans((64, 32, 3, 3))
    Fans(fan_in=288, fan_out=576, receptive=9)
    >>> fans((32, 64, 3, 3), layout="torch_conv_transpose")
    Fans(fan_in=288, fan_out=576, receptive=9)
    >>> fans((3 * 512, 512), splits=3)
    Fans(fan_in=512, fan_out=512, receptive=1)
    >>> fans((8, 1024, 256), batch_axes=(0,))
    Fans(fan_in=256, fan_out=1024, receptive=1)
    """
    spec = FanSpec(layout, groups, splits, tuple(batch_axes), in_axis, out_axis)
    return _fans_of(as_shape(shape), spec)


# A pure function of hashable arguments; cached because initializers call it per tensor.
@memo(4096)
def _fans_of(shape: tuple[int, ...], spec: FanSpec) -> Fans:
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ValueError(f"shape must be a sequence of non-negative ints; got {shape!r}")
    ndim = len(shape)
    batch = {_norm_axis(a, ndim, "batch axis", shape) for a in spec.batch_axes}
    core = [a for a in range(ndim) if a not in batch]
    if len(core) < 2:
        raise ValueError(
            f"fans are not defined for shape {shape}: need at least 2 dimensions besides "
            f"batch axes {tuple(sorted(batch))} (an input and an output axis); "
            "1-D tensors such as biases have no fans"
        )
    layout, groups, splits = spec.layout, spec.groups, spec.splits
    if layout == "embedding":
        if len(core) != 2:
            raise ValueError(f"layout 'embedding' expects (num_embeddings, dim); got shape {shape}")
        return _checked(Fans(1, shape[core[1]], 1), shape, layout)

    if spec.in_axis is None or spec.out_axis is None:
        # Layout axes index the non-batch axes, so (E, out, in) with batch_axes=(0,) works.
        li, lo = _AXES[layout]
        i_ax, o_ax = core[li], core[lo]
        grouped = _GROUPED_AXIS[layout]
    else:
        i_ax = _norm_axis(spec.in_axis, ndim, "in_axis", shape)
        o_ax = _norm_axis(spec.out_axis, ndim, "out_axis", shape)
        grouped = "in"
        if i_ax == o_ax or i_ax in batch or o_ax in batch:
            raise ValueError(
                f"in_axis={spec.in_axis} and out_axis={spec.out_axis} must be two different"
                f" non-batch axes of shape {shape}"
            )
    receptive = math.prod(shape[a] for a in core if a not in (i_ax, o_ax))
    n_in, n_out = shape[i_ax], shape[o_ax]
    if n_out % splits:
        raise ValueError(
            f"splits={splits} does not divide the output axis (size {n_out}) of shape {shape}"
        )
    n_out //= splits
    # The grouped axis already holds channels/groups; the other one holds all channels,
    # of which each unit reaches only 1/groups.
    if grouped == "in":
        if n_out % groups:
            raise ValueError(
                f"groups={groups} does not divide the output channels ({n_out}) of shape {shape}"
            )
        fan_in, fan_out = n_in * receptive, n_out // groups * receptive
    else:
        if n_in % groups:
            raise ValueError(
                f"groups={groups} does not divide the input channels ({n_in}) of shape {shape}"
            )
        fan_in, fan_out = n_in // groups * receptive, n_out * receptive
    return _checked(Fans(fan_in, fan_out, receptive), shape, str(spec))


def _checked(f: Fans, shape: tuple[int, ...], how: str) -> Fans:
    if f.fan_in <= 0 or f.fan_out <= 0:
        raise ValueError(
            f"shape {shape} ({how}) has fan_in={f.fan_in}, fan_out={f.fan_out};"
            " fans must be positive"
        )
    return f
