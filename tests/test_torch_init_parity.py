"""What PyTorch's own torch.nn.init tests check (test/nn/test_init.py), written here and
run against both implementations: torch.nn.init (the reference, so each check is known
to be right) and initscope.init (the drop-in). Same checks, same tolerances (KS tests at
p > 1e-4); sizes and parameters come from a fixed seed instead of torch's
random.seed(123) draws, so every run and machine sees the same cases."""

from __future__ import annotations

import math
import random
import string

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import initscope.init as ours

IMPLEMENTATIONS = [pytest.param(torch.nn.init, id="torch"), pytest.param(ours, id="initscope")]
P_MIN = 1e-4


@pytest.fixture
def rnd() -> random.Random:
    return random.Random(123)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


def _random_tensor(rnd: random.Random, dims: int, lo: int, hi: int) -> torch.Tensor:
    return torch.zeros([rnd.randint(lo, hi) for _ in range(dims)])


def _is_normal(t: torch.Tensor, mean: float, std: float) -> bool:
    return stats.kstest(t.reshape(-1).tolist(), "norm", args=(mean, std))[1] > P_MIN


def _is_uniform(t: torch.Tensor, a: float, b: float) -> bool:
    return stats.kstest(t.reshape(-1).tolist(), "uniform", args=(a, b - a))[1] > P_MIN


def _is_trunc_normal(t: torch.Tensor, mean: float, std: float, a: float, b: float) -> bool:
    z = ((t.reshape(-1).double() - mean) / std).tolist()
    return stats.kstest(z, "truncnorm", args=((a - mean) / std, (b - mean) / std))[1] > P_MIN


def _fans(t: torch.Tensor) -> tuple[int, int]:
    receptive = t[0, 0].numel() if t.dim() > 2 else 1
    return t.size(1) * receptive, t.size(0) * receptive


# --- calculate_gain --------------------------------------------------------------------------

@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_calculate_gain_linear_and_nonlinear(init):
    for fn in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid"):
        assert init.calculate_gain(fn) == 1
    assert init.calculate_gain("tanh") == 1.6666666666666667
    assert init.calculate_gain("relu") == 1.4142135623730951
    assert init.calculate_gain("leaky_relu") == 1.4141428569978354
    assert init.calculate_gain("selu") == 0.75


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_calculate_gain_leaky_relu(init):
    expected = {None: 1.4141428569978354, 0: 1.4142135623730951, 0.01: 1.4141428569978354,
                10: 0.14071950894605836}
    for param, gain in expected.items():
        assert init.calculate_gain("leaky_relu", param) == pytest.approx(gain, rel=1e-15)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_calculate_gain_refuses_what_is_not_a_number_or_a_name(init, rnd):
    for param in (True, [1], {"a": "b"}):
        with pytest.raises(ValueError):
            init.calculate_gain("leaky_relu", param)
    for n in (2, 5, 25):
        with pytest.raises(ValueError):
            init.calculate_gain("".join(rnd.choice(string.ascii_lowercase) for _ in range(n)))


# --- plain distributions ---------------------------------------------------------------------

@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_uniform(init, rnd):
    for dims in (1, 2, 4):
        t = _random_tensor(rnd, dims, 30, 50)
        a = rnd.uniform(-3, 3)
        b = a + rnd.uniform(1, 5)
        init.uniform_(t, a=a, b=b)
        assert _is_uniform(t, a, b)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_normal(init, rnd):
    for dims in (1, 2, 4):
        t = _random_tensor(rnd, dims, 30, 50)
        mean, std = rnd.uniform(-3, 3), rnd.uniform(1, 5)
        init.normal_(t, mean=mean, std=std)
        assert _is_normal(t, mean, std)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_trunc_normal_generator_equals_the_global_generator(init):
    gen = torch.Generator().manual_seed(42)
    t = init.trunc_normal_(torch.empty(5), generator=gen)
    torch.manual_seed(42)
    ref = init.trunc_normal_(torch.empty(5))
    assert torch.equal(t, ref)
    assert _is_trunc_normal(t, 0.0, 1.0, -2.0, 2.0)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("dims", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trunc_normal_all_dtypes(init, dims, dtype, rnd):
    t = torch.zeros([rnd.randint(30, 50) for _ in range(dims)], dtype=dtype)
    mean, std = rnd.uniform(-3, 3), rnd.uniform(0.01, 1)
    a, b = rnd.uniform(mean - 2 * std, mean), rnd.uniform(mean, mean + 2 * std)
    init.trunc_normal_(t, mean=mean, std=std, a=a, b=b)
    lo, hi = torch.tensor(a, dtype=dtype).item(), torch.tensor(b, dtype=dtype).item()
    assert t.min().item() >= lo and t.max().item() <= hi
    assert _is_trunc_normal(t.float(), mean, std, a, b)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_trunc_normal_low_precision(init, dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), 0.0, 1.0, -2.0, 2.0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert _is_trunc_normal(t.float(), 0.0, 1.0, -2.0, 2.0)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_trunc_normal_narrow_interval(init, dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), 0.0, 1.0, 2.0, 3.0)
    assert t.min().item() >= 2.0 and t.max().item() <= 3.0
    assert _is_trunc_normal(t.float(), 0.0, 1.0, 2.0, 3.0)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize(("dtype", "min_unique"), [(torch.float32, 5000), (torch.float64, 5000),
                                                   (torch.float16, 3000),
                                                   (torch.bfloat16, 1000)])
def test_trunc_normal_unique_values(init, dtype, min_unique):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), 0.0, 1.0, -2.0, 2.0)
    assert t.min().item() >= -2.0 and t.max().item() <= 2.0
    assert t.unique().numel() > min_unique
    assert not t.isinf().any() and not t.isnan().any()


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_trunc_normal_no_boundary_values_small_std(init, dtype):
    t = init.trunc_normal_(torch.empty(10000, dtype=dtype), 0.0, 0.1, -2.0, 2.0)
    assert (t == -2.0).sum().item() == 0 and (t == 2.0).sum().item() == 0


# --- deterministic fills ---------------------------------------------------------------------

@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_constant_ones_and_zeros(init, rnd):
    for dims in (1, 2, 4):
        t = _random_tensor(rnd, dims, 1, 5)
        val = rnd.uniform(1, 10)
        init.constant_(t, val)
        assert torch.equal(t, t.clone().fill_(val))
        for fill, v in ((init.ones_, 1), (init.zeros_, 0)):
            fill(t)
            assert torch.equal(t, t.clone().fill_(v))


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_eye(init, rnd):
    t = _random_tensor(rnd, 2, 1, 5)
    init.eye_(t)
    assert torch.equal(t, torch.eye(*t.shape))
    for dims in (1, 3):
        with pytest.raises(ValueError):
            init.eye_(_random_tensor(rnd, dims, 1, 3))


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_dirac_properties(init, rnd):
    for dims in (3, 4, 5):
        for groups in (1, 2, 3):
            a, c, d, e = (rnd.randint(1, 5) for _ in range(4))
            b = rnd.randint(1, 5 * groups)
            t = torch.randn((a * groups, b, c, d, e)[:dims])
            init.dirac_(t, groups)
            min_d = min(t.size(0) // groups, t.size(1))
            assert torch.nonzero(t).size(0) == min_d * groups
            assert t.sum().item() == pytest.approx(min_d * groups)
    for dims in (1, 2, 6):
        with pytest.raises(ValueError):
            init.dirac_(_random_tensor(rnd, dims, 1, 3))


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("conv", [F.conv1d, F.conv2d, F.conv3d])
def test_dirac_identity(init, conv):
    batch, in_c, out_c, size, k = 8, 3, 9, 5, 3
    spatial = {F.conv1d: 1, F.conv2d: 2, F.conv3d: 3}[conv]
    for groups in (1, 3):
        per = out_c // groups
        x = torch.randn(batch, in_c, *([size] * spatial))
        w = torch.cat([torch.zeros(per, in_c, *([k] * spatial))] * groups)
        init.dirac_(w, groups)
        y = conv(x, w)
        inner = (slice(None), slice(None), *([slice(1, -1)] * spatial))
        for g in range(groups):
            assert torch.equal(x[inner], y[:, per * g:per * g + in_c])
            assert torch.nonzero(y[:, per * g + in_c:per * (g + 1)]).numel() == 0


# --- fan-based schemes ------------------------------------------------------------------------

@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                                  "kaiming_normal_"])
def test_fan_based_schemes_refuse_tensors_below_2d(init, name, rnd):
    for dims in (0, 1):
        with pytest.raises(ValueError):
            getattr(init, name)(_random_tensor(rnd, dims, 1, 1))


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_warns_on_zero_element_tensors(init, name):
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        getattr(init, name)(torch.empty(0, 1))


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("uniform", [True, False])
def test_xavier(init, uniform, rnd):
    for use_gain in (True, False):
        for dims in (2, 4):
            t = _random_tensor(rnd, dims, 20, 25)
            gain = rnd.uniform(0.1, 2) if use_gain else 1.0
            fn = init.xavier_uniform_ if uniform else init.xavier_normal_
            fn(t, gain=gain) if use_gain else fn(t)
            fan_in, fan_out = _fans(t)
            std = gain * math.sqrt(2.0 / (fan_in + fan_out))
            assert _is_uniform(t, -std * math.sqrt(3), std * math.sqrt(3)) if uniform else \
                _is_normal(t, 0, std)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
@pytest.mark.parametrize("uniform", [True, False])
def test_kaiming(init, uniform, rnd):
    for use_a in (True, False):
        for dims in (2, 4):
            for mode in ("fan_in", "fan_out"):
                t = _random_tensor(rnd, dims, 20, 25)
                a = rnd.uniform(0.1, 2) if use_a else 0
                fn = init.kaiming_uniform_ if uniform else init.kaiming_normal_
                fn(t, a=a, mode=mode) if use_a else fn(t, mode=mode)
                fan_in, fan_out = _fans(t)
                std = math.sqrt(2.0 / ((1 + a**2) * (fan_in if mode == "fan_in" else fan_out)))
                assert _is_uniform(t, -std * math.sqrt(3), std * math.sqrt(3)) if uniform \
                    else _is_normal(t, 0, std)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_sparse(init, rnd):
    for dims in (1, 3):
        with pytest.raises(ValueError):
            init.sparse_(_random_tensor(rnd, dims, 1, 3), rnd.uniform(0.1, 0.9))
    for use_random_std in (True, False):
        t = _random_tensor(rnd, 2, 30, 35)
        rows, sparsity = t.size(0), rnd.uniform(0.1, 0.2)
        std = rnd.uniform(0.01, 0.2) if use_random_std else 0.01
        if use_random_std:
            init.sparse_(t, sparsity=sparsity, std=std)
        else:
            init.sparse_(t, sparsity=sparsity)
        for col in range(t.size(1)):
            column = t[:, col]
            assert column[column == 0].nelement() >= math.ceil(sparsity * rows)
        assert _is_normal(t[t != 0], 0, std)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_orthogonal(init, rnd):
    for use_gain in (True, False):
        for size in ([3, 4], [4, 3], [20, 2, 3, 4], [2, 3, 4, 5]):
            t = torch.zeros(size)
            gain = rnd.uniform(0.1, 2) if use_gain else 1.0
            init.orthogonal_(t, gain=gain) if use_gain else init.orthogonal_(t)
            rows, cols = size[0], math.prod(size[1:])
            flat = t.view(rows, cols)
            gram = flat.t() @ flat if rows > cols else flat @ flat.t()
            torch.testing.assert_close(gram, torch.eye(min(rows, cols)) * gain**2,
                                       atol=1e-6, rtol=0)


@pytest.mark.parametrize("init", IMPLEMENTATIONS)
def test_deprecated_names_warn(init):
    with pytest.warns(FutureWarning, match="deprecated"):
        init.normal(torch.randn(3, 3))
