"""The stable edge of chaos: theory.stable_critical_point and the "critical" scheme
(Schoenholz et al. 2017; Hayou, Doucet & Rousseau 2019)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy import integrate, special, stats
from torch import nn

import initscope
from initscope import theory
from tests.architectures import mlp


def _gauss(f, q):
    s = math.sqrt(q)
    return integrate.quad(lambda z: f(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                          -40, 40, limit=400, epsabs=1e-14, epsrel=1e-12)[0]


def _gelu(x):
    return x * 0.5 * (1 + special.erf(x / math.sqrt(2)))


def _gelu_prime(x):
    return 0.5 * (1 + special.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / math.sqrt(
        2 * math.pi)


def test_gelus_stable_critical_point_against_scipy():
    """At the returned (sigma_w2, sigma_b2): the stable fixed point q* of the length map
    (solved with scipy's quadrature from q = sigma_b2 upward) has chi_1 = 1 and slope
    < 1; the next smaller bias of the grid has no edge of chaos at all."""
    from scipy.optimize import brentq

    sw2, sb2 = theory.stable_critical_point("gelu")
    assert sb2 == 0.2
    with pytest.raises(ValueError, match="no edge of chaos"):
        theory.critical_sigma_w2("gelu", 0.15)

    def excess(q):
        return sw2 * _gauss(lambda x: _gelu(x) ** 2, q) + sb2 - q

    grid = [sb2 * 1.2 ** k for k in range(60)]
    lo = next(a for a, b in itertools.pairwise(grid) if excess(a) > 0 > excess(b))
    q = brentq(excess, lo, lo * 1.2, xtol=1e-13)
    assert sw2 * _gauss(lambda x: _gelu_prime(x) ** 2, q) == pytest.approx(1.0, abs=1e-7)
    slope = sw2 * (_gauss(lambda x: _gelu(x) ** 2, q * (1 + 1e-5)) -
                   _gauss(lambda x: _gelu(x) ** 2, q * (1 - 1e-5))) / (2e-5 * q)
    assert 0.95 < slope < 1.0
    assert theory.stable_critical_point("tanh") == (pytest.approx(1.7609546, rel=1e-6), 0.05)
    assert theory.stable_critical_point("relu") == (pytest.approx(2.0, rel=1e-9), 0.0)
    with pytest.raises(ValueError, match=r"softplus.*no stable edge of chaos"):
        theory.stable_critical_point("softplus")


def test_the_critical_scheme_draws_the_critical_weights_and_biases():
    model = mlp(4, 1024, nn.GELU)
    report = initscope.initialize(model, "critical", seed=0)
    sw2, sb2 = theory.stable_critical_point("gelu")
    w, b = model[2].weight.detach().double(), model[2].bias.detach().double()
    assert stats.kstest(w.ravel().numpy(), stats.norm(scale=math.sqrt(sw2 / 1024)).cdf
                        ).pvalue > 1e-4
    assert stats.kstest(b.numpy(), stats.norm(scale=math.sqrt(sb2)).cdf).pvalue > 1e-4
    rec = {r.name: r.scheme for r in report.records}
    assert rec["2.weight"].startswith("critical N(0, 1.971/fan_in) (gelu, sigma_b2 0.2)")
    assert rec["2.bias"] == "N(0, 0.2)"


def test_the_critical_scheme_says_why_it_falls_back():
    report = initscope.initialize(mlp(3, 16, nn.Softplus), "critical", seed=0)
    rec = {r.name: r.scheme for r in report.records}
    assert "not critical: softplus(1) has no stable edge of chaos" in rec["2.weight"]


def test_a_wide_critical_gelu_network_reaches_the_predicted_fixed_point():
    """A wide network's second moment follows the length map's trajectory toward its
    stable fixed point q* (slope 0.993: slowly; 150 layers close a third of the gap),
    where GELU under a variance-keeping init without mirroring drifts 1e5x."""
    sw2, sb2 = theory.stable_critical_point("gelu")
    q_star = theory.q_star("gelu", sw2, sb2, q0=sb2)
    # q0: the first layer's output (unit inputs); 149 maps more to the 150th layer
    predicted = theory.variance_trajectory("gelu", sw2, sb2, depth=149, q0=sw2 + sb2)
    model = mlp(150, 512, nn.GELU)
    initscope.initialize(model, "critical", seed=0)
    h = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.Linear):
                last = h
    measured = float(last.double().pow(2).mean())
    assert measured == pytest.approx(float(predicted[-1]), rel=0.25)
    assert sw2 + sb2 < float(predicted[-1]) < q_star
