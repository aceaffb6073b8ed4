"""The one formula: variance scaling, and its truncation constant."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import truncnorm

from initscope import Fans, VarianceScaling, truncated_normal_std, variance_scaling
from initscope._core.quadrature import gaussian_expectation, gaussian_product_expectation


@pytest.mark.parametrize(("a", "b"), [(-2, 2), (-1, 3), (0, math.inf), (-3, -1), (-0.5, 0.5)])
def test_truncated_normal_std_equals_scipy(a, b):
    assert truncated_normal_std(a, b) == pytest.approx(truncnorm.std(a, b), rel=1e-12)


def test_truncation_constant_and_monte_carlo():
    c = truncated_normal_std()
    assert c == pytest.approx(0.8796256610342398, rel=1e-15)
    z = np.random.default_rng(0).standard_normal(4_000_000)
    z = z[np.abs(z) <= 2]
    assert z.std() == pytest.approx(c, rel=2e-3)  # SE of a std at n=3.8M: ~4e-4


FANS = Fans(fan_in=300, fan_out=500, receptive=1)


@pytest.mark.parametrize(
    ("mode", "n"), [("fan_in", 300), ("fan_out", 500), ("fan_avg", 400)]
)
@pytest.mark.parametrize("distribution", ["uniform", "normal", "truncated_normal"])
def test_draw_has_the_asked_variance(mode, n, distribution):
    d = variance_scaling(2.0, mode, distribution, FANS)
    assert d.std == pytest.approx(math.sqrt(2.0 / n), rel=1e-15)
    if distribution == "uniform":
        assert d.bound**2 / 3 == pytest.approx(2.0 / n, rel=1e-14)
    elif distribution == "truncated_normal":
        s = d.underlying_std
        assert truncnorm.var(-2, 2, scale=s) == pytest.approx(2.0 / n, rel=1e-12)
        assert d.bound == pytest.approx(2 * s)
    else:
        assert d.bound == math.inf and d.underlying_std == d.std


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, "fan_in", "normal"), "scale must be a positive finite number; got 0.0"),
        ((float("nan"), "fan_in", "normal"), "scale"),
        ((1.0, "fan_inn", "normal"), "unknown mode 'fan_inn'; valid: 'fan_in', 'fan_out'"),
        ((1.0, "fan_in", "gauss"), "unknown distribution 'gauss'; valid: 'uniform', 'normal'"),
        ((True, "fan_in", "normal"), "scale"),
    ],
)
def test_validated_when_built(args, match):
    with pytest.raises(ValueError, match=match):
        VarianceScaling(*args)


def test_quadrature_helpers():
    assert gaussian_expectation(lambda z: z**2, std=3.0) == pytest.approx(9.0, rel=1e-13)
    assert gaussian_expectation(lambda z: np.abs(z), [0.0]) == pytest.approx(
        math.sqrt(2 / math.pi), rel=1e-13
    )
    # E[u1^2 u2^2] = q11 q22 + 2 q12^2 (Isserlis)
    sq = np.square
    assert gaussian_product_expectation(sq, sq, 2.0, 3.0, 1.5) == pytest.approx(
        2 * 3 + 2 * 1.5**2, rel=1e-12
    )
    # kinked factors: E[relu(u1) relu(u2)], arc-cosine kernel (Cho & Saul 2009)
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    c = 0.3
    theta = math.acos(c)
    expected = (math.sin(theta) + (math.pi - theta) * c) / (2 * math.pi)
    got = gaussian_product_expectation(relu, relu, 1.0, 1.0, c, [0.0], [0.0])
    assert got == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="correlation"):
        gaussian_product_expectation(sq, sq, 1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="std"):
        gaussian_expectation(lambda z: z, std=0.0)
