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
from dataclasses import dataclass, replace

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
         width_mult: float = 1.0, fold_readout: bool = True,
         eps_scaling: bool = False) -> MupRule:
    """The muP multipliers of one parameter.

    Args:
        kind: "scalar", "vector", "readout" or "hidden" (:func:`kind_of`).
        optimizer: "adam", "adamw" or "sgd".
        fan_in_mult, fan_out_mult: the width multipliers of a weight's fan_in and fan_out
            (hidden and readout).
        width_mult: the multiplier of a vector-like parameter's growing dimension.
        fold_readout: put the readout's 1/m into its tensor (init, LR, eps); False leaves
            it as ``forward`` (a tied readout, whose tensor is also the input embedding).
        eps_scaling: Adam's eps x 1/m on every parameter with a growing dimension, as its
            gradient entries shrink under muP (~1/m: the loss's gradient with respect to
            a hidden coordinate is ~1/m), so that eps stays the same fraction of the
            update's denominator (Everett et al. 2024, "Scaling Exponents Across
            Parameterizations and Optimizers", sec. 4.3). Off by default, as in the
            ``mup`` package.

    >>> r = rule("hidden", "adam", fan_in_mult=4.0, fan_out_mult=4.0)
    >>> r.lr, r.weight_decay
    (0.25, 4.0)
    >>> r = rule("readout", "adam", fan_in_mult=4.0)
    >>> r.init, r.lr, r.eps
    (0.25, 0.25, 4.0)
    >>> rule("vector", "sgd", width_mult=4.0).lr
    4.0
    >>> rule("hidden", "adam", fan_in_mult=4.0, fan_out_mult=4.0, eps_scaling=True).eps
    0.25
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
        r = MupRule(kind, m, lr=m if sgd else 1.0, weight_decay=1 / m if sgd else 1.0)
    elif kind == "hidden":
        m = fan_in_mult
        if sgd:
            ratio = fan_in_mult / fan_out_mult
            r = MupRule(kind, m, init=m ** -0.5, lr=1 / ratio, weight_decay=ratio)
        else:
            r = MupRule(kind, m, init=m ** -0.5, lr=1 / m, weight_decay=m)
    else:
        # readout: a vector-like tensor (mup: MuReadout's weight, its std kept constant)
        # read through theta = 1/m, folded in below (or left as a forward multiplier)
        m = fan_in_mult
        r = MupRule(kind, m, lr=m if sgd else 1.0, weight_decay=1 / m if sgd else 1.0)
    if eps_scaling and not sgd:
        r = replace(r, eps=r.eps / m)
    if kind != "readout":
        return r
    if not fold_readout:
        return replace(r, forward=1 / m)
    return fold(r, 1 / m, optimizer)


def fold(r: MupRule, theta: float, optimizer: str) -> MupRule:
    """``r`` with a forward multiplier ``theta`` on its tensor folded in (the
    abc-symmetry of Yang & Hu 2021, sec. 3): init x theta; SGD LR x theta^2 and coupled
    weight decay / theta^2; Adam LR x theta, eps / theta and weight decay / theta^2
    (coupled, Adam) or / theta (decoupled, AdamW: p *= 1 - lr wd). The training
    trajectory of ``theta * W`` is then that of the tensor read through ``theta``.

    >>> r = fold(MupRule("hidden", 4.0, init=0.5, lr=0.25), 0.5, "adam")
    >>> r.init, r.lr, r.eps, r.weight_decay
    (0.25, 0.125, 2.0, 4.0)
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r}: one of {', '.join(OPTIMIZERS)}")
    if not (math.isfinite(theta) and theta > 0):
        raise ValueError(f"theta {theta!r}: a finite multiplier > 0")
    if optimizer == "sgd":
        return replace(r, init=r.init * theta, lr=r.lr * theta ** 2,
                       weight_decay=r.weight_decay / theta ** 2)
    wd = theta if optimizer == "adamw" else theta ** 2
    return replace(r, init=r.init * theta, lr=r.lr * theta, eps=r.eps / theta,
                   weight_decay=r.weight_decay / wd)


def attention_multiplier(d_head_base: int, d_head: int, scale_base: float | None = None,
                         scale: float | None = None, numerator: float | None = None) -> float:
    """The multiplier muP puts on an attention's logits, relative to the model's own:
    the logits of a trained attention grow as d_head (queries and keys become
    correlated), so muP scales them by 1/d_head where the standard model has
    1/sqrt(d_head) (Yang et al. 2021, "Tensor Programs V", sec. 4 and Table 3). Relative
    to the base, whose logits keep the model's scale ``scale_base``:

        theta = (scale_base * d_head_base) / (scale * d_head)

    ``scale`` defaults to 1/sqrt(d_head) (scaled_dot_product_attention's, and most
    models'), giving theta = sqrt(d_head_base / d_head); 1 when d_head does not grow.
    ``numerator`` c sets the logits to c / d_head outright (the ``mup`` package's
    attn_mult: 8, equal to 1/sqrt(d_head) at d_head = 64): theta = c / (scale * d_head),
    not 1 at the base unless c = sqrt(d_head_base).

    >>> attention_multiplier(16, 64)
    0.5
    >>> attention_multiplier(64, 64, 0.125, 0.125)
    1.0
    >>> attention_multiplier(16, 64, numerator=8.0)
    1.0
    """
    if numerator is not None:
        if not (math.isfinite(numerator) and numerator > 0):
            raise ValueError(f"numerator {numerator!r}: a finite number > 0")
        s_here = d_head ** -0.5 if scale is None else scale
        return numerator / (s_here * d_head)
    if d_head_base < 1 or d_head < 1:
        raise ValueError(f"head sizes must be >= 1; got {d_head_base}, {d_head}")
    sb = d_head_base ** -0.5 if scale_base is None else scale_base
    s = d_head ** -0.5 if scale is None else scale
    if not (sb > 0 and s > 0):
        raise ValueError(f"attention scales must be > 0; got {sb}, {s}")
    return (sb * d_head_base) / (s * d_head)


def check_depth_alpha(alpha: float) -> None:
    """Raise unless ``alpha`` is a depth exponent: in [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha!r}: in [0, 1] (1: CompleteP, 0.5: Depth-muP)")


def depth_rule(r: MupRule, depth_mult: float, alpha: float, optimizer: str, *,
               branch_end: bool) -> MupRule:
    """``r`` (a parameter inside a residual branch) for a model ``depth_mult`` times as
    deep as the base, every branch's output read through depth_mult^-alpha: alpha = 1 is
    CompleteP (Dey et al. 2025, "Don't be lazy: CompleteP enables compute-efficient deep
    transformers", Table 1), alpha = 0.5 Depth-muP (Yang et al. 2023, "Tensor Programs
    VI"; Bordelon et al. 2023, "Depthwise Hyperparameter Transfer in Residual Networks").

    Every parameter of a branch: under Adam LR x depth_mult^(alpha - 1) (a branch's
    normalized update, read through depth_mult^-alpha, moves the residual stream by ~1/L)
    and eps x depth_mult^-alpha (its gradient carries the branch multiplier); under SGD
    LR x depth_mult^(2 alpha - 1) (the gradient carries the multiplier too). The branch
    multiplier itself is folded into the branch end (``branch_end``: :func:`fold`), so no
    forward changes. Weight decay as written for the unfolded tensor (CompleteP's
    reference implementation leaves it), carried through the fold.

    >>> r = depth_rule(MupRule("hidden", 4.0, lr=0.25), 4.0, 1.0, "adam", branch_end=True)
    >>> r.init, r.lr, r.eps
    (0.25, 0.0625, 1.0)
    >>> depth_rule(MupRule("vector", 4.0), 4.0, 0.5, "adam", branch_end=False).lr
    0.5
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r}: one of {', '.join(OPTIMIZERS)}")
    if not (math.isfinite(depth_mult) and depth_mult > 0):
        raise ValueError(f"depth_mult {depth_mult!r}: a finite ratio > 0")
    check_depth_alpha(alpha)
    if optimizer == "sgd":
        out = replace(r, lr=r.lr * depth_mult ** (2 * alpha - 1))
    else:
        out = replace(r, lr=r.lr * depth_mult ** (alpha - 1),
                      eps=r.eps * depth_mult ** -alpha)
    return fold(out, depth_mult ** -alpha, optimizer) if branch_end else out


def std_at_base(std: float, fan_in_mult: float) -> float:
    """The std a fan_in rule (std ~ 1/sqrt(fan_in)) gives at the base width, from its
    std at a width whose fan_in is ``fan_in_mult`` times the base's.

    >>> std_at_base(0.05, 4.0)
    0.1
    """
    return std * math.sqrt(fan_in_mult)
