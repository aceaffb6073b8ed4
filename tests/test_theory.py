"""Mean-field theory: closed form = quadrature = Monte Carlo through real wide layers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from initscope import diagnostics, theory
from tests.torch_activations import TORCH_FN


def _arccos_kernel(q: float, c: float) -> float:
    """E[relu(u1) relu(u2)], (u1, u2) ~ N(0, q [[1, c], [c, 1]]) (Cho & Saul 2009)."""
    theta = math.acos(c)
    return q * (math.sin(theta) + (math.pi - theta) * c) / (2 * math.pi)


def _erf_kernel(q: float, c: float) -> float:
    """E[erf(u1) erf(u2)] = (2/pi) asin(2 q c / (1 + 2 q)) (Williams 1997)."""
    return 2 / math.pi * math.asin(2 * q * c / (1 + 2 * q))


@pytest.mark.parametrize("q", [0.1, 1.0, 3.7, 40.0])
@pytest.mark.parametrize("c", [-0.9, -0.2, 0.0, 0.45, 0.99])
@pytest.mark.parametrize(("sw2", "sb2"), [(2.0, 0.0), (1.3, 0.2)])
def test_closed_forms_equal_quadrature(q, c, sw2, sb2):
    # ReLU
    assert theory.q_map("relu", sw2, sb2, q) == pytest.approx(sw2 * q / 2 + sb2, rel=1e-10)
    q_next = sw2 * q / 2 + sb2
    expected = (sw2 * _arccos_kernel(q, c) + sb2) / q_next
    assert theory.c_map("relu", sw2, sb2, c, q) == pytest.approx(expected, abs=1e-9)
    # erf
    q_next = sw2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + sb2
    assert theory.q_map("erf", sw2, sb2, q) == pytest.approx(q_next, rel=1e-9)
    expected = (sw2 * _erf_kernel(q, c) + sb2) / q_next
    assert theory.c_map("erf", sw2, sb2, c, q) == pytest.approx(expected, abs=1e-8)
    # identity
    assert theory.q_map("identity", sw2, sb2, q) == pytest.approx(sw2 * q + sb2, rel=1e-12)
    expected = (sw2 * q * c + sb2) / (sw2 * q + sb2)
    assert theory.c_map("identity", sw2, sb2, c, q) == pytest.approx(expected, abs=1e-12)


def test_known_critical_points():
    # Schoenholz et al. 2017: tanh at sigma_b^2 = 0.05 is critical at sigma_w^2 = 1.76.
    assert theory.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.005)
    # He init is exactly critical for ReLU, Xavier (gain 1) for a linear network.
    assert theory.chi1("relu", 2.0, 0.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.critical_sigma_w2("relu") == pytest.approx(2.0, rel=1e-9)
    assert theory.chi1("identity", 1.0, 0.0, q=1.0) == pytest.approx(1.0, abs=1e-12)
    assert theory.chi1("identity", 1.0, 0.0, q=7.0) == pytest.approx(1.0, abs=1e-12)
    # tanh without bias: q* = 0 below sigma_w2 = 1, and chi_1 = sigma_w2 there
    assert theory.q_star("tanh", 0.8) == 0.0
    assert theory.chi1("tanh", 0.8) == pytest.approx(0.8, rel=1e-12)


def test_phases_and_depth_scales():
    ordered = theory.depth_scales("tanh", 1.2, 0.05)
    chaotic = theory.depth_scales("tanh", 3.0, 0.05)
    near = theory.depth_scales("tanh", 1.75, 0.05)
    assert ordered.phase == "ordered" and ordered.c_star == pytest.approx(1.0, abs=1e-6)
    assert chaotic.phase == "chaotic" and chaotic.c_star < 0.9
    assert near.xi_c > 10 * max(ordered.xi_c, chaotic.xi_c)  # diverges at the edge
    assert near.trainable_depth == pytest.approx(6 * near.xi_c)
    # ordered phase: xi_c = -1 / log(chi_1)
    assert ordered.xi_c == pytest.approx(-1 / math.log(ordered.chi1), rel=1e-4)


def test_critical_line_is_increasing_in_sigma_b2():
    line = theory.critical_line("tanh", [0.0, 0.05, 0.2, 0.5])
    assert line[0] == pytest.approx(1.0, abs=1e-6) and np.all(np.diff(line) > 0)


def test_trajectories():
    q = theory.variance_trajectory("relu", 2.0, 0.0, 20, q0=0.7)
    assert np.allclose(q, 0.7)  # critical ReLU keeps every length
    g = theory.gradient_trajectory("relu", 1.0, 0.0, 10)
    assert g[0] == pytest.approx(0.5**10)  # chi_1 = 1/2 per layer: vanishing gradients
    assert theory.jacobian_mean_squared_singular_value("relu", 1.0, 0.0, 10) == g[0]
    assert theory.variance_trajectory("relu", 3.0, 0.0, 5)[-1] == pytest.approx(1.5**5)


def test_bad_input():
    with pytest.raises(ValueError, match="sigma_w2 must be a positive"):
        theory.q_map("tanh", -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="unknown activation 'tanhh'"):
        theory.chi1("tanhh", 1.0)
    with pytest.raises(ValueError, match=r"correlation c must lie in \[-1, 1\]"):
        theory.c_map("tanh", 1.5, 0.05, 1.5)
    with pytest.raises(ValueError, match="no critical sigma_w2"):
        theory.critical_sigma_w2("identity", 0.0, lo=2.0, hi=3.0)


# One real layer: Gaussian inputs at length q and correlation c, weights
# N(0, sigma_w2 / n_in), biases N(0, sigma_b2), n_in = 1000 inputs, 4096 output units and a
# batch of 1024. The estimates' error comes from the finite layer (the mean of phi times the
# sum of a unit's weights, relative spread ~sqrt(2 / 4096)); over seeds 0-3 and the cases
# below the worst was 2.3% for q and 0.018 for c (`python -m tests.mc_theory_scan 4`).
Q_RTOL, C_ATOL, CHI_RTOL = 0.04, 0.03, 0.04
CASES = [("tanh", 1.76, 0.05), ("gelu", 1.5, 0.05), ("silu", 2.0, 0.1), ("relu", 2.0, 0.0),
         ("erf", 1.2, 0.1)]


def one_layer(name: str, sw2: float, sb2: float, q: float, c: float, seed: int,
              n_in: int = 1000, n_out: int = 4096, batch: int = 1024):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(batch, n_in, generator=g)
    z2 = torch.randn(batch, n_in, generator=g)
    h = (math.sqrt(q) * z1).requires_grad_(True)
    k = math.sqrt(q) * (c * z1 + math.sqrt(1 - c * c) * z2)
    w = torch.randn(n_out, n_in, generator=g) * math.sqrt(sw2 / n_in)
    b = torch.randn(n_out, generator=g) * math.sqrt(sb2)
    phi = TORCH_FN[name]
    y1, y2 = phi(h) @ w.T + b, phi(k) @ w.T + b
    q1, q2 = y1.pow(2).mean().item(), y2.pow(2).mean().item()
    r = torch.randn(batch, n_out, generator=g)
    (dh,) = torch.autograd.grad((y1 * r).sum(), h)
    chi = dh.pow(2).mean().item() * n_in / n_out  # E[(r W)_i^2] = sigma_w2 n_out / n_in
    return q1, (y1 * y2).mean().item() / math.sqrt(q1 * q2), chi


@pytest.mark.parametrize(("name", "sw2", "sb2"), CASES)
def test_maps_match_a_real_wide_layer(name, sw2, sb2):
    for q, c in [(0.5, 0.3), (2.5, -0.4)]:
        mq, mc, mchi = one_layer(name, sw2, sb2, q, c, seed=11)
        assert mq == pytest.approx(theory.q_map(name, sw2, sb2, q), rel=Q_RTOL)
        assert mc == pytest.approx(theory.c_map(name, sw2, sb2, c, q), abs=C_ATOL)
        assert mchi == pytest.approx(theory.chi1(name, sw2, sb2, q=q), rel=CHI_RTOL)


@pytest.mark.parametrize(("name", "sw2", "sb2"), [("tanh", 1.76, 0.05), ("gelu", 1.5, 0.05),
                                                  ("silu", 2.0, 0.1)])
def test_variance_trajectory_through_a_wide_mlp(name, sw2, sb2):
    """Six layers of width 1000, averaged over 3 networks: the measured second moment of
    each layer's pre-activations follows the predicted q^l within 10% (finite-width drift
    compounds: ~4% per layer per network when samples correlate)."""
    depth, width, batch = 6, 1000, 256
    predicted = theory.variance_trajectory(name, sw2, sb2, depth, q0=1.0)
    measured = np.zeros(depth + 1)
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        h = torch.randn(batch, width, generator=g)
        measured[0] += h.pow(2).mean().item()
        for layer in range(depth):
            w = torch.randn(width, width, generator=g) * math.sqrt(sw2 / width)
            b = torch.randn(width, generator=g) * math.sqrt(sb2)
            h = TORCH_FN[name](h) @ w.T + b
            measured[layer + 1] += h.pow(2).mean().item()
    np.testing.assert_allclose(measured / 3, predicted, rtol=0.10)


@pytest.mark.parametrize("act", [torch.nn.Tanh, torch.nn.ReLU, torch.nn.GELU])
def test_predict_matches_a_real_model(act):
    """diagnostics.predict on a real 5-layer, 1000-wide MLP under "auto" and "xavier": the
    measured second moment of every layer's pre-activations and the variance of their
    gradients (relative to the last layer's) agree with the prediction within 12%
    (finite width; the backward pass compounds per-layer errors)."""
    import initscope
    from tests.architectures import mlp

    for scheme in ("auto", "xavier"):
        model = mlp(5, 1000, act)
        preds = diagnostics.predict(model, scheme, seed=4)
        initscope.initialize(model, scheme, seed=4)  # the same weights predict() used
        pre = []
        h = torch.randn(512, 1000, generator=torch.Generator().manual_seed(0))
        for layer in model:
            h = layer(h)
            if isinstance(layer, torch.nn.Linear):
                h.retain_grad()
                pre.append(h)
        (h * torch.randn_like(h)).sum().backward()
        q = [float(z.detach().pow(2).mean()) for z in pre]
        grads = [float(z.grad.pow(2).mean()) for z in pre]
        assert [p.q_out for p in preds] == pytest.approx(q, rel=0.12), scheme
        assert [p.grad_ratio for p in preds] == pytest.approx(
            [g / grads[-1] for g in grads], rel=0.12), scheme


def test_predict_stops_where_the_chain_theory_stops():
    from tests.architectures import GPT

    preds = {p.name: p for p in diagnostics.predict(GPT(), "gpt2")}
    assert preds["h.0.c_fc"].q_in == pytest.approx(1.0)  # after a LayerNorm
    assert preds["h.0.c_proj"].q_in is not None            # gelu after c_fc: a chain
    assert preds["h.0.attn.c_proj"].q_in is None          # reads attention: not predicted
    assert preds["lm_head"].q_in == pytest.approx(1.0)     # after ln_f


def test_gelu_with_bias_has_no_edge_of_chaos_and_says_why():
    with pytest.raises(ValueError, match=r"gelu has no edge of chaos.*q\* disappears"):
        theory.critical_sigma_w2("gelu", 0.05)


def test_critical_initializer():
    from scipy import stats

    from initscope import init

    w = init.critical_(torch.empty(400, 800), "tanh", 0.05, torch.Generator().manual_seed(0))
    sw2 = theory.critical_sigma_w2("tanh", 0.05)
    std = math.sqrt(sw2 / 800)
    assert stats.kstest(w.ravel().numpy(), stats.norm(scale=std).cdf).pvalue > 1e-6
    # a wide tanh network drawn this way sits at chi_1 = 1 (measured through a real layer)
    _, _, chi = one_layer("tanh", sw2, 0.05, theory.q_star("tanh", sw2, 0.05), 0.5, seed=2)
    assert chi == pytest.approx(1.0, rel=CHI_RTOL)
    with pytest.raises(ValueError, match="critical_: gelu has no edge of chaos"):
        init.critical_(torch.empty(4, 4), "gelu", 0.05)


def test_phase_diagram_figure(tmp_path):
    from initscope.report.plots import phase_diagram

    out = tmp_path / "phase.png"
    fig = phase_diagram("tanh", resolution=6, out=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "tanh" in fig.axes[0].get_title()


def test_cli_theory(tmp_path, capsys):
    from initscope.cli import main

    out = tmp_path / "p.png"
    assert main(["theory", "tanh", "--sigma-b2", "0.05", "--resolution", "5",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "critical sigma_w2 = 1.76" in text and "chaotic" in text and out.exists()
    assert main(["theory", "gelu", "--sigma-b2", "0.05", "--out", str(out)]) == 2
    assert "no edge of chaos" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["tanh", "relu", "gelu", "erf", "hardtanh"])
def test_chi1_grid_equals_the_pointwise_function(name):
    ws, bs = np.linspace(0.5, 4.0, 9), np.linspace(0.0, 0.5, 5)
    grid = theory.chi1_grid(name, ws, bs)
    assert grid.shape == (5, 9)
    for i, b in enumerate(bs):
        for j, w in enumerate(ws):
            expected = theory.chi1(name, float(w), float(b))
            if math.isinf(expected):
                assert math.isinf(grid[i, j])
            else:
                assert grid[i, j] == pytest.approx(expected, rel=1e-3), (w, b)
    with pytest.raises(ValueError, match="sigma_w2s must be > 0"):
        theory.chi1_grid(name, [0.0], [0.0])


def test_predict_backward_through_a_custom_activation_module():
    """The backward pass reuses the activation the forward pass found, so a user's
    activation module (known only by its function) is predicted both ways."""

    class Squash(torch.nn.Module):  # not a registry name: known only as a function
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x)

    import initscope
    from initscope.theory.meanfield import gaussian_moment as _moment

    net = torch.nn.Sequential(torch.nn.Linear(64, 64), Squash(), torch.nn.Linear(64, 64))
    first, second = diagnostics.predict(net, "auto")
    assert second.activation == "Squash" and second.q_in == pytest.approx(first.q_out)
    silu = initscope.activation(torch.nn.SiLU())
    chi = second.sigma_w2_backward * _moment(silu, first.q_out, derivative=True)
    assert first.grad_ratio == pytest.approx(chi, rel=1e-6)


# --- regressions against independently computed values (issue 17, item 3) ---------------


def _erf_closed(sw2: float, sb2: float) -> tuple[float, Callable[[float], float], float]:
    """erf's mean-field maps in closed form (Williams 1997's arcsine kernel), solved by
    scipy alone: q*, the c-map at q*, and chi_1 = sw2 E[erf'(u)^2] = sw2 (4/pi) / sqrt(1 + 4 q*)."""
    from scipy.optimize import brentq

    q = brentq(lambda q: sw2 * 2 / math.pi * math.asin(2 * q / (1 + 2 * q)) + sb2 - q,
               1e-9, 1e6, xtol=1e-15)

    def cmap(c: float) -> float:
        return (sw2 * _erf_kernel(q, c) + sb2) / q

    return q, cmap, sw2 * 4 / math.pi / math.sqrt(1 + 4 * q)


def test_c_star_just_above_the_edge_of_chaos():
    """c* sits within 1e-3 of 1 just above criticality; an even grid of step 0.0125
    stepped over it onto the trivial root c = 1 (then: c* = 1, xi_c = inf, "critical").
    Oracle: erf's closed-form maps solved by scipy; and tanh's values from an independent
    solve (c* = 0.99769, xi_c = 2669 at 1.001x its critical sigma_w2, sigma_b2 = 0.05)."""
    from scipy.optimize import brentq

    sb2 = 0.05
    crit = brentq(lambda w: _erf_closed(w, sb2)[2] - 1.0, 0.5, 5.0, xtol=1e-14)
    assert theory.critical_sigma_w2("erf", sb2) == pytest.approx(crit, rel=1e-8)
    for factor in (1.001, 1.01, 1.3):
        sw2 = factor * crit
        _, cmap, chi = _erf_closed(sw2, sb2)
        want = brentq(lambda c, f=cmap: f(c) - c, 0.0, 1.0 - 1e-9, xtol=1e-15)
        assert want > 0.99 or factor > 1.001
        d = theory.depth_scales("erf", sw2, sb2)
        assert d.c_star == pytest.approx(want, abs=1e-9)
        slope = (cmap(want + 1e-7) - cmap(want - 1e-7)) / 2e-7
        assert d.xi_c == pytest.approx(-1 / math.log(slope), rel=1e-4)
        assert d.phase == "chaotic" and d.chi1 == pytest.approx(chi, rel=1e-9) and chi > 1
    tanh = theory.depth_scales("tanh", 1.001 * theory.critical_sigma_w2("tanh", sb2), sb2)
    assert tanh.c_star == pytest.approx(0.99769, abs=1e-5)
    assert tanh.xi_c == pytest.approx(2669, rel=1e-3) and tanh.phase == "chaotic"


def test_xi_c_at_the_critical_point_is_infinite_and_so_printed(capsys):
    """At the critical point the depth scales diverge: inf, not -1/log(1 - 8e-12) =
    1.27e11 from the last bits of the quadrature; phase "critical"."""
    from initscope.cli import main

    crit = theory.critical_sigma_w2("tanh", 0.05)
    d = theory.depth_scales("tanh", crit, 0.05)
    assert d.xi_c == math.inf and d.phase == "critical" and d.trainable_depth == math.inf
    assert main(["theory", "tanh", "--sigma-b2", "0.05"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.strip().startswith(f"{crit:.4f}"))
    assert "inf" in row and "e+11" not in row


def _gelu_saddle_node(sb2: float) -> tuple[float, float]:
    """Where GELU's stable length fixed point disappears at this bias variance, solved
    with scipy's own quadrature: fixed points satisfy sigma_w2 = h(q) = (q - sb2) / M(q),
    M(q) = E[gelu(sqrt(q) z)^2], so the stable branch ends at the maximum of h. Returns
    (sigma_w2 there, chi_1 there)."""
    from scipy import integrate, optimize, special

    def gauss(f: Callable[[float], float], q: float) -> float:
        s = math.sqrt(q)
        return integrate.quad(lambda z: f(s * z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
                              -40, 40, epsabs=1e-14, epsrel=1e-13, limit=200)[0]

    def cdf(x: float) -> float:
        return 0.5 * (1 + special.erf(x / math.sqrt(2)))

    def h(q: float) -> float:
        return (q - sb2) / gauss(lambda x: (x * cdf(x)) ** 2, q)

    res = optimize.minimize_scalar(lambda t: -h(math.exp(t)), bounds=(math.log(sb2 * 1.01), 3.0),
                                   method="bounded", options={"xatol": 1e-10})
    q = math.exp(res.x)
    sw2 = h(q)
    deriv = gauss(lambda x: (cdf(x) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)) ** 2, q)
    return sw2, sw2 * deriv


def test_no_edge_of_chaos_message_quotes_the_true_saddle_node():
    """GELU at sigma_b2 = 0.05: chi_1 climbs along the stable fixed point to 0.904 at
    sigma_w2 = 2.41606, where that fixed point meets the unstable one and vanishes. The
    message quoted 2.23413 / 0.734: where the unstable one crossed q = 1, the length the
    search started from."""
    import re

    sw2, chi = _gelu_saddle_node(0.05)
    assert sw2 == pytest.approx(2.41606, abs=1e-5) and chi == pytest.approx(0.904, abs=1e-3)
    with pytest.raises(ValueError) as e:
        theory.critical_sigma_w2("gelu", 0.05)
    said = re.search(r"rises only to ([\d.]+) before the fixed point q\* disappears at "
                     r"sigma_w2 = ([\d.]+)", str(e.value))
    assert said is not None, str(e.value)
    assert float(said.group(1)) == pytest.approx(chi, abs=1e-4)
    assert float(said.group(2)) == pytest.approx(sw2, rel=1e-5)


def test_relu_with_a_bias_has_no_finite_critical_point():
    """ReLU's chi_1 = sigma_w2 / 2 meets 1 at sigma_w2 = 2 whatever the bias, but with
    sigma_b2 > 0 the length then grows by sigma_b2 every layer: no critical point with a
    finite q*. It returned 2.0 (the bisection's midpoint hit chi_1 = 1 exactly and
    returned before the check)."""
    for sb2 in (0.01, 0.1):
        with pytest.raises(ValueError, match="critical point is degenerate"):
            theory.critical_sigma_w2("relu", sb2)
    assert theory.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, rel=1e-9)
