"""Per-layer Jacobian singular values: exact against the closed form, and Glorot &
Bengio's numbers (sec. 4.2.1: mean ~0.5 standard, ~0.8 normalized, tanh)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initscope
from initscope.datasets import shapeset
from initscope.diagnostics import layer_jacobian_singular_values


def test_equals_the_closed_form_of_linear_then_tanh():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30), nn.Tanh(), nn.Linear(30, 25), nn.Tanh())
    x = torch.randn(3, 20)
    (r,) = layer_jacobian_singular_values(net, x, samples=3)
    with torch.no_grad():
        h = torch.tanh(net[0](x))
        a = net[2](h)
        sv = torch.cat([torch.linalg.svdvals(((1 - torch.tanh(a[s]) ** 2)[:, None]
                                              * net[2].weight).double()) for s in range(3)])
    assert r.mean == pytest.approx(float(sv.mean()), rel=1e-6)
    assert r.max == pytest.approx(float(sv.max()), rel=1e-6)
    assert (r.layer, r.previous, r.samples) == ("3", "1", 3)


def _glorot_net(scheme: str) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    d = 32 * 32
    for _ in range(5):
        layers += [nn.Linear(d, 500), nn.Tanh()]
        d = 500
    net = nn.Sequential(*layers, nn.Linear(d, 9))
    initscope.initialize(net, scheme, seed=0)
    return net


def test_glorot_and_bengios_numbers_on_shapeset():
    """Paper: ~0.5 (standard) and ~0.8 (normalized) at width 1000; measured here at width
    500 on 4 Shapeset images: 0.47-0.49 and 0.68-0.77 across the four transitions."""
    x = torch.from_numpy(shapeset(16, seed=0)[0])
    standard = [r.mean for r in layer_jacobian_singular_values(_glorot_net("glorot_standard"),
                                                               x, samples=4)]
    normalized = [r.mean for r in layer_jacobian_singular_values(_glorot_net("xavier"), x,
                                                                 samples=4)]
    assert len(standard) == 4
    assert all(0.4 < v < 0.56 for v in standard), standard
    assert all(0.65 < v < 0.85 for v in normalized), normalized


def test_bad_input():
    with pytest.raises(TypeError, match=r"nn\.Sequential"):
        layer_jacobian_singular_values(nn.Linear(3, 3), torch.randn(2, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least two parameter-free"):
        layer_jacobian_singular_values(nn.Sequential(nn.Linear(3, 3), nn.Tanh()), torch.randn(2, 3))
    with pytest.raises(ValueError, match="samples must be a positive int"):
        layer_jacobian_singular_values(nn.Sequential(nn.Tanh(), nn.Tanh()), torch.randn(2, 3),
                                       samples=0)


def test_diagnose_reports_the_same_jacobian_as_the_chain_oracle():
    """diagnose(jacobian_samples=k) on a tanh chain: each hidden linear layer's mean
    singular value of diag(tanh'(s)) W equals the full autograd Jacobian of the chain
    segment (layer_jacobian_singular_values) at the same k rows; the standard init gives
    smaller values than the normalized one (Glorot & Bengio: ~0.5 against ~0.8)."""
    from initscope import diagnose

    x = torch.randn(16, 32 * 32, generator=torch.Generator().manual_seed(0))
    means = {}
    for scheme in ("glorot_standard", "xavier"):
        net = _glorot_net(scheme)
        oracle = {r.layer: r.mean for r in layer_jacobian_singular_values(net, x, samples=3)}
        d = diagnose(net, x, jacobian_samples=3)
        by_name = {s.name: s.jacobian_sv_mean for s in d.layers}
        for nonlinearity, mean in oracle.items():  # the linear layer just before it
            assert by_name[str(int(nonlinearity) - 1)] == pytest.approx(mean, rel=1e-4)
        assert "J sv" in str(d)
        means[scheme] = sum(oracle.values()) / len(oracle)
    assert means["glorot_standard"] < 0.55 < 0.65 < means["xavier"]
    assert diagnose(_glorot_net("xavier"), x).layers[0].jacobian_sv_mean is None
    with pytest.raises(ValueError, match="jacobian_samples must be an int >= 0; got -1"):
        diagnose(_glorot_net("xavier"), x, jacobian_samples=-1)
