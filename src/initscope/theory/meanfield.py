"""Mean-field signal propagation in wide random networks, for any activation.

For h^l = W^l phi(h^(l-1)) + b^l with W_ij ~ N(0, sigma_w2 / N), b_i ~ N(0, sigma_b2)
(Poole et al. 2016; Schoenholz et al. 2017, "Deep Information Propagation"):

- q-map (length):      q^l = sigma_w2 E[phi(sqrt(q^(l-1)) z)^2] + sigma_b2, fixed point q*;
- c-map (correlation): c^l = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q*,
  (u1, u2) ~ N(0, q* [[1, c], [c, 1]]), fixed point c*;
- chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2]: the slope of the c-map at c = 1 and the factor
  by which a gradient's variance grows per layer (backward); chi_1 = 1 is the edge of
  chaos, where the correlation depth scale xi_c diverges;
- depth scales: xi_q^-1 = -log(sigma_w2 E[phi'^2 + phi phi'']) (eq. 6 of Schoenholz et
  al.), xi_c^-1 = -log(chi_c), chi_c = dc^l/dc^(l-1) at c* (= chi_1 when c* = 1);
  networks train up to about 6 xi_c layers deep (their Fig. 5).

Every Gaussian expectation is quadrature (``initscope._core.quadrature``), split at the
activation's kinks; closed forms (ReLU's arc-cosine kernel, erf's arcsine kernel,
identity) are the test oracles. The convention is that of the papers: sigma_w2 is the
*weight variance times fan_in*, i.e. the square of a gain (He's ReLU init: sigma_w2 = 2).

>>> round(critical_sigma_w2("relu"), 6)
2.0
>>> round(chi1("tanh", 1.0, 0.0), 6)   # tanh at sigma_w2 = 1, no bias: q* = 0, chi_1 = 1
1.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._core.activations import Activation
from .._core.gain import moment_slope
from .._core.quadrature import gaussian_expectation, gaussian_product_expectation
from .._gain import ActivationLike, resolve_activation

#: Below this q the pre-activations are taken to have collapsed to 0 (ordered phase with
#: sigma_b2 = 0); above Q_MAX they have exploded.
Q_MIN, Q_MAX = 1e-12, 1e12


def _act(spec: ActivationLike) -> Activation:
    return spec if isinstance(spec, Activation) else resolve_activation(spec)


def _number(x: object) -> bool:
    """A real Python or NumPy number (the theory is NumPy: no tensors, no bools)."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _check(sigma_w2: float, sigma_b2: float) -> tuple[float, float]:
    """The two variances, validated, as Python floats (NumPy float32 scalars would turn
    the theory's arithmetic into float32)."""
    if not (_number(sigma_w2) and sigma_w2 > 0 and math.isfinite(sigma_w2)):
        raise ValueError(f"sigma_w2 must be a positive finite number; got {sigma_w2!r}")
    if not (_number(sigma_b2) and sigma_b2 >= 0 and math.isfinite(sigma_b2)):
        raise ValueError(f"sigma_b2 must be a non-negative finite number; got {sigma_b2!r}")
    return float(sigma_w2), float(sigma_b2)


def _check_length(name: str, q: float, *, zero: bool = False) -> float:
    ok = _number(q) and math.isfinite(q) and (q >= 0 if zero else q > 0)
    if not ok:
        raise ValueError(f"{name} must be a {'non-negative' if zero else 'positive'} finite "
                         f"number (a second moment); got {q!r}")
    return float(q)


def _check_correlation(name: str, c: float) -> float:
    if not (_number(c) and -1.0 <= c <= 1.0):
        raise ValueError(f"{name} must lie in [-1, 1] (a correlation); got {c!r}")
    return float(c)


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be an int >= 0 (a number of layers); got {depth!r}")


def gaussian_moment(act: Activation, q: float, *, derivative: bool = False) -> float:
    """E[phi(sqrt(q) z)^2] (or of phi' with ``derivative``), z ~ N(0, 1): the moment
    the length map (and chi_1) propagates; q = 0 is taken as the limit q -> 0+.

    >>> from initscope import activation
    >>> round(gaussian_moment(activation("relu"), 2.0), 12)
    1.0
    """
    # At q = 0 take the limit q -> 0+ (for ReLU E[phi'^2] stays 1/2, not phi'(0)^2 = 0).
    q = max(q, 1e-24)
    f = act.derivative if derivative else act.fn
    return gaussian_expectation(lambda u: f(u) ** 2, act.breakpoints, std=math.sqrt(q),
                                verify=not act.smooth_known)


def q_map(activation: ActivationLike, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """One step of the length map: sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2.

    >>> round(q_map("relu", 2.0, 0.0, 1.7), 12)   # He init keeps ReLU's q exactly
    1.7
    """
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    q = _check_length("q", q, zero=True)
    return sigma_w2 * gaussian_moment(_act(activation), q) + sigma_b2


def q_star(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, *,
           q0: float = 1.0) -> float:
    """The fixed point q* that the length map reaches from ``q0``: 0 if the signal dies
    out, ``inf`` if it explodes. Where every length is a fixed point (ReLU-like maps at
    criticality) it is ``q0`` itself.

    Found without iterating the map (which crawls near criticality): G(q) = q_map(q) - q
    is tabulated on a log grid; the flow from q0 goes up while G > 0 and down while
    G < 0, so q* is the first root in that direction, polished by Brent's method.
    """
    act = _act(activation)
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    q0 = _check_length("q0", q0)

    def excess(q: float) -> float:
        return sigma_w2 * gaussian_moment(act, q) + sigma_b2 - q

    def noise(q: float) -> float:  # quadrature is exact to ~1e-11 relative
        return 1e-9 * max(1.0, q)

    g0 = excess(q0)
    if abs(g0) <= noise(q0):
        return q0
    from scipy.optimize import brentq  # lazy: scipy is heavy

    if g0 > 0:
        grid = q0 * np.logspace(0.0, math.log10(Q_MAX / q0), 121)
    else:
        grid = q0 * np.logspace(0.0, math.log10(Q_MIN / q0), 121)
    sign = 1.0 if g0 > 0 else -1.0  # G keeps this sign until the flow meets a root
    prev_q, prev_g = q0, g0
    before: tuple[float, float] | None = None  # the point before prev
    for q in grid[1:]:
        g = excess(float(q))
        if sign * g < -noise(q):  # a sign change beyond noise
            if (prev_g > 0) == (g > 0):
                return prev_q  # the root is within noise of the previous point
            lo, hi = sorted((prev_q, float(q)))
            return float(brentq(excess, lo, hi, xtol=1e-14 * max(1.0, lo), rtol=1e-13))
        if before is not None and sign * prev_g < sign * before[1] and sign * g > sign * prev_g:
            # G turned back toward its sign between two samples: the pair of roots near a
            # saddle-node (a narrow dip past zero the grid may step over) is looked for
            # at the dip's bottom.
            root = _dip_root(excess, sign, before[0], float(q), noise)
            if root is not None:
                return root
        before = (prev_q, prev_g)
        prev_q, prev_g = float(q), g
    return math.inf if g0 > 0 else 0.0


def _dip_root(excess: Callable[[float], float], sign: float, a: float, b: float,
              noise: Callable[[float], float]) -> float | None:
    """The first root of ``excess`` in [a, b] (in the flow's direction from a) when
    sign * excess dips below zero between them, else None. The dip's bottom is found by
    a bounded minimization in log q."""
    from scipy.optimize import brentq, minimize_scalar

    lo, hi = sorted((a, b))
    res = minimize_scalar(lambda t: sign * excess(math.exp(t)),
                          bounds=(math.log(lo), math.log(hi)), method="bounded",
                          options={"xatol": 1e-12})
    bottom = math.exp(float(res.x))
    if sign * excess(bottom) >= -noise(bottom):
        return None
    x, y = sorted((a, bottom))
    return float(brentq(excess, x, y, xtol=1e-14 * max(1.0, x), rtol=1e-13))


def _corr(act: Activation, q: float, c: float) -> float:
    return gaussian_product_expectation(act.fn, act.fn, q, q, c * q, act.breakpoints,
                                        act.breakpoints)


def c_map(activation: ActivationLike, sigma_w2: float, sigma_b2: float, c: float,
          q: float | None = None) -> float:
    """One step of the correlation map at length ``q`` (default q*)."""
    act = _act(activation)
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    c = _check_correlation("correlation c", c)
    if q is not None:
        q = _check_length("q", q)
    q = q_star(act, sigma_w2, sigma_b2) if q is None else q
    if not 0.0 < q < math.inf:
        raise ValueError(f"the length fixed point is q* = {q}; correlations are undefined")
    q_next = sigma_w2 * gaussian_moment(act, q) + sigma_b2
    return (sigma_w2 * _corr(act, q, c) + sigma_b2) / q_next


#: |c_map(c) - c| at or below this is taken as zero: the product quadrature is exact to
#: ~1e-16 near c = 1 (checked against erf's arcsine kernel), so this leaves three orders.
_C_NOISE = 1e-13


def c_star(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0, *,
           c0: float = 0.5) -> float:
    """The correlation fixed point reached from ``c0``: 1 in the ordered phase, below 1
    in the chaotic one. Like :func:`q_star`, the first root of c_map(c) - c in the
    direction of the flow, from a table and Brent's method (iterating the map crawls near
    criticality). Upward the table is geometric in 1 - c, down to 1e-10: just above the
    edge of chaos c* sits within 1e-3 of 1 (tanh at 1.001x its critical sigma_w2,
    sigma_b2 = 0.05: c* = 0.99769), which an even grid steps over onto the trivial root
    c = 1.

    >>> round(c_star("tanh", 1.001 * critical_sigma_w2("tanh", 0.05), 0.05), 5)
    0.99769
    """
    act = _act(activation)
    c0 = _check_correlation("c0", c0)
    q = q_star(act, sigma_w2, sigma_b2)
    if not 0.0 < q < math.inf:
        raise ValueError(f"the length fixed point is q* = {q}; correlations are undefined")

    def excess(c: float) -> float:
        return c_map(act, sigma_w2, sigma_b2, c, q) - c

    g0 = excess(c0)
    if abs(g0) <= _C_NOISE or c0 == 1.0:
        return c0
    from scipy.optimize import brentq  # lazy: scipy is heavy

    if g0 > 0:  # up toward c = 1, itself always a fixed point
        grid = 1.0 - (1.0 - c0) * np.logspace(0.0, math.log10(1e-10 / (1.0 - c0)), 161)
        end = 1.0
    else:
        grid = np.linspace(c0, -1.0, 81)
        end = -1.0
    prev = c0
    for c in grid[1:]:
        g = excess(float(c))
        if abs(g) <= _C_NOISE:
            continue  # within noise of a root: the sign is not known; look further
        if (g > 0) != (g0 > 0):
            lo, hi = sorted((prev, float(c)))
            return float(brentq(excess, lo, hi, xtol=1e-15, rtol=1e-15))
        prev = float(c)
    return end


def chi1(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0,
         q: float | None = None) -> float:
    """sigma_w2 E[phi'(sqrt(q*) z)^2]: 1 at criticality, < 1 ordered, > 1 chaotic."""
    act = _act(activation)
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    if q is not None:
        q = _check_length("q", q, zero=True)
    q = q_star(act, sigma_w2, sigma_b2) if q is None else q
    if q == math.inf:
        return math.inf
    return sigma_w2 * gaussian_moment(act, q, derivative=True)


def chi_c(activation: ActivationLike, sigma_w2: float, sigma_b2: float, c: float,
          q: float | None = None, h: float = 1e-5) -> float:
    """Slope of the c-map at ``c`` (one-sided difference at c = 1)."""
    act = _act(activation)
    c = _check_correlation("correlation c", c)
    if not (isinstance(h, (int, float)) and 0.0 < h < 1.0):
        raise ValueError(f"h (the difference step) must lie in (0, 1); got {h!r}")
    if q is not None:
        q = _check_length("q", q)
    q = q_star(act, sigma_w2, sigma_b2) if q is None else q
    if c >= 1.0 - h:
        return chi1(act, sigma_w2, sigma_b2, q)
    lo, hi = max(-1.0, c - h), min(1.0, c + h)
    return (c_map(act, sigma_w2, sigma_b2, hi, q) - c_map(act, sigma_w2, sigma_b2, lo, q)) / (
        hi - lo)


#: chi_1 (or a map's slope) this close to 1 is 1: the quadrature is exact to ~1e-11 and
#: critical_sigma_w2 finds the critical point to a relative 1e-10, which moves chi_1 by
#: about as much. A depth scale at a slope within it of 1 is infinite.
CRITICAL_TOL = 1e-8


@dataclass(frozen=True)
class DepthScales:
    """Schoenholz et al. 2017's depth scales at (sigma_w2, sigma_b2)."""

    q_star: float
    c_star: float
    chi1: float
    xi_q: float
    xi_c: float

    @property
    def trainable_depth(self) -> float:
        """About 6 xi_c: the deepest network that trains (Schoenholz et al., Fig. 5)."""
        return 6.0 * self.xi_c

    @property
    def phase(self) -> str:
        """"critical" where chi_1 = 1 within the precision the critical point is found
        to (CRITICAL_TOL); "ordered" below, "chaotic" above (tanh at 1.001x its critical
        sigma_w2 has chi_1 = 1.00038: chaotic, with c* = 0.99769)."""
        if abs(self.chi1 - 1.0) <= CRITICAL_TOL:
            return "critical"
        return "ordered" if self.chi1 < 1.0 else "chaotic"


def _second_derivative(act: Activation) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """phi'' by central differences of phi' (0 at kinks' sides, as the quadrature splits)."""

    def d2(x: NDArray[np.float64]) -> NDArray[np.float64]:
        h = 1e-4 * np.maximum(1.0, np.abs(x))
        return np.asarray((act.derivative(x + h) - act.derivative(x - h)) / (2.0 * h))

    return d2


def depth_scales(activation: ActivationLike, sigma_w2: float, sigma_b2: float = 0.0
                 ) -> DepthScales:
    """q*, c*, chi_1 and the depth scales xi_q, xi_c (``inf`` at criticality)."""
    act = _act(activation)
    q = q_star(act, sigma_w2, sigma_b2)
    if not 0.0 < q < math.inf:
        raise ValueError(
            f"{act.name} at sigma_w2={sigma_w2}, sigma_b2={sigma_b2} has q* = {q}: the "
            "signal vanishes or explodes, no depth scales exist"
        )
    x1 = chi1(act, sigma_w2, sigma_b2, q)
    d2 = _second_derivative(act)
    rate_q = sigma_w2 * gaussian_expectation(
        lambda u: act.derivative(u) ** 2 + act.fn(u) * d2(u), act.breakpoints, std=math.sqrt(q))
    cs = c_star(act, sigma_w2, sigma_b2)
    slope_c = chi_c(act, sigma_w2, sigma_b2, cs, q)
    # The maps converge at rates rate_q and slope_c (< 1 at a stable fixed point); a rate
    # of 1 (criticality) means the depth scale diverges.
    xi_q = -1.0 / math.log(rate_q) if 0.0 < rate_q < 1.0 - CRITICAL_TOL else math.inf
    xi_c = -1.0 / math.log(slope_c) if 0.0 < slope_c < 1.0 - CRITICAL_TOL else math.inf
    return DepthScales(q, cs, x1, xi_q, xi_c)


#: A length fixed point this many times sigma_b2 next to chi_1 = 1 is a divergent one
#: met at the precision of the bisection (the bisection stops 1e-10 from the root).
_DEGENERATE = 1e6


def critical_sigma_w2(activation: ActivationLike, sigma_b2: float = 0.0, *,
                      lo: float = 1e-3, hi: float = 1e3, tol: float = 1e-10) -> float:
    """The sigma_w2 at which chi_1 = 1 for this sigma_b2 (the order-to-chaos transition).

    >>> round(critical_sigma_w2("tanh", 0.05), 2)   # Schoenholz et al. 2017
    1.76
    """
    act = _act(activation)
    _, sigma_b2 = _check(1.0, sigma_b2)
    # The stable length fixed point: the first the map reaches from below. With a bias
    # every length is at least sigma_b2, so start there; starting at q = 1 would leave
    # the stable branch wherever 1 lies above the unstable fixed point (GELU at
    # sigma_b2 = 0.05 from sigma_w2 = 2.234 on, though the stable one lasts to 2.416).
    start = sigma_b2 if sigma_b2 > 0 else 1.0

    def stable_chi1(sw2: float) -> float:
        q = q_star(act, sw2, sigma_b2, q0=start)
        return math.inf if q == math.inf else chi1(act, sw2, sigma_b2, q)

    def excess(sw2: float) -> float:
        return stable_chi1(sw2) - 1.0

    a, b = lo, hi
    fa, fb = excess(a), excess(b)
    if fa > 0 or fb < 0 or math.isnan(fa) or math.isnan(fb):
        raise ValueError(
            f"no critical sigma_w2 in [{lo}, {hi}] for {act.name} at sigma_b2={sigma_b2} "
            f"(chi_1 - 1 = {fa:.3g} at {lo}, {fb:.3g} at {hi})"
        )
    for _ in range(200):  # bisection on a log scale: chi_1 grows with sigma_w2
        m = math.sqrt(a * b)
        fm = excess(m)
        if fm == 0:  # (ReLU's chi_1 = sigma_w2 / 2 meets 1 exactly at 2): checks below
            a = b = m
            break
        if b / a - 1.0 < tol:
            break
        if fm < 0:
            a = m
        else:
            b = m
    if sigma_b2 > 0:
        q_below = q_star(act, a * (1 - tol), sigma_b2, q0=start)
        if not q_below < _DEGENERATE * sigma_b2:
            # chi_1 = 1 where the length map has no finite fixed point: ReLU and other
            # positively homogeneous maps (q -> sigma_w2 q / 2 + sigma_b2 at chi_1 = 1 is
            # q + sigma_b2, which grows without bound)
            raise ValueError(
                f"{act.name}'s critical point is degenerate at sigma_b2={sigma_b2}: chi_1 = 1 "
                f"at sigma_w2 = {math.sqrt(a * b):.6g}, but there the length fixed point q* "
                "is infinite (the signal grows by sigma_b2 every layer); an edge of chaos "
                "with finite q* exists only at sigma_b2 = 0"
            )
    below = stable_chi1(a)
    if abs(below - 1.0) > 1e-6:
        # chi_1 jumped over 1: the stable length fixed point vanished there (a saddle-node
        # of the q-map, as for GELU and SiLU with a bias) and the signal explodes beyond.
        raise ValueError(
            f"{act.name} has no edge of chaos at sigma_b2={sigma_b2}: chi_1 rises only to "
            f"{below:.4g} before the fixed point q* disappears at sigma_w2 = {math.sqrt(a * b):.6g}"
            " (beyond it the signal explodes)"
        )
    return math.sqrt(a * b)


#: A variance map whose slope at its fixed point is within this of 1 is neutral (ReLU's,
#: the identity's: exactly 1).
NEUTRAL_TOL = 1e-6


@dataclass(frozen=True)
class Stability:
    """How the length map q -> sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2 treats a deviation
    from its fixed point q*: ``slope`` = its derivative there, the factor by which a small
    relative deviation of the second moment (a finite-width fluctuation) grows per layer.
    < 1: deviations die out (tanh under "auto": 0.46); = 1: neutral, a network drifts
    log-normally (ReLU under He); > 1: they grow geometrically (GELU under "auto": 1.14,
    so x1.14^50 ~ 700 over 50 layers). ``zero_bias_stable``: whether any sigma_w2 gives
    a stable nonzero fixed point with no bias (GELU, SiLU, Mish, Hardswish: none, as
    M(q) / q rises for every q)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    slope: float
    zero_bias_stable: bool

    @property
    def verdict(self) -> str:
        if abs(self.slope - 1.0) <= NEUTRAL_TOL:
            return "neutral"
        return "stable" if self.slope < 1.0 else "unstable"

    def __str__(self) -> str:
        what = {"stable": f"deviations shrink x{self.slope:.3g} per layer",
                "neutral": "deviations neither grow nor shrink on average (log-normal drift)",
                "unstable": f"deviations grow x{self.slope:.3g} per layer"}[self.verdict]
        return (f"{self.activation} at sigma_w2={self.sigma_w2:.4g}, sigma_b2={self.sigma_b2:g}: "
                f"fixed point q* = {self.q_star:.4g}, slope {self.slope:.4g} ({self.verdict}): "
                f"{what}")


def variance_map_stability(activation: ActivationLike, sigma_w2: float | None = None,
                           sigma_b2: float = 0.0, *, q0: float = 1.0) -> Stability:
    """The stability of the length map's fixed point (see :class:`Stability`). With
    ``sigma_w2`` None: "auto"'s, 1 / E[phi(z)^2], which makes q = 1 the fixed point with
    no bias. The fixed point is the one reached from ``q0``; slope = sigma_w2 M'(q*).

    >>> round(variance_map_stability("gelu").slope, 2)
    1.14
    >>> variance_map_stability("tanh").verdict
    'stable'
    """
    act = _act(activation)
    if sigma_w2 is None:
        from .._core.gain import gain_of

        sigma_w2 = gain_of(act) ** 2
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    q = q_star(act, sigma_w2, sigma_b2, q0=q0)
    if not 0.0 < q < math.inf:
        raise ValueError(f"{act.name} at sigma_w2={sigma_w2}, sigma_b2={sigma_b2} has q* = "
                         f"{q} from q0 = {q0}: the signal vanishes or explodes, no fixed "
                         "point to be stable")
    slope = sigma_w2 * moment_slope(act, q)
    # With no bias a fixed point q has sigma_w2 = q / M(q) and slope q M'(q) / M(q): it
    # can be stable somewhere iff d log M / d log q < 1 somewhere.
    grid = np.logspace(-3.0, 3.0, 25)
    zero_bias = any(float(g) * moment_slope(act, float(g)) < (1.0 - NEUTRAL_TOL) *
                    gaussian_moment(act, float(g)) for g in grid)
    return Stability(act.name, sigma_w2, sigma_b2, q, slope, zero_bias)


#: The bias variances :func:`stable_critical_point` tries, smallest first (0.05 is
#: Schoenholz et al. 2017's for tanh).
CRITICAL_BIASES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)


def stable_critical_point(activation: ActivationLike) -> tuple[float, float]:
    """(sigma_w2, sigma_b2) on the edge of chaos (chi_1 = 1) at the smallest bias
    variance of ``CRITICAL_BIASES`` where the edge exists on the stable branch of the
    length map (its fixed point q* finite, slope < 1): Hayou, Doucet & Rousseau 2019, "On
    the Impact of the Activation Function on Deep Neural Networks Training". tanh:
    (1.76, 0.05); GELU and SiLU have no edge below sigma_b2 ~ 0.17 and 0.3. Where no
    bias admits one (ReLU: chi_1 = 1 only at sigma_b2 = 0, where every length is a fixed
    point) it is the zero-bias critical point, (2, 0) for ReLU.

    >>> w, b = stable_critical_point("gelu")
    >>> round(w, 3), b
    (1.971, 0.2)
    """
    act = _act(activation)
    for sb2 in CRITICAL_BIASES:
        try:
            sw2 = critical_sigma_w2(act, sb2)
        except ValueError:
            continue
        q = q_star(act, sw2, sb2, q0=sb2)
        if 0.0 < q < math.inf and sw2 * moment_slope(act, q) < 1.0 - NEUTRAL_TOL:
            return sw2, sb2
    try:
        return critical_sigma_w2(act, 0.0), 0.0
    except ValueError as e:
        raise ValueError(f"{act.name} has no stable edge of chaos at sigma_b2 in "
                         f"{CRITICAL_BIASES} nor at 0 ({e})") from None


def critical_line(activation: ActivationLike, sigma_b2s: NDArray[np.float64] | list[float]
                  ) -> NDArray[np.float64]:
    """critical_sigma_w2 for each sigma_b2: the edge of chaos."""
    act = _act(activation)
    return np.array([critical_sigma_w2(act, float(b)) for b in sigma_b2s])


def variance_trajectory(activation: ActivationLike, sigma_w2: float, sigma_b2: float,
                        depth: int, q0: float = 1.0) -> NDArray[np.float64]:
    """q^0 = q0, q^1, ..., q^depth: predicted pre-activation variance per layer."""
    act = _act(activation)
    sigma_w2, sigma_b2 = _check(sigma_w2, sigma_b2)
    _check_depth(depth)
    q0 = _check_length("q0", q0, zero=True)
    out = [q0]
    for _ in range(depth):
        out.append(min(Q_MAX, sigma_w2 * gaussian_moment(act, out[-1]) + sigma_b2))
    return np.array(out)


def gradient_trajectory(activation: ActivationLike, sigma_w2: float, sigma_b2: float,
                        depth: int, q0: float = 1.0) -> NDArray[np.float64]:
    """Predicted variance of dL/dh^l relative to the last layer's, for l = 0..depth: the
    product of sigma_w2 E[phi'(sqrt(q^l) z)^2] over the layers above l."""
    act = _act(activation)
    qs = variance_trajectory(act, sigma_w2, sigma_b2, depth, q0)
    factors = [sigma_w2 * gaussian_moment(act, float(q), derivative=True) for q in qs[:-1]]
    out = np.ones(depth + 1)
    for layer in range(depth - 1, -1, -1):
        out[layer] = out[layer + 1] * factors[layer]
    return out


def jacobian_mean_squared_singular_value(activation: ActivationLike, sigma_w2: float,
                                         sigma_b2: float, depth: int,
                                         q0: float = 1.0) -> float:
    """Mean squared singular value of the input-output Jacobian of ``depth`` layers
    (Pennington et al. 2017): the product of the per-layer chi's along the trajectory."""
    return float(gradient_trajectory(activation, sigma_w2, sigma_b2, depth, q0)[0])


# --- vectorized over (sigma_w2, sigma_b2) grids ------------------------------------------

#: Lengths tabulated for the grid functions: log-spaced, Q_GRID points per decade.
Q_GRID_RANGE, Q_GRID = (1e-8, 1e8), 40


def _moments_table(act: Activation, qs: NDArray[np.float64]) -> tuple[NDArray[np.float64],
                                                                      NDArray[np.float64]]:
    """E[phi(sqrt(q) z)^2] and E[phi'(sqrt(q) z)^2] for every q at once.

    One composite Gauss-Legendre rule per q, all with the same number of pieces: cuts at
    the kinks and at the activation's own scales (u = +-2^k, in u = sqrt(q) z), mapped to
    z and clamped to the truncated line (pieces of zero width weigh nothing).
    """
    from .._core.quadrature import LEGENDRE_NODES, TAIL, _legendre_rule, normal_pdf

    levels = [0.0, *act.breakpoints]
    k = 0.5
    while k < 1e5:
        levels += [k, -k]
        k *= 2.0
    root = np.sqrt(qs)[:, None]
    cuts = np.sort(np.clip(np.array(levels)[None, :] / root, -TAIL, TAIL), axis=1)
    edges = np.concatenate([np.full((len(qs), 1), -TAIL), cuts, np.full((len(qs), 1), TAIL)],
                           axis=1)
    t, tw = _legendre_rule(LEGENDRE_NODES)
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]
    half = 0.5 * (hi - lo)
    z = lo + half * (t[None, None, :] + 1.0)
    w = half * tw[None, None, :] * normal_pdf(z)
    u = root[:, :, None] * z
    m = np.sum(w * act.fn(u) ** 2, axis=(1, 2))
    d = np.sum(w * act.derivative(u) ** 2, axis=(1, 2))
    return m, d


def chi1_grid(activation: ActivationLike, sigma_w2s: NDArray[np.float64] | list[float],
              sigma_b2s: NDArray[np.float64] | list[float], q0: float = 1.0
              ) -> NDArray[np.float64]:
    """chi_1 for every (sigma_b2, sigma_w2) pair at once: an array (len(sigma_b2s),
    len(sigma_w2s)); ``inf`` where the signal explodes.

    The fixed point equation q = sigma_w2 m(q) + sigma_b2 is solved for sigma_w2 instead:
    on a table of lengths q, sigma_w2(q) = (q - sigma_b2) / m(q). The flow from ``q0``
    stops at the first q (in its direction) where that curve meets the given sigma_w2,
    found by sign changes on the table and linear interpolation in log q. Agrees with
    :func:`chi1` to about 1e-4 (the table's resolution).
    """
    act = _act(activation)
    ws = np.asarray(sigma_w2s, dtype=np.float64)
    bs = np.asarray(sigma_b2s, dtype=np.float64)
    if not (np.all(np.isfinite(ws)) and np.all(np.isfinite(bs))) or np.any(ws <= 0) or \
            np.any(bs < 0):
        raise ValueError("sigma_w2s must be > 0 and sigma_b2s >= 0, all finite")
    q0 = _check_length("q0", q0)
    lo, hi = Q_GRID_RANGE
    qs = np.logspace(math.log10(lo), math.log10(hi), int(Q_GRID * math.log10(hi / lo)) + 1)
    m, d = _moments_table(act, qs)
    m0, d0 = _moments_table(act, np.array([1e-24, q0]))
    out = np.empty((len(bs), len(ws)))
    below, above = qs < q0, qs > q0
    for i, b in enumerate(bs):
        g0 = ws * m0[1] + b - q0  # > 0: the flow goes up from q0
        # G(q) = sigma_w2 m(q) + b - q on the table, for every sigma_w2 (rows)
        g = ws[:, None] * m[None, :] + b - qs[None, :]
        for j, w_ in enumerate(ws):
            if abs(g0[j]) <= 1e-9 * max(1.0, q0):
                out[i, j] = w_ * d0[1]
                continue
            up = g0[j] > 0
            idx = np.nonzero(above)[0] if up else np.nonzero(below)[0][::-1]
            sign_change = (g[j, idx] < 0) if up else (g[j, idx] > 0)
            hits = np.nonzero(sign_change)[0]
            if not hits.size:
                out[i, j] = math.inf if up else w_ * d0[0]
                continue
            k = idx[hits[0]]
            # the previous point of the flow: a table point, or q0 itself
            q1, g1 = (qs[idx[hits[0] - 1]], g[j, idx[hits[0] - 1]]) if hits[0] > 0 else (
                q0, g0[j])
            # linear interpolation of G in log q between the two points
            f = g1 / (g1 - g[j, k])
            lq = math.log(q1) + f * (math.log(qs[k]) - math.log(q1))
            out[i, j] = w_ * float(np.interp(lq, np.log(qs), d))
    return out
