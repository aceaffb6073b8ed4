"""Expectations over a standard normal, E[f(z)] for z ~ N(0, 1), by quadrature.

Smooth integrands use Gauss-Hermite quadrature (probabilists' weight exp(-z^2/2)),
which is exact for polynomials of degree < 2n and converges spectrally for smooth f.
An integrand with kinks (ReLU6, hardtanh, hardswish) converges only algebraically that
way, so when breakpoints are known the line is cut there and each piece gets its own
Gauss-Legendre rule on f(z) * pdf(z), again spectrally convergent.

Pure NumPy; the node tables are computed once and cached.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ._cache import memo

Array = NDArray[np.float64]

#: Nodes of the Gauss-Hermite rule. Even, so no node sits on a kink at 0 (ReLU); with a
#: symmetric rule the two halves of a kink at 0 are then integrated exactly. 200 nodes
#: integrate E[tanh'(z)^2] (poles at +-i pi/2 limit convergence) to 2e-15; numpy's
#: node computation overflows beyond about 360.
HERMITE_NODES = 200
#: Gauss-Legendre nodes per piece when the line is cut at breakpoints.
LEGENDRE_NODES = 96
#: The line is truncated to [-TAIL, TAIL]: P(|z| > 12) < 4e-33, negligible against any
#: integrand of polynomial growth.
TAIL = 12.0

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@memo(8)
def hermite_rule(n: int = HERMITE_NODES) -> tuple[Array, Array]:
    """Nodes and weights with sum(w * f(x)) ~= E[f(z)], z ~ N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / math.sqrt(2.0 * math.pi)


@memo(8)
def _legendre_rule(n: int) -> tuple[Array, Array]:
    return np.polynomial.legendre.leggauss(n)


def normal_pdf(z: Array) -> Array:
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * z * z), dtype=np.float64)


def gaussian_expectation(
    f: Callable[[Array], Array],
    breakpoints: Sequence[float] = (),
    *,
    std: float = 1.0,
    verify: bool = False,
) -> float:
    """E[f(std * z)] for z ~ N(0, 1).

    With ``breakpoints`` (kinks of f, in the units of f's argument) the integral is split
    there; otherwise Gauss-Hermite with :data:`HERMITE_NODES` nodes is used. With
    ``verify`` (for callables whose kinks are unknown) the Hermite rule is repeated with
    half the nodes; if the two disagree by more than 1e-9 (relative), the integrand is
    not smooth enough for it and adaptive quadrature (``scipy.integrate.quad``) decides.

    >>> round(gaussian_expectation(lambda z: z**4), 12)
    3.0
    >>> round(gaussian_expectation(lambda z: np.maximum(z, 0.0) ** 2, [0.0]), 12)
    0.5
    """
    if not std > 0 or not math.isfinite(std):
        raise ValueError(f"std must be a positive finite number; got {std!r}")
    cuts = sorted({b / std for b in breakpoints if abs(b / std) < TAIL} | set(scale_cuts(std)))
    if cuts:
        z, w = normal_rule(cuts)
        return float(np.dot(w, f(std * z)))
    x, w = hermite_rule()
    value = float(np.dot(w, f(std * x)))
    if not verify:
        return value
    xh, wh = hermite_rule(HERMITE_NODES // 2)
    half = float(np.dot(wh, f(std * xh)))
    if abs(half - value) <= 1e-9 * max(1.0, abs(value)):
        return value
    return _adaptive(f, std)


def _adaptive(f: Callable[[Array], Array], std: float) -> float:
    from scipy import integrate  # lazy: only non-smooth callables get here

    def integrand(z: float) -> float:
        zz = np.array([z], dtype=np.float64)
        return float(f(std * zz)[0] * normal_pdf(zz)[0])

    value, _ = integrate.quad(integrand, -TAIL, TAIL, limit=500, epsabs=1e-13, epsrel=1e-11)
    return float(value)


def scale_cuts(std: float) -> list[float]:
    """Extra cuts (in z units) when f(std z) varies on a scale much finer than z's: at
    u = +-1/2, 1, 2, 4, ... in f's own units, so a rule resolves features of size ~1 (the
    derivative of tanh) however wide the Gaussian. None for std <= 2."""
    if std <= 2.0:
        return []
    cuts, u = [0.0], 0.5
    while u / std < TAIL:
        cuts += [u / std, -u / std]
        u *= 2.0
    return cuts


def normal_rule(cuts: Sequence[float] = ()) -> tuple[Array, Array]:
    """Nodes and weights with sum(w * f(z)) ~= E[f(z)], z ~ N(0, 1), exact across ``cuts``
    (kinks of f in z units): Gauss-Hermite without cuts, composite Gauss-Legendre on
    f(z) pdf(z) with them."""
    inside = tuple(sorted({float(c) for c in cuts if abs(c) < TAIL}))
    if not inside:
        return hermite_rule()
    return _composite_rule(inside)


@memo(256)
def _composite_rule(inside: tuple[float, ...]) -> tuple[Array, Array]:
    """Composite Gauss-Legendre across the sorted cuts ``inside`` (cached: the same kinks
    recur for every layer with the same nonlinearity)."""
    edges = [-TAIL, *inside, TAIL]
    t, tw = _legendre_rule(LEGENDRE_NODES)
    nodes, weights = [], []
    for lo, hi in itertools.pairwise(edges):
        half = 0.5 * (hi - lo)
        z = lo + half * (t + 1.0)
        nodes.append(z)
        weights.append(half * tw * normal_pdf(z))
    x, w = np.concatenate(nodes), np.concatenate(weights)
    x.setflags(write=False)  # shared by every caller of the cache
    w.setflags(write=False)
    return x, w


def gaussian_product_expectation(
    f: Callable[[Array], Array],
    g: Callable[[Array], Array],
    q11: float,
    q22: float,
    q12: float,
    breakpoints_f: Sequence[float] = (),
    breakpoints_g: Sequence[float] = (),
) -> float:
    """E[f(u1) g(u2)] for (u1, u2) ~ N(0, [[q11, q12], [q12, q22]]): the mean-field c-map.

    Written as u1 = sqrt(q11) z1, u2 = sqrt(q22) (c z1 + s z2), c = q12 / sqrt(q11 q22),
    s = sqrt(1 - c^2): an outer rule over z1 and, for each z1, an inner rule over z2 cut
    where g has its kinks (their z2 position moves with z1), so kinked activations
    (ReLU) are integrated as accurately as smooth ones.

    >>> round(gaussian_product_expectation(lambda a: a, lambda b: b, 2.0, 3.0, 1.5), 10)
    1.5
    """
    if not (q11 > 0 and q22 > 0):
        raise ValueError(f"variances must be > 0; got q11={q11!r}, q22={q22!r}")
    c = q12 / math.sqrt(q11 * q22)
    if not -1.0 - 1e-12 <= c <= 1.0 + 1e-12:
        raise ValueError(f"|q12| must be <= sqrt(q11*q22); got correlation {c!r}")
    c = min(1.0, max(-1.0, c))
    s1, s2, s = math.sqrt(q11), math.sqrt(q22), math.sqrt(max(0.0, 1.0 - c * c))
    z1, w1 = normal_rule([b / s1 for b in breakpoints_f] + scale_cuts(s1))
    outer = f(s1 * z1)
    if s == 0.0:
        return float(np.dot(w1, outer * g(s2 * c * z1)))
    if not breakpoints_g and s2 * s <= 2.0:
        z2, w2 = hermite_rule()
        inner = g(s2 * (c * z1[:, None] + s * z2[None, :])) @ w2
        return float(np.dot(w1, outer * inner))
    # g's kinks sit at z2 = (b / s2 - c z1) / s, moving with z1; around u2 = 0 a wide
    # Gaussian also needs cuts at g's own unit scale. Every outer node gets the same number
    # of pieces (cuts clamped to the truncated line), so all inner rules are one array.
    rel = np.array([*breakpoints_g, 0.0]) / s2
    offsets = np.array(scale_cuts(s2 * s)) if s2 * s > 2.0 else np.zeros(0)
    centres = (rel[None, :] - c * z1[:, None]) / s  # (n1, kinks + 1)
    cuts = np.concatenate([centres, (centres[:, -1:] + offsets[None, :])], axis=1)
    cuts = np.sort(np.clip(cuts, -TAIL, TAIL), axis=1)
    edges = np.concatenate([np.full((len(z1), 1), -TAIL), cuts, np.full((len(z1), 1), TAIL)],
                           axis=1)
    t, tw = _legendre_rule(LEGENDRE_NODES)
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]  # (n1, pieces, 1)
    half = 0.5 * (hi - lo)
    z2 = lo + half * (t[None, None, :] + 1.0)  # (n1, pieces, nodes)
    w2 = half * tw[None, None, :] * normal_pdf(z2)
    vals = g(s2 * (c * z1[:, None, None] + s * z2))
    inner = np.sum(vals * w2, axis=(1, 2))
    return float(np.dot(w1, outer * inner))
