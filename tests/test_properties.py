"""Property-based tests over the public API (issue 14): random shapes, dtypes, devices
(cpu and meta) and arguments at and beyond their limits, for every initializer of the
torch, NumPy and JAX shells, gain, fans, the theory, and initialize/diagnose on randomly
built small networks (depth, width, activation, init scale 1e-3 to 1e3, NaN/inf
injected). What must hold for every example: the call either succeeds with every value
inside its stated bound, or raises the documented ValueError/TypeError naming the bad
value, leaving its tensor or model as it was. Seeded (derandomized) and in CI (the
smoke profile runs 100 examples a test, the full one 300)."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import initscope
from initscope import init
from initscope import numpy as inp
from initscope._core.activations import activation_names
from initscope.theory import meanfield as mf

#: The errors initscope documents for bad input; anything else is a bug.
DOCUMENTED = (ValueError, TypeError)

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
EXTREME = [0.0, -0.0, 1e-30, -1.0, 1e-3, 0.02, 1.0, 3.0, 1e3, 1e30, 1e300, -1e300,
           math.nan, math.inf, -math.inf]


def numbers(min_value: float = -1e6, max_value: float = 1e6) -> st.SearchStrategy[object]:
    """Ordinary values, the extremes, and the types code written for torch passes."""
    plain = st.floats(min_value, max_value, allow_nan=False)
    return st.one_of(plain, st.sampled_from(EXTREME), plain.map(np.float32),
                     plain.map(lambda v: torch.tensor(v)), st.integers(-5, 5))


shapes = st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple)


@st.composite
def tensors(draw: st.DrawFn) -> torch.Tensor:
    shape = draw(shapes)
    dtype = draw(st.sampled_from(DTYPES))
    device = draw(st.sampled_from(["cpu", "cpu", "cpu", "meta"]))
    t = torch.empty(shape, dtype=dtype, device=device)
    if device == "cpu":
        t.fill_(draw(st.sampled_from([0.0, 7.0, -3.5])))  # a known prior value
    return t


def _call_keeps_or_fills(fn, t: torch.Tensor, *args, **kwargs) -> torch.Tensor | None:
    """Call; on a documented error the tensor must be unchanged, on any other a failure."""
    before = t.clone() if t.device.type == "cpu" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch-parity warnings (zero-element, ...)
            out = fn(t, *args, **kwargs)
    except DOCUMENTED as e:
        assert str(e), f"{type(e).__name__} without a message"
        if before is not None:
            assert torch.equal(t, before) or ((torch.isnan(t) == torch.isnan(before)).all() \
                and torch.equal(t.nan_to_num(), before.nan_to_num())), "changed before raising"
        return None
    assert out is t
    return out


def _inside(t: torch.Tensor, low: float, high: float) -> None:
    if t.device.type == "meta" or t.numel() == 0:
        return
    v = t.double()
    assert bool(torch.isfinite(v).all()), "non-finite values written"
    assert float(v.min()) >= low and float(v.max()) <= high, (float(v.min()), float(v.max()),
                                                              low, high)


def _real(v: object) -> float | None:
    from initscope._gain import real_number

    return real_number(v)


# --- torch shell --------------------------------------------------------------------------

@given(tensors(), numbers(), numbers())
def test_uniform_(t, a, b):
    out = _call_keeps_or_fills(init.uniform_, t, a, b)
    if out is not None:
        _inside(out, _real(a), _real(b))


@given(tensors(), numbers(), numbers(0, 1e6))
def test_normal_(t, mean, std):
    out = _call_keeps_or_fills(init.normal_, t, mean, std)
    if out is not None and t.numel() and t.device.type == "cpu":
        assert bool(torch.isfinite(out).all())


@given(tensors(), numbers(-10, 10), numbers(0, 10), numbers(-20, 20), numbers(-20, 20))
def test_trunc_normal_(t, mean, std, a, b):
    out = _call_keeps_or_fills(init.trunc_normal_, t, mean, std, a, b)
    if out is not None:
        _inside(out, _real(a), _real(b))


@given(tensors(), numbers())
def test_constant_(t, val):
    out = _call_keeps_or_fills(init.constant_, t, val)
    if out is not None and t.numel() and t.device.type == "cpu":
        assert bool(torch.isfinite(out).all())


BOUNDED = {  # name -> the bound of |w| from (fan_in, fan_out, gain)
    "xavier_uniform_": lambda i, o, g: g * math.sqrt(6 / (i + o)),
    "lecun_uniform_": lambda i, o, g: math.sqrt(3 / i),
    "glorot_standard_": lambda i, o, g: 1 / math.sqrt(i),
    "torch_default_": lambda i, o, g: 1 / math.sqrt(i),
    "variance_scaling_": lambda i, o, g: 2 / math.sqrt(i) / 0.8796256610342398,
}
FAN_BASED = [*BOUNDED, "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "he_uniform_",
             "he_normal_", "lecun_normal_", "orthogonal_", "delta_orthogonal_", "sparse_",
             "eye_", "dirac_", "critical_", "ones_", "zeros_"]


@given(tensors(), st.sampled_from(FAN_BASED), st.one_of(numbers(), st.sampled_from(
    ["relu", "tanh", "gelu", "leaky_relu", "softmax", "FAN_OUT", ""])))
def test_fan_based_initializers(t, name, option):
    fn = getattr(init, name)
    kwargs: dict[str, object] = {}
    if name in ("xavier_uniform_", "xavier_normal_", "orthogonal_", "delta_orthogonal_"):
        kwargs["gain"] = option
    elif name in ("kaiming_uniform_", "kaiming_normal_"):
        kwargs["a" if not isinstance(option, str) else "nonlinearity"] = option
    elif name in ("he_uniform_", "he_normal_", "critical_"):
        kwargs["activation"] = option
    elif name == "sparse_":
        kwargs["sparsity"] = option
    elif name == "dirac_":
        kwargs["groups"] = option
    elif name == "variance_scaling_":
        kwargs["scale"] = option
    out = _call_keeps_or_fills(fn, t, **kwargs)
    if out is None or t.device.type == "meta" or not t.numel():
        return
    assert bool(torch.isfinite(out).all())
    if name in BOUNDED and t.dim() >= 2 and name != "variance_scaling_":
        receptive = math.prod(t.shape[2:])
        fan_in, fan_out = t.shape[1] * receptive, t.shape[0] * receptive
        g = _real(option) if name == "xavier_uniform_" and _real(option) is not None else (
            initscope.gain(option) if name == "xavier_uniform_" else 1.0)
        assert float(out.double().abs().max()) <= BOUNDED[name](fan_in, fan_out, g) * (1 + 1e-12)


# --- NumPy and JAX shells -----------------------------------------------------------------

NP_SCHEMES = ["glorot_standard", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
              "orthogonal", "torch_default", "variance_scaling", "xavier_normal",
              "xavier_uniform"]
np_shapes = st.one_of(shapes, st.lists(st.one_of(st.integers(-2, 6), st.floats(0, 5),
                                                  st.just("a")), max_size=3).map(tuple))


@given(st.sampled_from(NP_SCHEMES), np_shapes,
       st.sampled_from([np.float16, np.float32, np.float64, np.int32]),
       st.one_of(st.integers(0, 2**32), st.just(np.int64(5)), st.just(-1), st.just(1.5)))
def test_numpy_shell(name, shape, dtype, seed):
    try:
        w = getattr(inp, name)(seed, shape, dtype)
    except DOCUMENTED as e:
        assert str(e)
        return
    assert w.shape == tuple(int(d) for d in shape) and w.dtype == np.dtype(dtype)
    assert np.isfinite(w.astype(np.float64)).all()


@given(st.sampled_from(NP_SCHEMES), np_shapes,
       st.sampled_from(["float16", "bfloat16", "float32", "int32"]),
       st.integers(-3, 3))
def test_jax_shell(name, shape, dtype, axis):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from initscope import jax as ijax

    try:
        make = getattr(ijax, name)
        fn = make(column_axis=axis) if name == "orthogonal" else make()
        w = fn(jax.random.key(0), shape, jnp.dtype(dtype))
    except DOCUMENTED as e:
        assert str(e)
        return
    assert w.shape == tuple(int(d) for d in shape)
    assert bool(jnp.isfinite(w.astype(jnp.float32)).all())


# --- gain, fans, theory -------------------------------------------------------------------

@given(st.sampled_from([*activation_names(), "softmax", "relux", ""]),
       st.one_of(st.none(), numbers()), st.sampled_from(["forward", "backward", "torch", "x"]))
def test_gain(name, param, criterion):
    try:
        g = initscope.gain(name, param, criterion=criterion)
    except DOCUMENTED as e:
        assert str(e)
        return
    assert math.isfinite(g) and g > 0


@given(st.one_of(shapes, np_shapes),
       st.sampled_from(["torch", "torch_conv_transpose", "jax", "keras", "embedding", "x"]),
       st.integers(-1, 4), st.integers(-1, 4))
def test_fans(shape, layout, groups, splits):
    try:
        f = initscope.fans(shape, layout=layout, groups=groups, splits=splits)
    except DOCUMENTED as e:
        assert str(e)
        return
    assert f.fan_in >= 1 and f.fan_out >= 1 and f.receptive >= 1
    assert all(isinstance(v, int) for v in f)


theory_acts = st.sampled_from(["tanh", "relu", "gelu", "sigmoid", "erf", "selu", "silu"])


@given(theory_acts, numbers(), numbers(), numbers(), numbers(-2, 2))
def test_theory_functions(act, sw2, sb2, q, c):
    calls = {"q_map": lambda: mf.q_map(act, sw2, sb2, q),
             "q_star": lambda: mf.q_star(act, sw2, sb2, q0=q),
             "c_map": lambda: mf.c_map(act, sw2, sb2, c, q),
             "chi1": lambda: mf.chi1(act, sw2, sb2),
             "trajectory": lambda: mf.variance_trajectory(act, sw2, sb2, 3, q)}
    for name, call in calls.items():
        try:
            v = call()
        except DOCUMENTED as e:
            assert str(e)
            continue
        values = np.atleast_1d(np.asarray(v, dtype=np.float64))
        assert not np.isnan(values).any(), name
        if name == "c_map":  # a correlation
            assert (np.abs(values) <= 1 + 1e-9).all(), (name, values)
        else:  # second moments and chi_1: non-negative, inf where the signal explodes
            assert (values >= 0).all(), (name, values)


@given(theory_acts, st.one_of(numbers(0, 2), st.just(math.nan), st.just(-0.1)))
def test_critical_point(act, sb2):
    try:
        sw2 = mf.critical_sigma_w2(act, sb2)
    except DOCUMENTED as e:
        assert str(e)
        return
    assert math.isfinite(sw2) and sw2 > 0
    # the fixed point the critical point is defined on: the stable one, reached from
    # q = sigma_b2 (every length is at least that), or from 1 without a bias
    start = _real(sb2) if _real(sb2) > 0 else 1.0
    q = mf.q_star(act, sw2, _real(sb2), q0=start)
    assert 0 <= q < 1e6 * max(1.0, _real(sb2))  # a critical point with a finite length
    assert mf.chi1(act, sw2, _real(sb2), q) == pytest.approx(1.0, abs=1e-5)


# --- whole models ---------------------------------------------------------------------------

ACTS = [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.Identity, nn.LeakyReLU]


@st.composite
def networks(draw: st.DrawFn) -> nn.Module:
    torch.manual_seed(draw(st.integers(0, 2**16)))
    width = draw(st.integers(1, 12))
    layers: list[nn.Module] = []
    conv = draw(st.booleans())
    for i in range(draw(st.integers(1, 4))):
        if conv:
            layers.append(nn.Conv2d(2 if i == 0 else width, width, 3, padding=1))
        else:
            layers.append(nn.Linear(6 if i == 0 else width, width))
        if draw(st.booleans()):
            layers.append((nn.BatchNorm2d if conv else nn.BatchNorm1d)(width))
        layers.append(draw(st.sampled_from(ACTS))())
    net = nn.Sequential(*layers)
    scale = draw(st.sampled_from([1e-3, 0.1, 1.0, 10.0, 1e3]))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    net.conv = conv  # type: ignore[assignment]
    return net


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    now = model.state_dict()
    return all(torch.equal(now[k].nan_to_num(), v.nan_to_num())
               and torch.equal(now[k].isnan(), v.isnan()) for k, v in state.items())


@given(networks(), st.sampled_from(["auto", "xavier", "he", "lecun", "orthogonal", "zeros",
                                    "glorot_standard", "fixup", "nonsense", "uniform(-1,1)"]),
       st.booleans(), st.integers(-1, 2**64))
def test_initialize_random_networks(net, scheme, atomic, seed):
    before = _state(net)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = initscope.initialize(net, scheme, seed=seed, atomic=atomic)
    except DOCUMENTED as e:
        assert str(e)
        assert _same(net, before), "a failing initialize changed the model"
        return
    for p in net.parameters():
        assert bool(torch.isfinite(p).all())
    buffers = {k: v for k, v in before.items() if "running" in k or "num_batches" in k}
    assert _same_subset(net, buffers)
    assert len(report.records) == len(list(net.parameters()))


def _same_subset(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    now = model.state_dict()
    return all(torch.equal(now[k], v) for k, v in state.items())


@given(networks(), st.sampled_from([None, "input_nan", "input_inf", "weight_nan",
                                    "weight_inf", "huge_input"]),
       st.integers(1, 9), st.booleans())
def test_diagnose_random_networks(net, inject, batch, train):
    net.train(train)
    x = torch.randn(batch, 2, 5, 5) if net.conv else torch.randn(batch, 6)
    if inject == "input_nan":
        x.view(-1)[0] = math.nan
    elif inject == "input_inf":
        x.view(-1)[-1] = math.inf
    elif inject == "huge_input":
        x = x * 1e30
    elif inject is not None:
        with torch.no_grad():
            next(net.parameters()).view(-1)[0] = math.nan if inject == "weight_nan" else math.inf
    before = _state(net)
    mode = [m.training for m in net.modules()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = initscope.diagnose(net, x)
    except DOCUMENTED as e:
        assert str(e)
        # BatchNorm refuses a batch of one sample in train mode: torch's own error
        assert batch == 1 and train, f"{type(e).__name__}: {e}"
    else:
        for s in d.layers:
            for frac in (s.saturated, s.dead, s.identical_units):
                assert frac is None or math.isnan(frac) or 0.0 <= frac <= 1.0
            assert math.isnan(s.effective_rank) or 0.0 <= s.effective_rank <= s.max_rank + 1e-9
            assert 0.0 <= s.nonfinite <= 1.0 and 0.0 <= s.grad_nonfinite <= 1.0
        broken = any(s.nonfinite or s.grad_nonfinite for s in d.layers)
        if broken:
            assert d.verdicts and d.verdicts[0].kind == "non_finite"
        if inject in ("input_nan", "input_inf"):
            assert broken and "input batch" in d.verdicts[0].reason
        str(d)  # the table renders
    assert _same(net, before), "diagnose changed the model"
    assert [m.training for m in net.modules()] == mode
    assert all(p.grad is None for p in net.parameters())


@given(networks(), st.sampled_from([None, "nan", "constant"]), st.booleans())
def test_lsuv_random_networks(net, inject, center):
    x = torch.randn(16, 2, 5, 5) if net.conv else torch.randn(16, 6)
    if inject == "nan":
        x.view(-1)[3] = math.nan
    elif inject == "constant":
        x = x[:1].expand_as(x).clone()
    before = _state(net)
    net_copy = copy.deepcopy(net)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = initscope.lsuv(net, x, seed=0, center=center)
    except DOCUMENTED as e:
        assert str(e)
        assert _same(net, before), "a failing lsuv changed the model"
        return
    assume(report.records)
    for r in report.records:
        assert math.isfinite(r.scale) and r.scale > 0 and math.isfinite(r.std_after)
    buffers = {k: v for k, v in _state(net_copy).items() if "running" in k or "num_batches" in k}
    assert _same_subset(net, buffers)
