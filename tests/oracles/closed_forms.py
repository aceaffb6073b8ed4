"""Closed-form Gaussian moments, written from the math, independent of initscope.

Each entry: E[phi(z)^2] and E[phi'(z)^2] for z ~ N(0, 1).
"""

from __future__ import annotations

import math

from scipy.stats import norm


def _clip_second_moment(lo: float, hi: float) -> float:
    """E[clip(z, lo, hi)^2]: int z^2 pdf = cdf - z pdf on [lo, hi], plus the clipped tails."""
    inside = (norm.cdf(hi) - norm.cdf(lo)) - (hi * norm.pdf(hi) - lo * norm.pdf(lo))
    return inside + hi**2 * norm.sf(hi) + lo**2 * norm.cdf(lo)


def second_moments(name: str, param: float | None = None) -> tuple[float, float]:
    if name == "identity":
        return 1.0, 1.0
    if name == "relu":
        return 0.5, 0.5  # half of E[z^2]; derivative is 1 on half the line
    if name == "leaky_relu":
        a = 0.01 if param is None else param
        return (1 + a * a) / 2, (1 + a * a) / 2
    if name == "hardtanh":
        return _clip_second_moment(-1.0, 1.0), norm.cdf(1) - norm.cdf(-1)
    if name == "relu6":
        return _clip_second_moment(0.0, 6.0), norm.cdf(6) - norm.cdf(0)
    if name == "erf":
        # Williams 1997: E[erf(a z) erf(a z)] = (2/pi) asin(2a^2 / (1 + 2a^2)), a = 1;
        # phi' = (2/sqrt(pi)) exp(-z^2): E[phi'^2] = (4/pi) E[exp(-2 z^2)] = 4 / (pi sqrt(5)).
        return (2 / math.pi) * math.asin(2 / 3), 4 / (math.pi * math.sqrt(5))
    raise KeyError(name)


CLOSED_FORM = ["identity", "relu", "leaky_relu", "hardtanh", "relu6", "erf"]

#: torch.nn.init.calculate_gain's documented table (torch/nn/init.py docstring).
TORCH_TABLE = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1 + 0.01**2)),
    "selu": 3.0 / 4.0,
}
