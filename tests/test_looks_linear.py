"""Looks-linear initialization (Balduzzi et al. 2017, "The Shattered Gradients Problem"):
the mirrored construction, its exact linearity at init through real torch layers, where
"auto" uses it (chains whose length map expands) and where it says why it cannot."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initscope
from initscope import init
from initscope._core.activations import activation
from initscope._core.gain import looks_linear_gain, variance_map_slope


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(("shape", "mirror_in", "mirror_out"),
                         [((8, 6), True, True), ((8, 5), False, True), ((3, 6), True, False),
                          ((12, 4), True, True), ((4, 12), True, True)])
def test_blocks_are_mirrored_copies_of_one_scaled_orthogonal_matrix(shape, mirror_in, mirror_out):
    w = init.looks_linear_(torch.empty(shape, dtype=torch.float64), 1.7, mirror_in=mirror_in,
                           mirror_out=mirror_out, generator=_gen())
    o = shape[0] // 2 if mirror_out else shape[0]
    i = shape[1] // 2 if mirror_in else shape[1]
    a = w[:o, :i]
    if mirror_in:
        assert torch.equal(w[:o, i:], -a)
    if mirror_out:
        assert torch.equal(w[o:, :i], -a)
    if mirror_in and mirror_out:
        assert torch.equal(w[o:, i:], a)
    # A = 1.7 sqrt(max(1, o / i)) Q with Q's rows (o <= i) or columns orthonormal: every
    # unit keeps its second moment, and the element std is gain / sqrt(i)
    gram = a @ a.T if o <= i else a.T @ a
    scale = 1.7 ** 2 * max(1.0, o / i)
    assert torch.allclose(gram, scale * torch.eye(min(o, i), dtype=torch.float64), atol=1e-12)
    assert float(w.pow(2).mean()) == pytest.approx(1.7 ** 2 / i, rel=1e-12)


def test_bad_shapes_and_gains_are_refused_by_name():
    with pytest.raises(ValueError, match=r"mirror_out needs an even number of outputs.*\(5, 4\)"):
        init.looks_linear_(torch.empty(5, 4))
    with pytest.raises(ValueError, match="mirror_in needs an even number of inputs"):
        init.looks_linear_(torch.empty(4, 5))
    with pytest.raises(ValueError, match="looks_linear_: expects a weight"):
        init.looks_linear_(torch.empty(4))
    with pytest.raises(ValueError, match="looks_linear_"):
        init.looks_linear_(torch.empty(4, 4), "no_such_activation")


def test_the_gain_is_that_of_phi_x_minus_phi_minus_x():
    """psi(z) = phi(z) - phi(-z) is z for ReLU, GELU, SiLU and Hardswish (gain 1),
    (1 + a) z for leaky ReLU; for tanh 2 tanh(z): checked by Monte Carlo."""
    for name in ("relu", "gelu", "silu", "hardswish"):
        assert looks_linear_gain(activation(name)) == pytest.approx(1.0, abs=1e-12)
    assert looks_linear_gain(activation("leaky_relu", 0.3)) == pytest.approx(1 / 1.3, rel=1e-12)
    z = torch.randn(4_000_000, generator=_gen(), dtype=torch.float64)
    mc = 1 / math.sqrt(float((2 * torch.tanh(z)).pow(2).mean()))
    assert looks_linear_gain(activation("tanh")) == pytest.approx(mc, rel=2e-3)
    with pytest.raises(ValueError, match="even function"):
        looks_linear_gain(activation(lambda x: x * x))


def test_the_variance_map_slope_against_finite_differences():
    """variance_map_slope (Stein's lemma, one quadrature) against a central difference of
    the length map computed by Monte Carlo-free scipy quadrature: GELU 1.14, SiLU 1.17,
    Mish 1.08, Hardswish 1.22 (the issue's numbers), tanh 0.46."""
    from scipy import integrate

    def moment(f, q):
        s = math.sqrt(q)
        density = 1 / math.sqrt(2 * math.pi)
        return integrate.quad(lambda z: f(s * z) ** 2 * math.exp(-z * z / 2) * density,
                              -30, 30, points=[-3 / s, 3 / s], limit=400, epsabs=1e-14)[0]

    fns = {"gelu": lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))),
           "silu": lambda x: x / (1 + math.exp(-x)),
           "mish": lambda x: x * math.tanh(math.log1p(math.exp(x))),
           "hardswish": lambda x: x * min(max(x + 3, 0), 6) / 6,
           "tanh": math.tanh}
    want = {"gelu": 1.14, "silu": 1.17, "mish": 1.08, "hardswish": 1.22, "tanh": 0.46}
    for name, f in fns.items():
        h = 1e-4
        fd = (moment(f, 1 + h) - moment(f, 1 - h)) / (2 * h) / moment(f, 1.0)
        got = variance_map_slope(activation(name))
        assert got == pytest.approx(fd, rel=1e-6), name
        assert got == pytest.approx(want[name], abs=0.005), name


def _mlp(act, depth=6, width=64, d_in=32, d_out=10):
    layers: list[nn.Module] = [nn.Linear(d_in, width), act()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), act()]
    layers.append(nn.Linear(width, d_out))
    return nn.Sequential(*layers)


@pytest.mark.parametrize("act", [nn.ReLU, nn.GELU, nn.SiLU, nn.Hardswish])
def test_a_looks_linear_network_is_linear_at_init(act):
    """f(a x + b y) = a f(x) + b f(y) through the real layers: the mirrored pairs cancel
    every nonlinearity; and orthogonal square layers keep each input's norm (up to the
    first and last layers' rectangular maps)."""
    model = _mlp(act).double()
    report = initscope.initialize(model, "looks_linear", seed=0)
    schemes = [r.scheme for r in report.records if r.name.endswith("weight")]
    assert schemes[0].startswith("looks_linear (mirrored out)")
    assert schemes[1].startswith("looks_linear (mirrored in and out)")
    assert schemes[-1].startswith("looks_linear (mirrored in)")
    g = _gen(1)
    x, y = torch.randn(16, 32, generator=g, dtype=torch.float64), torch.randn(
        16, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        lhs = model(2.5 * x - 0.7 * y)
        rhs = 2.5 * model(x) - 0.7 * model(y)
    assert torch.allclose(lhs, rhs, atol=1e-10)


def test_conv_chains_are_mirrored_delta_orthogonal_and_linear():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.GELU(),
                          nn.Conv2d(16, 16, 3, padding=1), nn.GELU(),
                          nn.Conv2d(16, 8, 3, padding=1)).double()
    report = initscope.initialize(model, "looks_linear", seed=0,
                                  example_inputs=torch.zeros(1, 3, 8, 8, dtype=torch.float64))
    assert [r.scheme.split(",")[0] for r in report.records if r.name.endswith("weight")] == [
        "looks_linear (mirrored out)", "looks_linear (mirrored in and out)",
        "looks_linear (mirrored in)"]
    w = model[2].weight.detach()
    assert torch.count_nonzero(w[:, :, 0, 0]) == 0  # delta: the centre tap only
    x, y = (torch.randn(2, 3, 8, 8, generator=_gen(s), dtype=torch.float64) for s in (1, 2))
    with torch.no_grad():
        assert torch.allclose(model(x + 3 * y), model(x) + 3 * model(y), atol=1e-10)
        # the middle layer is an isometry of the mirrored half-signal (delta-orthogonal)
        z = model[0](x)[:, :8]
        half = model[2](model[1](model[0](x)))[:, :8]
        assert float(half.pow(2).sum()) == pytest.approx(float(z.pow(2).sum()), rel=1e-10)


def test_inside_a_residual_branch():
    """x + W2 phi(W1 x): W1 mirrors its output, W2 reads the pairs; the branch is
    linear in x at init."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 16)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.fc2(nn.functional.silu(self.fc1(x)))

    block = Block().double()
    initscope.initialize(block, "looks_linear", seed=0,
                         example_inputs=torch.zeros(1, 16, dtype=torch.float64))
    x, y = (torch.randn(4, 16, generator=_gen(s), dtype=torch.float64) for s in (1, 2))
    with torch.no_grad():
        assert torch.allclose(block(x - 2 * y), block(x) - 2 * block(y), atol=1e-12)


def test_auto_mirrors_plain_chains_unless_the_activation_is_odd():
    """"auto" makes every plain chain of two or more links looks-linear (the digits
    measurement: never worse beyond the seed spread, better from 5 links on), for every
    activation that is not odd; a tanh chain, a single link (a transformer's MLP) and a
    chain that is not plain keep the variance-keeping rule."""
    def schemes(model, **kw):
        r = initscope.initialize(model, "auto", seed=0, **kw)
        return [x.scheme for x in r.records if x.name.endswith("weight")]

    for act in (nn.GELU, nn.ReLU, nn.ELU, nn.Sigmoid, nn.Softplus):
        assert all(s.startswith("looks_linear") for s in schemes(_mlp(act, depth=3))), act
    assert not any(s.startswith("looks_linear") for s in schemes(_mlp(nn.Tanh, depth=40)))
    assert not any(s.startswith("looks_linear") for s in schemes(_mlp(nn.GELU, depth=2)))
    from tests.architectures import GPT

    gpt = schemes(GPT(), example_inputs=torch.zeros(1, 8, dtype=torch.long))
    assert not any(s.startswith("looks_linear") for s in gpt)
    assert variance_map_slope(activation("gelu")) ** 6 >= 2 > variance_map_slope(
        activation("gelu")) ** 5


def test_auto_says_why_an_odd_width_chain_is_not_mirrored():
    model = _mlp(nn.GELU, depth=10, width=33)
    report = initscope.initialize(model, "auto", seed=0)
    rec = {r.name: r.scheme for r in report.records}
    assert "not looks-linear: odd width 33" in rec["2.weight"]
    assert "deviations grow x1.14 per layer" in rec["2.weight"]


def test_same_seed_same_weights_and_another_seed_differs():
    a, b, c = _mlp(nn.SiLU, depth=8), _mlp(nn.SiLU, depth=8), _mlp(nn.SiLU, depth=8)
    for m, seed in ((a, 3), (b, 3), (c, 4)):
        initscope.initialize(m, "auto", seed=seed)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a[2].weight, c[2].weight)


def test_diagnose_warns_of_an_expanding_chain_and_not_once_it_is_mirrored():
    """A 30-layer GELU MLP under He's init: the warning names the chain, the slope and
    the growth along it; under "auto" (mirrored) and on a ReLU chain (neutral map) or a
    short GELU chain nothing fires."""
    def kinds(model, scheme):
        initscope.initialize(model, scheme, seed=0)
        x = torch.randn(256, 32, generator=_gen(5))
        return {v.kind: v for v in initscope.diagnose(model, x).verdicts}

    found = kinds(_mlp(nn.GELU, depth=30), "xavier")
    v = found["unstable_variance_map"]
    assert v.severity == "warning"
    assert "gelu chain of 30 layers (0 .. 58)" in v.evidence
    assert "x1.14 per layer" in v.evidence and "looks-linear" in v.fix
    assert "unstable_variance_map" not in kinds(_mlp(nn.GELU, depth=30), "auto")
    assert "unstable_variance_map" not in kinds(_mlp(nn.ReLU, depth=30), "he")
    assert "unstable_variance_map" not in kinds(_mlp(nn.GELU, depth=5), "xavier")


@pytest.mark.parametrize("act", [nn.GELU, nn.Mish])
def test_the_theory_beside_a_looks_linear_network(act):
    """diagnose's mean-field prediction reads mirrored pairs: forward E[h^2] within 1%
    and the gradient variances within 1% of the measurement, no theory note (Mish's
    odd part is not linear: its length still follows psi's map)."""
    model = _mlp(act, depth=12, width=256, d_in=256).double()
    initscope.initialize(model, "looks_linear", seed=0)
    x = torch.randn(512, 256, generator=_gen(6), dtype=torch.float64)
    d = initscope.diagnose(model, x, target=torch.arange(512) % 10)
    for s in d.layers:
        assert s.theory_note == ""
        assert s.pre_second_moment == pytest.approx(s.predicted_pre_second_moment, rel=0.01)
        assert s.grad_pre_var == pytest.approx(s.predicted_grad_pre_var, rel=0.01)


def test_predict_reports_each_layers_slope():
    """predict's slope is d q_out / d q_in at the layer's input: the length map's slope
    (GELU under "auto"'s gain on a single link, which "auto" does not mirror: 1.14 at
    q = 1)."""
    from initscope.diagnostics import predict

    model = _mlp(nn.GELU, depth=2, width=512, d_in=512, d_out=512)
    rows = predict(model, "auto")
    assert rows[1].slope == pytest.approx(variance_map_slope(activation("gelu")), rel=2e-3)
    assert rows[0].slope == pytest.approx(rows[0].sigma_w2, rel=1e-12)  # identity: sigma_w2
