"""Issue 14, item 2: no operation writes values it did not mean to, or leaves the model
changed after it: fills that return a tensor, lsuv on NaN/constant batches and tied
weights, buffers after a forward pass, truncated normals in the far tail and at their
bounds in every dtype and backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import initscope
from initscope import init, lsuv
from tests.architectures import ResNet18, mlp


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


# --- a fill that returns a new tensor ---------------------------------------------------

@pytest.mark.parametrize("atomic", [True, False])
def test_a_fill_that_returns_a_tensor_has_it_written_in_both_modes(atomic):
    net = mlp(2, 32, nn.ReLU)

    def policy(info):
        return lambda t, g: torch.full_like(t, 0.25)

    report = initscope.initialize(net, policy, seed=0, atomic=atomic)
    assert torch.equal(net[0].weight, torch.full_like(net[0].weight, 0.25))
    rec = next(r for r in report.records if r.name == "0.weight")
    assert rec.achieved_std == 0.0


def test_random_fills_returning_tensors_give_their_std_not_a_staging_buffer():
    net = mlp(2, 64, nn.ReLU)
    torch.manual_seed(0)
    report = initscope.initialize(net, lambda info: (lambda t, g: torch.randn_like(t)), seed=0)
    stds = [r.achieved_std for r in report.records if r.name.endswith("weight")]
    assert stds == pytest.approx([1.0, 1.0], rel=0.05)
    assert float(net[0].weight.detach().std()) == pytest.approx(stds[0], rel=1e-5)


def test_a_fill_returning_another_shape_is_refused_by_name_and_changes_nothing():
    net = mlp(2, 16, nn.ReLU)
    before = _state(net)
    with pytest.raises(ValueError, match=r"'0\.weight' returned a tensor of shape \(3,\)"):
        initscope.initialize(net, lambda info: (lambda t, g: torch.zeros(3)), seed=0)
    assert _same(net, before)


def test_a_policy_returning_a_number_is_refused_naming_the_layer():
    net = mlp(2, 16, nn.ReLU)
    with pytest.raises(TypeError, match=r"returned 42 .* for layer '0'; a policy returns None"):
        initscope.initialize(net, lambda info: 42, seed=0)


# --- lsuv ---------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_lsuv_refuses_a_nonfinite_batch_and_restores_the_model(bad):
    net = mlp(3, 32, nn.ReLU)
    before = _state(net)
    x = torch.randn(64, 32)
    x[5, 7] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        lsuv(net, x, seed=0)
    assert _same(net, before)


@pytest.mark.parametrize("center", [False, True])
def test_lsuv_refuses_rows_that_are_identical_up_to_rounding(center):
    """center=True on identical rows left rounding noise to scale by 1e7 (output std
    1e14 on real data)."""
    net = mlp(3, 32, nn.Tanh)
    before = _state(net)
    x = torch.randn(1, 32).repeat(64, 1)
    if center:
        with pytest.raises(ValueError, match="constant output"):
            lsuv(net, x, seed=0, center=True)
        assert _same(net, before)
    else:  # not centered: the whole output varies across units, so it calibrates
        report = lsuv(net, x, seed=0)
        assert all(abs(r.std_after - 1) < 0.1 for r in report.records)


def test_lsuv_calibrates_a_shared_weight_once():
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(64, 64), nn.Linear(64, 64)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    torch.manual_seed(0)
    model, x = Tied(), torch.randn(512, 64)
    report = lsuv(model, x, seed=0)
    assert [r.name for r in report.records] == ["a"]
    with torch.no_grad():
        assert float(model.a(x).std()) == pytest.approx(1.0, abs=0.02)


# --- buffers --------------------------------------------------------------------------------

class Untraceable(nn.Module):
    """A ResNet-18 behind data-dependent control flow: fx fails, the recorded run traces."""

    def __init__(self) -> None:
        super().__init__()
        self.net = ResNet18(num_classes=10)

    def forward(self, x):
        if x.sum() > -1e30:  # tensor-dependent branch
            return self.net(x)
        return x


def test_diagnose_layer_graph_and_initialize_leave_every_buffer_as_it_was():
    torch.manual_seed(0)
    model = Untraceable().train()
    x = torch.randn(2, 3, 32, 32)
    before = _state(model)
    initscope.diagnose(model, x)
    assert _same(model, before)
    initscope.layer_graph(model, x)
    assert _same(model, before)
    initscope.initialize(model, "auto", example_inputs=x, seed=0)
    buffers = {k: v for k, v in _state(model).items() if "running" in k or "num_batches" in k}
    assert all(torch.equal(v, before[k]) for k, v in buffers.items())


def test_a_failing_initialize_with_example_inputs_leaves_the_model_bit_identical():
    model = Untraceable().train()
    before = _state(model)

    def policy(info):
        if info.name.endswith("fc"):
            raise RuntimeError("policy fails late")
        return None

    with pytest.raises(RuntimeError, match="policy fails late"):
        initscope.initialize(model, policy, example_inputs=torch.randn(2, 3, 32, 32), seed=0)
    assert _same(model, before)


def test_diagnose_that_raises_mid_pass_leaves_the_buffers():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    model.train()
    before = _state(model)

    def loss_fn(out, target):
        raise RuntimeError("loss fails")

    with pytest.raises(RuntimeError, match="loss fails"):
        initscope.diagnose(model, torch.randn(16, 8), loss_fn=loss_fn)
    assert _same(model, before)


# --- truncated normals ------------------------------------------------------------------------

def test_trunc_normal_far_upper_tail_keeps_its_resolution():
    g = torch.Generator().manual_seed(0)
    t = init.trunc_normal_(torch.empty(5), 0.0, 1.0, 9.0, 10.0, generator=g)
    assert float(t.max()) < 10.0 and float(t.min()) >= 9.0
    assert float(t.mean()) == pytest.approx(9.1, abs=0.1)  # E[Z | 9 < Z < 10] = 9.107
    t = init.trunc_normal_(torch.empty(4000), 0.0, 1.0, 8.0, 9.0, generator=g)
    assert t.unique().numel() > 3900
    # E[Z | 8 < Z < 9] = pdf(8) - pdf(9) over Phi(9) - Phi(8): 8.1198
    assert float(t.double().mean()) == pytest.approx(8.1198, abs=0.01)


def test_trunc_normal_of_the_issue_stays_inside_its_bounds():
    mean, std = 2.533949979992502, 0.03871517600077859
    a, b = 2.492572954019341, 2.606994422652715
    w = torch.empty(1024, 1024)
    init.trunc_normal_(w, mean, std, a, b, generator=torch.Generator().manual_seed(5))
    assert float(w.max()) <= b and float(w.min()) >= a


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16,
                                   torch.float64])
@pytest.mark.parametrize("n", [1000, 1 << 19])
def test_trunc_normal_never_leaves_bounds_that_its_dtype_cannot_represent(dtype, n):
    g = torch.Generator().manual_seed(1)
    for mean, std, a, b in [(0.3, 0.7, 0.1, 0.2000001), (0.0, 1.0, -0.1, 0.1),
                            (1.0, 0.01, 0.9876543, 1.0123457)]:
        w = init.trunc_normal_(torch.empty(n, dtype=dtype), mean, std, a, b, generator=g)
        assert float(w.double().max()) <= b and float(w.double().min()) >= a


_BOUNDS = {  # the analytic bound of each scheme, from (fan_in, fan_out)
    "xavier_uniform": lambda i, o: math.sqrt(6 / (i + o)),
    "he_uniform": lambda i, o: math.sqrt(6 / i),
    "lecun_uniform": lambda i, o: math.sqrt(3 / i),
    "glorot_standard": lambda i, o: 1 / math.sqrt(i),
    "torch_default": lambda i, o: 1 / math.sqrt(i),
    "variance_scaling": lambda i, o: 2 * math.sqrt(1 / i) / 0.8796256610342398,
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("scheme", sorted(_BOUNDS))
def test_numpy_bounded_schemes_stay_inside_their_bounds(dtype, scheme):
    """Shapes chosen so that, for every scheme, float16 rounds some bound upward."""
    from initscope import numpy as inp

    fn = getattr(inp, scheme)
    for shape in [(100, 100), (200, 300), (64, 64), (1000, 1000), (256, 512), (512, 256)]:
        bound = _BOUNDS[scheme](shape[1], shape[0])
        w = fn(0, shape, dtype).astype(np.float64)
        assert np.isfinite(w).all()
        assert np.abs(w).max() <= bound, (shape, float(np.abs(w).max()), bound)


def test_jax_bfloat16_truncated_normal_stays_inside_its_bound():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from initscope import jax as ijax

    init_fn = ijax.variance_scaling(1.0, "fan_in", "truncated_normal")
    bound = 2 * math.sqrt(1 / 384) / 0.8796256610342398
    for seed in range(3):
        w = init_fn(jax.random.key(seed), (384, 256), jnp.bfloat16)
        assert float(jnp.abs(w.astype(jnp.float32)).max()) <= bound


def test_torch_default_bounds_around_a_small_std_take_the_float32_path():
    """Issue 14, item 7 (its speed is a benchmark, not a timed test): the math follows
    where the mass is, so trunc_normal_(std=0.02) with torch's a=-2, b=2 (+-100 std)
    runs the float32 path; an interval in a far tail keeps float64."""
    from initscope.rng import _Law

    assert not _Law("trunc", 0.0, 0.02, -100.0, 100.0, -2.0, 2.0).wide_math()
    assert not _Law("trunc", 0.0, 1.0, -2.0, 2.0, -2.0, 2.0).wide_math()
    assert _Law("trunc", 0.0, 1.0, 9.0, 10.0, 9.0, 10.0).wide_math()
