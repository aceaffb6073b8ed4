"""The Maximal Update Parametrization (muP) as pure arithmetic: per parameter, from which
of its dimensions grow with width and by how much, the multipliers of its init std,
learning rate, Adam eps and weight decay, and the forward multiplier it needs.

Yang & Hu 2021, "Feature Learning in Infinite-Width Neural Networks"; Yang et al. 2021,
"Tensor Programs V: Tuning Large Neural Networks via Zero-Shot Hyperparameter
Transfer" (Table 3, and the ``mup`` package's MuReadout / MuAdam / MuSGD, whose numbers
these reproduce). ``m`` is a dimension's width over the base model's; a parameter is

- *scalar-like* when no dimension grows (all multipliers 1);
- *vector-like* when one does (input weights and embeddings: fan_out; biases and norm
  gains: their only dimension): init constant in width, Adam LR x1, SGD LR x m;
- the *readout* when its fan_in grows and its fan_out does not: mup's 1/m output
  multiplier, folded into the tensor (below): effective init std / m (or zero), Adam LR
  / m with eps x m, SGD LR / m;
- *matrix-like* (hidden) when both grow: init variance ~ 1/fan_in, Adam LR / m_in, SGD
  LR x m_out / m_in.

A multiplier theta on a tensor is the same as init x theta with SGD LR x theta^2, or
with Adam LR x theta and eps / theta (the abc-symmetry of Yang & Hu 2021, sec. 3): how
the readout's 1/m is folded, so that no layer class changes. Weight decay follows the
``mup`` package (coupled: x m for matrix-like under Adam, / m for vector-like under
SGD), carried through the fold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The optimizers whose muP rules differ: Adam-like (entrywise normalized: Adam, AdamW,
#: RMSProp, ...) and SGD-like.
OPTIMIZERS = ("adam", "adamw", "sgd")
KINDS = ("scalar", "vector", "readout", "hidden")


@dataclass(frozen=True)
class MupRule:
    """Multipliers for one parameter, relative to the base model's value under the same
    scheme: its init std, learning rate, Adam eps and weight decay; ``forward`` is a
    multiplier the forward pass must apply (1: none; the plan folds it where it can)."""

    kind: str
    width_mult: float
    init: float = 1.0
    lr: float = 1.0
    eps: float = 1.0
    weight_decay: float = 1.0
    forward: float = 1.0


def kind_of(base: tuple[int | None, ...], ndim: int, readout_in: bool) -> str:
    """A parameter's kind from which of its ``ndim`` dimensions grow (``base[i]`` is not
    None): "scalar", "vector", "readout" (fan_in grows, fan_out does not: ``readout_in``
    says the growing dimension is the fan_in of a weight) or "hidden"."""
    grows = sum(b is not None for b in base)
    if grows == 0:
        return "scalar"
    if grows == 1:
        return "readout" if readout_in else "vector"
    if grows == 2:
        return "hidden"
    raise ValueError(f"a parameter with {grows} growing dimensions (of {ndim}); muP "
                     "defines at most 2 (fan_out and fan_in)")


def rule(kind: str, optimizer: str, *, fan_in_mult: float = 1.0, fan_out_mult: float = 1.0,
         width_mult: float = 1.0, fold: bool = True) -> MupRule:
    """The muP multipliers of one parameter.

    Args:
        kind: "scalar", "vector", "readout" or "hidden" (:func:`kind_of`).
        optimizer: "adam", "adamw" or "sgd".
        fan_in_mult, fan_out_mult: the width multipliers of a weight's fan_in and fan_out
            (hidden and readout).
        width_mult: the multiplier of a vector-like parameter's growing dimension.
        fold: put the readout's 1/m into its tensor (init, LR, eps); False leaves it as
            ``forward`` (a tied readout, whose tensor is also the input embedding).

    >>> r = rule("hidden", "adam", fan_in_mult=4.0, fan_out_mult=4.0)
    >>> r.lr, r.weight_decay
    (0.25, 4.0)
    >>> r = rule("readout", "adam", fan_in_mult=4.0)
    >>> r.init, r.lr, r.eps
    (0.25, 0.25, 4.0)
    >>> rule("vector", "sgd", width_mult=4.0).lr
    4.0
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r}: one of {', '.join(OPTIMIZERS)}")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    sgd = optimizer == "sgd"
    if kind == "scalar":
        return MupRule(kind, 1.0)
    if kind == "vector":
        m = width_mult
        return MupRule(kind, m, lr=m if sgd else 1.0, weight_decay=1 / m if sgd else 1.0)
    if kind == "hidden":
        m = fan_in_mult
        if sgd:
            ratio = fan_in_mult / fan_out_mult
            return MupRule(kind, m, init=m ** -0.5, lr=1 / ratio, weight_decay=ratio)
        return MupRule(kind, m, init=m ** -0.5, lr=1 / m, weight_decay=m)
    # readout: a vector-like tensor (mup: MuReadout's weight, its std kept constant) read
    # through 1/m; theta = 1/m folded in: init x theta, SGD LR x theta^2 (on top of the
    # vector-like x m), Adam LR x theta and eps / theta; coupled weight decay / theta^2
    m = fan_in_mult
    theta = 1 / m
    lr, wd = (m, 1 / m) if sgd else (1.0, 1.0)
    if not fold:
        return MupRule(kind, m, lr=lr, weight_decay=wd, forward=theta)
    if sgd:
        return MupRule(kind, m, init=theta, lr=lr * theta ** 2, weight_decay=wd / theta ** 2)
    if optimizer == "adamw":  # decoupled: p *= 1 - lr wd, the same decay for theta p
        return MupRule(kind, m, init=theta, lr=theta, eps=1 / theta, weight_decay=1 / theta)
    return MupRule(kind, m, init=theta, lr=theta, eps=1 / theta, weight_decay=1 / theta ** 2)


def std_at_base(std: float, fan_in_mult: float) -> float:
    """The std a fan_in rule (std ~ 1/sqrt(fan_in)) gives at the base width, from its
    std at a width whose fan_in is ``fan_in_mult`` times the base's.

    >>> std_at_base(0.05, 4.0)
    0.1
    """
    return std * math.sqrt(fan_in_mult)
