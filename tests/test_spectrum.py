"""Jacobian spectrum by Lanczos = SVD of the materialized Jacobian = mean-field theory."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initscope import theory
from initscope.diagnostics import jacobian_spectrum


def _jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda z: model(z.unsqueeze(0)).squeeze(0), x)


def test_lanczos_equals_svd_of_the_materialized_jacobian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(24, 40), nn.Tanh(), nn.Linear(40, 32), nn.GELU(),
                          nn.Linear(32, 24)).double()
    x = torch.randn(24, dtype=torch.float64)
    exact = torch.linalg.svdvals(_jacobian(model, x))
    s = jacobian_spectrum(model, x, steps=24, k=3, probes=400)
    assert s.top == pytest.approx(exact[:3].tolist(), rel=1e-8)
    assert s.bottom == pytest.approx(sorted(exact[-3:].tolist()), rel=1e-6, abs=1e-9)
    assert s.mean_squared == pytest.approx(float(exact.pow(2).mean()), rel=0.1)
    few = jacobian_spectrum(model, x, steps=12)  # the top value converges first
    assert few.top[0] == pytest.approx(float(exact[0]), rel=1e-4)


def test_rank_deficient_jacobian_has_zero_bottom():
    model = nn.Sequential(nn.Linear(16, 4), nn.Tanh(), nn.Linear(4, 16))
    s = jacobian_spectrum(model, torch.randn(16), steps=16)
    assert s.bottom[0] == pytest.approx(0.0, abs=1e-4) and s.top[0] > 0


def test_mean_squared_singular_value_follows_theory():
    """A 10-layer, 500-wide tanh network at the edge of chaos: Hutchinson's estimate of
    the mean squared singular value against the mean-field product of chi's (within 20%:
    finite width and one input)."""
    sw2, sb2, width, depth = 1.76, 0.05, 500, 10
    g = torch.Generator().manual_seed(1)
    layers: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width)
        with torch.no_grad():
            lin.weight.normal_(0, math.sqrt(sw2 / width), generator=g)
            lin.bias.normal_(0, math.sqrt(sb2), generator=g)
        layers += [nn.Tanh(), lin]
    model = nn.Sequential(*layers)  # h^l = W phi(h^(l-1)) + b: the theory's convention
    x = torch.randn(width, generator=g)
    s = jacobian_spectrum(model, x, steps=5, probes=16)
    q0 = float(x.pow(2).mean())
    predicted = theory.jacobian_mean_squared_singular_value("tanh", sw2, sb2, depth, q0)
    assert s.mean_squared == pytest.approx(predicted, rel=0.2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps, probes and k must be >= 1"):
        jacobian_spectrum(nn.Linear(3, 3), torch.randn(3), steps=0)
