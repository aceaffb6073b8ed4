"""Gains: closed form = quadrature = adaptive quadrature = Monte Carlo through real layers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

import initscope
from initscope import gain
from initscope._core.activations import activation
from initscope._core.gain import second_moment
from tests.oracles.closed_forms import CLOSED_FORM, TORCH_TABLE, second_moments
from tests.torch_activations import TORCH_FN

REGISTRY = sorted(TORCH_FN)


def test_registry_is_covered_by_the_torch_oracle():
    names = {activation(n).name.split("(")[0] for n in initscope.activation_names()}
    assert names == set(TORCH_FN)


@pytest.mark.parametrize("name", REGISTRY)
def test_activation_matches_torch_and_autograd(name):
    act = activation(name)
    x = np.linspace(-7.3, 7.1, 1001)  # avoids landing exactly on the kinks
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = TORCH_FN[name](t)
    (dy,) = torch.autograd.grad(y.sum(), t)
    np.testing.assert_allclose(act.fn(x), y.detach().numpy(), rtol=1e-12, atol=1e-12)
    # 1e-7: torch's hardsigmoid backward multiplies by a float32 1/6.
    np.testing.assert_allclose(act.derivative(x), dy.numpy(), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("name", CLOSED_FORM)
def test_quadrature_equals_closed_form(name):
    fwd, bwd = second_moments(name)
    act = activation(name)
    assert second_moment(act) == pytest.approx(fwd, rel=1e-12)
    assert second_moment(act, derivative=True) == pytest.approx(bwd, rel=1e-12)


def test_closed_form_gains():
    assert gain("relu") == pytest.approx(math.sqrt(2), rel=1e-13)
    assert gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-13)
    assert gain("identity") == pytest.approx(1.0, rel=1e-14)
    # SELU's constants make N(0, 1) its fixed point: E[selu(z)^2] = 1 (Klambauer et al. 2017).
    assert gain("selu") == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", REGISTRY)
@pytest.mark.parametrize("derivative", [False, True])
def test_quadrature_equals_adaptive_quadrature(name, derivative):
    """An independent numerical method: scipy's adaptive QUADPACK over the real line."""
    act = activation(name)
    f = act.derivative if derivative else act.fn

    def integrand(z: float) -> float:
        return float(f(np.array([z]))[0] ** 2 * norm.pdf(z))

    pts = [b for b in act.breakpoints]
    ref = sum(
        integrate.quad(integrand, lo, hi, limit=400, epsabs=1e-14, epsrel=1e-12)[0]
        for lo, hi in zip([-np.inf, *pts], [*pts, np.inf], strict=True)
    )
    assert second_moment(act, derivative=derivative) == pytest.approx(ref, rel=1e-9)


# Monte Carlo through a real torch layer. z ~ N(0, 1) of shape (BATCH, FAN_IN) feeds phi,
# then a weight (OUT, FAN_IN) that initscope draws with the gain under test.
# Forward: E[y^2] should be 1. Backward (loss = sum(y * r), r ~ N(0, 1), weights scaled by
# fan_out with the backward gain): E[(dL/dz)^2] should be 1.
# Two sources of error, each about 0.7% (one standard error): the finite weight matrix
# (an activation with mean mu puts (mu * sum_i w_i)^2 into each output unit, relative
# spread (mu^2 / E[phi^2]) sqrt(2 / OUT), 0.7% for sigmoid; hence a wide OUT) and the
# finite sample of z (sqrt(Var[phi^2] / (BATCH * FAN_IN)) / E[phi^2], 0.6% for relu).
# Over seeds 0-19 the largest deviation of any activation and direction was 2.2%
# (`python -m tests.mc_seed_scan 20` reproduces it); MC_RTOL = 4% is about 5 standard errors.
BATCH, FAN_IN, OUT, MC_RTOL = 512, 256, 32768, 0.04


@pytest.mark.parametrize("name", REGISTRY)
def test_gain_preserves_second_moment_through_a_real_layer(name):
    g = torch.Generator().manual_seed(7)
    z = torch.randn(BATCH, FAN_IN, generator=g, requires_grad=True)
    w = torch.empty(OUT, FAN_IN)
    initscope.init.he_normal_(w, name, g)
    y = TORCH_FN[name](z) @ w.t()
    assert y.pow(2).mean().item() == pytest.approx(1.0, rel=MC_RTOL)

    initscope.init.he_normal_(w, name, g, mode="fan_out", criterion="backward")
    y = TORCH_FN[name](z) @ w.t()
    r = torch.randn(BATCH, OUT, generator=g)
    (dz,) = torch.autograd.grad((y * r).sum(), z)
    assert dz.pow(2).mean().item() == pytest.approx(1.0, rel=MC_RTOL)


def test_documented_values():
    # The numbers the docs quote: tanh forward 1.5925 vs torch's 5/3.
    assert gain("tanh") == pytest.approx(1.59254, abs=1e-5)
    assert gain("tanh", criterion="torch") == 5 / 3
    assert gain("selu", criterion="torch") == 0.75


@pytest.mark.parametrize("name", sorted(TORCH_TABLE))
def test_torch_criterion_is_torch_calculate_gain(name):
    expected = torch.nn.init.calculate_gain(name)
    assert expected == pytest.approx(TORCH_TABLE[name], rel=1e-15)
    assert gain(name, criterion="torch") == pytest.approx(expected, rel=1e-15)
    assert initscope.init.calculate_gain(name) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 3.0])
def test_torch_criterion_leaky_relu_param(slope):
    expected = torch.nn.init.calculate_gain("leaky_relu", slope)
    assert gain("leaky_relu", slope, criterion="torch") == pytest.approx(expected, rel=1e-15)
    assert initscope.init.calculate_gain("leaky_relu", slope) == pytest.approx(expected)
    # torch ignores param for other names; so does the drop-in.
    assert initscope.init.calculate_gain("relu", slope) == torch.nn.init.calculate_gain(
        "relu", slope
    )


def test_torch_criterion_rejects_what_torch_does_not_define():
    with pytest.raises(ValueError, match=r"calculate_gain defines no gain for gelu.*forward"):
        gain("gelu", criterion="torch")


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ValueError) as e:
        gain("relux")
    msg = str(e.value)
    assert "'relux'" in msg
    for known in ("relu", "gelu", "tanh", "softsign", "leaky_relu"):
        assert known in msg


def test_bad_criterion_and_param():
    with pytest.raises(ValueError, match=r"criterion 'sideways'.*'forward', 'backward', 'torch'"):
        gain("relu", criterion="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no parameter"):
        gain("tanh", 0.3)
    with pytest.raises(ValueError, match=r"alpha.*> 0"):
        gain("elu", -1.0)
    with pytest.raises(TypeError, match="got int"):
        gain(3)  # type: ignore[arg-type]


def test_torch_modules_map_to_the_registry_with_their_parameters():
    nn = torch.nn
    assert gain(nn.GELU()) == gain("gelu")
    assert gain(nn.GELU(approximate="tanh")) == gain("gelu_tanh")
    assert gain(nn.LeakyReLU(0.2)) == gain("leaky_relu", 0.2)
    assert gain(nn.ELU(alpha=0.5)) == gain("elu", 0.5)
    assert gain(nn.Softplus(beta=2.0)) == gain("softplus", 2.0)
    assert gain(nn.Tanh(), criterion="torch") == 5 / 3


@pytest.mark.parametrize("name", REGISTRY)
def test_any_tensor_callable_gets_the_registry_gain(name):
    """A callable initscope does not know: evaluated by torch, phi' by autograd, its
    kinks unknown (verified quadrature)."""
    fn = TORCH_FN[name]

    def opaque(x: torch.Tensor) -> torch.Tensor:
        return fn(x)

    # 1e-7: torch's hardsigmoid backward is exact only to float32 (its 1/6).
    for criterion in ("forward", "backward"):
        assert gain(opaque, criterion=criterion) == pytest.approx(
            gain(name, criterion=criterion), rel=1e-7
        )


def test_custom_module_and_numpy_callable():
    class Swish(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x)

    assert gain(Swish()) == pytest.approx(gain("silu"), rel=1e-10)
    assert gain(np.tanh) == pytest.approx(gain("tanh"), rel=1e-10)
    assert gain(lambda x: np.clip(x, -1, 1)) == pytest.approx(gain("hardtanh"), rel=1e-8)
    with pytest.raises(ValueError, match="elementwise"):
        gain(lambda x: np.sum(x))
    with pytest.raises(ValueError, match="E\\[phi\\(z\\)\\^2\\] = 0"):
        gain(lambda x: np.zeros_like(x))
