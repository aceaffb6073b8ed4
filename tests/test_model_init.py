"""initialize(): coverage on real architectures, the seed's claim measured, atomicity,
determinism, overrides and opt-in module inits."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

import initscope
from initscope import initialize
from initscope.model.policies import ParamInit
from tests.architectures import GPT, ConvNet, DataDependent, ResNet18, SwiGLU, Zoo, mlp


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


ARCHS = {
    "mlp": (lambda: mlp(4, 32, nn.ReLU), lambda: torch.randn(8, 32)),
    "convnet": (ConvNet, lambda: torch.randn(2, 3, 16, 16)),
    "resnet18": (lambda: ResNet18(num_classes=10), lambda: torch.randn(2, 3, 32, 32)),
    "transformer": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2, enable_nested_tensor=False),
        lambda: torch.randn(2, 5, 32)),
    "lstm": (lambda: nn.LSTM(16, 32, num_layers=2, batch_first=True),
             lambda: torch.randn(2, 5, 16)),
    "gpt": (GPT, lambda: torch.randint(0, 96, (2, 16))),
    "swiglu": (lambda: SwiGLU(16, 48), lambda: torch.randn(4, 16)),
    "zoo": (Zoo, lambda: (torch.randint(0, 50, (8,)), torch.tensor([0, 4]),
                          torch.randn(2, 1, 4, 4, 4))),
}


@pytest.mark.parametrize("scheme", ["auto", "xavier", "he", "lecun", "orthogonal",
                                    "torch_default", "glorot_standard", "zeros", "ones",
                                    "uniform(-1,1)"])
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_parameter_is_reported_and_covered(arch, scheme):
    build, inputs = ARCHS[arch]
    model = build()
    x = inputs()
    x = x if isinstance(x, tuple) else (x,)
    report = initialize(model, scheme, example_inputs=x, seed=0)
    names = [n for n, _ in model.named_parameters()]
    assert [r.name for r in report.records] == names
    assert report.uncovered == []
    for r in report.records:
        if r.target_std is not None and r.achieved_std is not None and math.prod(r.shape) > 200:
            # the draw has the std it promised (n > 200: 4.5 standard errors within 35%)
            assert r.achieved_std == pytest.approx(r.target_std, rel=0.35, abs=1e-12), r.name
    with torch.no_grad():
        out = model(*x)
    out = out[0] if isinstance(out, tuple) else out
    if scheme not in ("ones", "uniform(-1,1)"):
        assert torch.isfinite(out).all()


def test_auto_uses_the_gain_of_what_feeds_each_layer():
    model = ConvNet()
    report = {r.name: r for r in initialize(model, "auto", seed=0).records}
    assert report["stem.weight"].gain == 1.0  # raw input
    assert report["grouped.weight"].gain == pytest.approx(initscope.gain("relu"))
    assert report["depthwise.weight"].gain == pytest.approx(initscope.gain("gelu"))
    assert report["pointwise.weight"].gain == 1.0  # straight from a linear layer
    assert report["head.weight"].gain == pytest.approx(initscope.gain("leaky_relu", 0.2))
    # real fans: grouped (64, 8, 3, 3) with groups=4; ConvTranspose (64, 16, 4, 4), groups 2
    assert report["grouped.weight"].fan_in == 72
    assert (report["up.weight"].fan_in, report["up.weight"].fan_out) == (32 * 16, 16 * 16)


def _second_moments(model: nn.Sequential, width: int, batch: int = 1024) -> list[float]:
    h, out = torch.randn(batch, width, generator=torch.Generator().manual_seed(9)), []
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if not isinstance(layer, nn.Linear):
                out.append(h.pow(2).mean().item())
    return out


@pytest.mark.parametrize("act", [nn.ReLU, nn.GELU, nn.SiLU])
def test_auto_makes_each_layer_preserve_the_second_moment(act):
    """He et al.'s condition, layer by layer: E[x_{l+1}^2] / E[x_l^2] = 1 (a deep GELU or
    SiLU chain is looks-linear under "auto", a ReLU one too; tanh's is at its edge of
    chaos instead: the next test). One 1024-wide
    network's average over its first 6 transitions scatters by about 2.5% from seed to
    seed (measured over seeds 0-7 for ReLU and GELU: later transitions of GELU and SiLU
    inherit their expanding q-map's amplification of earlier deviations); the mean over 8
    seeds has a standard error near 0.9%, and must be 1 within 2.5% (about 3 errors)."""
    means = []
    for seed in range(8):
        model = mlp(7, 1024, act)
        initialize(model, "auto", seed=seed)
        q = _second_moments(model, 1024)
        ratios = [b / a for a, b in itertools.pairwise(q)]
        means.append(sum(ratios) / len(ratios))
    assert sum(means) / len(means) == pytest.approx(1.0, abs=0.025), means


def test_auto_puts_a_deep_tanh_chain_on_its_mean_field_trajectory():
    """A deep tanh chain under "auto" is at its stable edge of chaos (orthogonal weights,
    sigma_w2 1.761, biases N(0, 0.05)): each layer's pre-activation second moment is the
    mean-field map's q^{l+1} = sigma_w2 E[tanh(sqrt(q^l) z)^2] + sigma_b2 from the first
    layer's q^1 = 1.81 toward q* = 0.570 (not He's ratio 1: the critical point moves the
    signal to q* and holds it there). Measured over seeds 0-7 at width 1024: a network's
    layers within 2.5% of the map, the 8-seed mean within 0.7%; bounds 5% and 1.5%."""
    from initscope import theory

    sw2, sb2 = theory.stable_critical_point("tanh")
    errors = []
    for seed in range(8):
        model = mlp(7, 1024, nn.Tanh)
        initialize(model, "auto", seed=seed)
        h, q = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(9)), []
        with torch.no_grad():
            for layer in model:
                h = layer(h)
                if isinstance(layer, nn.Linear):
                    q.append(h.pow(2).mean().item())
        predicted = theory.variance_trajectory("tanh", sw2, sb2, len(q) - 2, q0=q[0])
        errors.append([m / p - 1 for m, p in zip(q[1:-1], predicted[1:], strict=True)])
    assert q[0] == pytest.approx(sw2 + sb2, rel=0.02)  # unit inputs, orthogonal rows
    assert all(abs(e) < 0.05 for row in errors for e in row), errors
    means = [sum(col) / len(col) for col in zip(*errors, strict=True)]
    assert all(abs(m) < 0.015 for m in means), means


def test_auto_keeps_a_50_layer_tanh_network_within_a_factor_2():
    """The seed's claim for tanh, measured on one network (width 512): at the edge of
    chaos "auto" puts a deep tanh chain on, the q-map contracts at its fixed point q* =
    0.570 (slope 0.52), so finite-width noise does not build up: every layer's second
    moment stays within 2x of the first layer's output (1.81 before tanh).
    (ReLU's map is neutral and a single network's signal drifts log-normally, by up to a
    factor 5 over 50 layers at width 512 (Hanin & Rolnick 2018); GELU's is expanding
    (slope 1.14): no gain holds it, and "auto" makes a long GELU chain looks-linear
    instead: tests/test_auto_every_activation.py.)"""
    model = mlp(50, 512, nn.Tanh)
    initialize(model, "auto", seed=1)
    q = _second_moments(model, 512)
    assert all(0.5 < v / q[0] < 2.0 for v in q), q


def test_glorot_standard_with_tanh_shrinks_the_signal():
    model = mlp(50, 512, nn.Tanh)
    initialize(model, "glorot_standard", seed=1)
    h = torch.randn(1024, 512)
    with torch.no_grad():
        first = torch.tanh(model[0](h)).pow(2).mean().item()
        last = model(h).pow(2).mean().item()
    assert last / first < 1e-3  # Var shrinks by about 1/3 per layer


def _fails_on_7th_layer():
    """The "auto" policy, raising on the 7th layer it is asked about."""
    calls = {"n": 0}
    auto = initscope.model.policies.SCHEMES["auto"]

    def flaky(info):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("policy failed on the 7th layer")
        return auto(info)

    return flaky


def test_a_failing_policy_leaves_the_model_bit_identical():
    model = ResNet18(num_classes=10)
    before = _state(model)
    flaky = _fails_on_7th_layer()
    with pytest.raises(RuntimeError, match="7th layer"):
        initialize(model, flaky, seed=0)
    assert _same(_state(model), before)


def test_a_failing_fill_leaves_the_model_bit_identical():
    model = GPT()
    before = _state(model)

    def bad_fill(t, g):
        raise ValueError("cannot fill")

    with pytest.raises(ValueError, match="cannot fill"):
        initialize(model, overrides={"h.2.c_fc": lambda info: ParamInit("bad", bad_fill)},
                   seed=0)
    assert _same(_state(model), before)
    with pytest.raises(ValueError, match="unknown scheme 'kaiming'; valid: 'auto'"):
        initialize(model, "kaiming")
    assert _same(_state(model), before)


def test_in_place_initialization_draws_the_same_weights():
    """atomic=False writes into the parameters: the same values, bit for bit; policies
    still run before any draw, so a failing one changes nothing; a failing custom fill
    leaves the parameters before it rewritten (as documented) and raises."""
    a, b = ResNet18(num_classes=10), ResNet18(num_classes=10)
    ra = initialize(a, "auto", seed=3)
    rb = initialize(b, "auto", seed=3, atomic=False)
    assert _same(_state(a), _state(b))
    assert [r.achieved_std for r in ra.records] == [r.achieved_std for r in rb.records]
    before = _state(b)
    flaky = _fails_on_7th_layer()
    with pytest.raises(RuntimeError, match="7th layer"):
        initialize(b, flaky, seed=0, atomic=False)
    assert _same(_state(b), before)

    def bad_fill(t, g):
        raise ValueError("cannot fill")

    with pytest.raises(ValueError, match="cannot fill"):
        initialize(b, overrides={"fc": lambda info: ParamInit("bad", bad_fill)}, seed=0,
                   atomic=False)
    assert not torch.equal(b.conv1.weight, before["conv1.weight"])  # drawn before fc
    with pytest.raises(TypeError, match="atomic must be True or False; got 'yes'"):
        initialize(b, atomic="yes")


def test_draws_shared_by_threads_equal_the_draws_of_one_thread():
    """Built-in (initscope's own) draws run several parameters at once on worker threads; the
    values, the audit and the record order are those of a one-thread run, bit for bit,
    on a CNN and a decoder, atomic or not."""
    before = torch.get_num_threads()
    try:
        for build in (lambda: ResNet18(num_classes=10), GPT):
            for atomic in (True, False):
                runs = []
                for threads in (1, 2):
                    torch.set_num_threads(threads)
                    model = build()
                    report = initialize(model, "auto", seed=5, atomic=atomic)
                    runs.append((_state(model), [(r.name, r.achieved_std)
                                                 for r in report.records]))
                assert _same(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    finally:
        torch.set_num_threads(before)


def test_own_fills_run_on_the_calling_thread_after_the_draws_before_them():
    """A fill of the user's runs on the calling thread, in parameter order:
    drawing in place, it sees the new values of the parameters before it."""
    import threading

    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    seen = []

    def copy_first(t, g):
        seen.append(threading.current_thread() is threading.main_thread())
        return t.copy_(model[0].weight)

    initialize(model, "auto", seed=1, atomic=False,
               overrides={"2": lambda info: ParamInit("copy", copy_first, elementwise=True)})
    assert seen == [True] and torch.equal(model[2].weight, model[0].weight)


def test_a_failing_shared_draw_leaves_the_model_bit_identical(monkeypatch):
    """An error on a worker thread reaches the caller; atomic, nothing was written, and
    torch's thread count is as it was."""
    import initscope.init as init_module

    model = ResNet18(num_classes=10)
    before, threads = _state(model), torch.get_num_threads()
    real = init_module.uniform_

    def uniform_(t, *args, **kwargs):
        if t.numel() == 64 * 64 * 9:  # layer1's convolutions, drawn on shared threads
            raise RuntimeError("no uniform for you")
        return real(t, *args, **kwargs)

    monkeypatch.setattr(init_module, "uniform_", uniform_)
    with pytest.raises(RuntimeError, match="no uniform for you"):
        initialize(model, "auto", seed=0)
    assert _same(_state(model), before) and torch.get_num_threads() == threads


def test_same_seed_same_weights_independent_of_construction_order():
    torch.manual_seed(0)
    a = GPT()
    nn.Linear(100, 100)  # another model built in between moves torch's global RNG
    b = GPT()
    initialize(a, seed=42)
    initialize(b, seed=42)
    assert _same(_state(a), _state(b))
    initialize(b, seed=43)
    assert not torch.equal(a.h[0].c_fc.weight, b.h[0].c_fc.weight)
    # a parameter's values are a function of (seed, its name): reproduce one by hand
    bound = 3**0.5 / 8  # "auto": uniform, variance 1 / fan_in (input from a LayerNorm)
    stream = initscope.rng.Stream(42, "h.0.c_fc.weight")
    expected = initscope.init.uniform_(torch.empty(256, 64), -bound, bound, generator=stream)
    assert torch.equal(a.h[0].c_fc.weight.detach(), expected)


def test_wrapper_prefixes_do_not_change_the_values():
    class Compiled(nn.Module):  # torch.compile's OptimizedModule names its child _orig_mod
        def __init__(self) -> None:
            super().__init__()
            self._orig_mod = mlp(3, 16, nn.ReLU)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._orig_mod(x)

    plain = mlp(3, 16, nn.ReLU)
    wrapped = Compiled()
    initialize(plain, seed=5)
    initialize(wrapped, seed=5)
    assert torch.equal(plain[2].weight, wrapped._orig_mod[2].weight)


def test_tied_weights_are_initialized_once():
    model = GPT()
    report = initialize(model, seed=0)
    names = [r.name for r in report.records]
    assert "wte.weight" in names and "lm_head.weight" not in names
    assert model.lm_head.weight is model.wte.weight


def test_overrides_by_name_and_type():
    model = GPT()
    report = {r.name: r for r in initialize(
        model, "auto", seed=0,
        overrides={"h.*.attn.c_proj": "zeros", nn.Embedding: "xavier"}).records}
    assert torch.count_nonzero(model.h[1].attn.c_proj.weight) == 0
    assert report["h.0.attn.c_proj.weight"].scheme == "constant(0)"
    assert report["wte.weight"].scheme == "xavier_uniform"
    assert report["h.0.c_fc.weight"].scheme.startswith("U, var")
    with pytest.raises(TypeError, match="override keys"):
        initialize(model, overrides={3: "auto"})


def test_modules_opt_in_with_their_own_init_and_bare_parameters_are_listed():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.empty(8))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale

        def init_weights(self) -> None:
            nn.init.constant_(self.scale, 0.5)

    class Bare(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.alpha = nn.Parameter(torch.full((1,), 3.0))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.alpha

    model = nn.Sequential(nn.Linear(8, 8), Scaled(), Bare())
    report = initialize(model, seed=0)
    assert torch.all(model[1].scale == 0.5)
    rec = {r.name: r for r in report.records}
    assert rec["1.scale"].scheme == "Scaled.init_weights()"
    assert report.uncovered == ["2.alpha"]
    assert model[2].alpha.item() == 3.0  # not covered: left as it was
    assert "NOT COVERED" in str(report)


def test_meta_device_models_are_materialized_then_initialized():
    with torch.device("meta"):
        model = GPT()
    with pytest.raises(ValueError, match="meta device; materialize the model first"):
        initialize(model, seed=0)
    model.to_empty(device="cpu")
    model.lm_head.weight = model.wte.weight  # to_empty unties; re-tie as usual
    initialize(model, seed=0)
    reference = GPT()
    initialize(reference, seed=0)
    assert _same(_state(model), _state(reference))


def test_untraceable_model_needs_inputs_and_then_reports_how():
    with pytest.raises(ValueError, match="example_inputs"):
        initialize(DataDependent())
    report = initialize(DataDependent(), example_inputs=torch.randn(2, 8), seed=0)
    assert report.graph.method == "dynamic"
    assert "traced by running it" in str(report)
    assert {r.name: r.gain for r in report.records}["b.weight"] == pytest.approx(
        initscope.gain("tanh"))


def test_report_exports():
    report = initialize(mlp(2, 8, nn.Tanh), seed=0)
    rows = report.to_records()
    assert rows[0]["name"] == "0.weight" and rows[0]["covered"] is True
    pd = pytest.importorskip("pandas")
    df = report.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df["name"]) == [r["name"] for r in rows]


_CORE_RULES = {
    # scheme -> the VarianceScaling it must be, as a function of the record's gain
    "auto": lambda g: initscope.VarianceScaling(g * g, "fan_in", "uniform"),
    "xavier": lambda g: initscope.VarianceScaling(1.0, "fan_avg", "uniform"),
    "he": lambda g: initscope.VarianceScaling(2.0, "fan_in", "normal"),
    "lecun": lambda g: initscope.VarianceScaling(1.0, "fan_in", "normal"),
    "glorot_standard": lambda g: initscope.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
}


@pytest.mark.parametrize("scheme", sorted(_CORE_RULES))
def test_schemes_report_and_sample_the_one_formula(scheme):
    """The std a scheme reports is the core's VarianceScaling std for the same fans, to the
    bit, and the weights sampled have it (issue 15: one formula, no std of its own)."""
    model = ResNet18()
    report = initialize(model, scheme, seed=0)
    params = dict(model.named_parameters())
    seen = 0
    for r in report.records:
        if r.fan_in is None or not r.name.endswith("weight") or r.kind == "norm":
            continue
        rule = _CORE_RULES[scheme](r.gain if r.gain is not None else 1.0)
        want = rule.draw(initscope.Fans(r.fan_in, r.fan_out, 1))  # (std reads fans only)
        assert r.target_std == want.std, (r.name, r.target_std, want.std)
        assert r.achieved_std == pytest.approx(want.std, rel=0.1 if params[r.name].numel()
                                               > 1000 else 0.5), r.name
        seen += 1
    assert seen >= 10
