"""Gains for any activation, computed by quadrature.

A gain g multiplies the base standard deviation of an initializer so that a layer
compensates the nonlinearity phi applied to its input (He et al. 2015, eq. 7-10):

- ``forward``:  g = 1 / sqrt(E[phi(z)^2]),  z ~ N(0, 1). Keeps the second moment of the
  pre-activations at 1 from layer to layer (He et al.'s forward condition).
- ``backward``: g = 1 / sqrt(E[phi'(z)^2]). Keeps the variance of back-propagated
  gradients (He et al.'s backward condition, with fan_out).
- ``torch``: exactly what ``torch.nn.init.calculate_gain`` returns, a historical table
  for seven names. Its tanh 5/3 and selu 3/4 are neither criterion (the forward gain of
  tanh is 1.5925, of selu 1): selu's 3/4 was added in 2021 because it kept a 100-layer
  stack's gradients stable in one experiment (pytorch PR 50664), and torch documents no
  derivation of 5/3 (asked in pytorch issue 24991). Any other activation is an error
  under this criterion.

Why forward and backward differ: He et al.'s two conditions agree only when
E[phi^2] = E[phi'^2] (ReLU and its leaky variants: both 1/2 for ReLU). For tanh the
forward condition asks for 1.5925, the backward for 1.4674; a layer can meet one of them
exactly, and ``criterion`` says which.

Closed forms (ReLU sqrt(2), leaky ReLU sqrt(2 / (1 + a^2)), identity 1, SELU forward 1)
are the test oracles of the quadrature, not a table it reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, TypeVar, cast

import numpy as np

from ._cache import memo
from .activations import Activation, activation
from .quadrature import TAIL, gaussian_expectation

T = TypeVar("T")
Criterion = Literal["forward", "backward", "torch"]
CRITERIA: tuple[str, ...] = ("forward", "backward", "torch")

def second_moment(act: Activation, *, derivative: bool = False) -> float:
    """E[phi(z)^2] (or E[phi'(z)^2] with ``derivative``) for z ~ N(0, 1); inf when the
    integral diverges (phi^2 grows as fast as the normal density falls, or faster)."""
    f = act.derivative if derivative else act.fn
    if not act.smooth_known and _diverges(f):
        return math.inf
    return gaussian_expectation(
        lambda z: f(z) ** 2, act.breakpoints, verify=not act.smooth_known
    )


#: Where the tails of E[phi(z)^2] are probed: the quadrature's range and twice it.
_PROBES = np.array([-2 * TAIL, -TAIL, TAIL, 2 * TAIL])


def _diverges(f: Callable[[np.ndarray], np.ndarray]) -> bool:
    """Whether phi(z)^2 pdf(z) fails to fall from |z| = TAIL to 2 TAIL (or phi is not
    finite there): then E[phi(z)^2] is infinite or beyond what a quadrature on
    [-TAIL, TAIL] sees, and no gain exists. Every activation of polynomial or
    exponential growth falls by many orders of magnitude over that range."""
    with np.errstate(all="ignore"):
        values = np.abs(np.asarray(f(_PROBES), dtype=np.float64))
        if not np.isfinite(values).all():
            return True
        log_integrand = 2 * np.log(np.maximum(values, 1e-300)) - 0.5 * _PROBES**2
    return bool(log_integrand[0] >= log_integrand[1] or log_integrand[3] >= log_integrand[2])


def gain_of(act: Activation, criterion: str = "forward") -> float:
    """The gain of a resolved activation under ``criterion`` (see the module docstring)."""
    if criterion == "torch":
        return _torch_gain(act)
    if criterion not in ("forward", "backward"):
        raise ValueError(
            f"unknown gain criterion {criterion!r}; valid: {', '.join(map(repr, CRITERIA))}"
        )
    m = second_moment(act, derivative=criterion == "backward")
    if not m > 0 or not math.isfinite(m):
        raise ValueError(
            f"activation {act.name} has E[{'phi_prime' if criterion == 'backward' else 'phi'}"
            f"(z)^2] = {m!r} under N(0, 1); no finite {criterion} gain exists"
        )
    return 1.0 / math.sqrt(m)


def _torch_gain(act: Activation) -> float:
    """torch.nn.init.calculate_gain's value, which the activation's record carries."""
    if act.torch_name == "leaky_relu" and act.torch_gain is None:
        raise ValueError(f"leaky_relu slope {act.param!r} makes the gain sqrt(2 / (1 + "
                         "slope^2)) underflow to 0")
    if act.torch_gain is None:
        raise ValueError(
            f"torch.nn.init.calculate_gain defines no gain for {act.name}; it knows "
            "linear, conv1d/2d/3d, conv_transpose1d/2d/3d, sigmoid, tanh, relu, leaky_relu, "
            "selu. Use criterion='forward' or 'backward' for any activation."
        )
    return act.torch_gain


def mirrored(act: Activation, sign: float = -1.0) -> Activation:
    """phi(x) + sign phi(-x) as an activation: with sign -1, psi(x) = phi(x) - phi(-x),
    what a looks-linear layer reads from a mirrored pair (twice phi's odd part); with
    +1, twice its even part. Its kinks are phi's and their mirror images."""
    cuts = tuple(sorted({*act.breakpoints, *(-b for b in act.breakpoints)}))
    label = "mirrored pairs" if sign < 0 else "even part"
    return Activation(f"{act.name} ({label})", lambda x: act.fn(x) + sign * act.fn(-x),
                      lambda x: act.derivative(x) - sign * act.derivative(-x), cuts,
                      smooth_known=act.smooth_known)


def moment_slope(act: Activation, q: float) -> float:
    """dM/dq for M(q) = E[phi(sqrt(q) z)^2]: by Stein's lemma E[phi(u) phi'(u) u] / q,
    u ~ N(0, q) (phi' only: kinks, as hardswish's, need no phi''); q = 0 as q -> 0+."""
    q = max(q, 1e-24)
    return gaussian_expectation(lambda u: act.fn(u) * act.derivative(u) * u, act.breakpoints,
                                std=math.sqrt(q), verify=not act.smooth_known) / q


def activation_property(compute: Callable[[Activation], T], act: Activation) -> T:
    """``compute(act)``, cached for registry activations (by ``compute``, name and
    parameter); a callable's is computed each time (two callables may share a name)."""
    if act.key is not None and act.smooth_known:
        return cast(T, _registry_property(compute, act.key, act.param))
    return compute(act)


@memo(512)
def _registry_property(compute: Callable[[Activation], object], key: str,
                       param: float | None) -> object:
    return compute(activation(key, param))


def looks_linear_gain(act: Activation) -> float:
    """The gain of a looks-linear layer (Balduzzi et al. 2017, "The Shattered Gradients
    Problem", sec. 5): mirrored units carry phi(z) and phi(-z), the mirrored weights read
    their difference psi(z) = phi(z) - phi(-z), and g = 1 / sqrt(E[psi(z)^2]) keeps its
    second moment. psi(z) = z exactly for ReLU, GELU, SiLU and Hardswish (an odd part of
    z / 2): gain 1, and the network is exactly linear at init; (1 + a) z for leaky ReLU;
    between z and 1.2 z for Mish.

    >>> from initscope._core.activations import activation
    >>> round(looks_linear_gain(activation("gelu")), 12)
    1.0
    >>> round(looks_linear_gain(activation("leaky_relu", 0.2)), 12)
    0.833333333333
    """
    m = second_moment(mirrored(act))
    if not m > 0 or not math.isfinite(m):
        raise ValueError(f"activation {act.name} has E[(phi(z) - phi(-z))^2] = {m!r}: an even "
                         "function (or one without a finite odd part) cannot look linear")
    return 1.0 / math.sqrt(m)


def variance_map_slope(act: Activation) -> float:
    """The slope at q = 1 of the length map q -> g^2 E[phi(sqrt(q) z)^2] under the
    forward gain g (which makes q = 1 its fixed point with no bias):
    M'(1) / M(1) = E[phi(z) phi'(z) z] / E[phi(z)^2] (Stein's lemma). Above 1 a deviation
    of a layer's second moment (finite width makes one) grows by this factor per layer:
    GELU 1.14, SiLU 1.17, Mish 1.08, Hardswish 1.22; tanh 0.46 and ELU 0.89 shrink it;
    ReLU's is 1. (:func:`initscope.theory.variance_map_stability` computes the same for
    any sigma_w2, sigma_b2.)

    >>> round(variance_map_slope(activation("relu")), 12)
    1.0
    """
    return activation_property(_slope, act)


def _slope(act: Activation) -> float:
    m = second_moment(act)
    if not 0 < m < math.inf:
        raise ValueError(f"activation {act.name} has E[phi(z)^2] = {m!r}: no length map")
    return moment_slope(act, 1.0) / m


def is_odd(act: Activation) -> bool:
    """Whether phi(-z) = -phi(z) (tanh, erf, softsign, the identity): then a mirrored
    pair carries phi(z) - phi(-z) = 2 phi(z), and looks-linear is no linearization.

    >>> is_odd(activation("tanh")), is_odd(activation("gelu"))
    (True, False)
    """
    return activation_property(_odd, act)


def _odd(act: Activation) -> bool:
    return second_moment(mirrored(act, 1.0)) <= 1e-20 * max(second_moment(act), 1e-300)
