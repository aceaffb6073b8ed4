"""initscope.init as a drop-in for torch.nn.init, and what it does beyond it."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from scipy import stats

import initscope
from initscope import init


def _pair(shape, dtype=torch.float32):
    return torch.empty(shape, dtype=dtype), torch.empty(shape, dtype=dtype)


def test_every_public_torch_function_exists_with_a_compatible_signature():
    public = [n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")]
    public.append("calculate_gain")
    for name in public:
        ours, theirs = getattr(init, name), getattr(torch.nn.init, name)
        p_ours = list(inspect.signature(ours).parameters.values())
        p_theirs = list(inspect.signature(theirs).parameters.values())
        # torch's positional parameters come first, in order, with the same defaults.
        for a, b in zip(p_ours, p_theirs, strict=False):
            assert (a.name, a.default) == (b.name, b.default), name
        assert len(p_ours) >= len(p_theirs), name
        assert all(p.kind == p.KEYWORD_ONLY for p in p_ours[len(p_theirs):]), name
        assert name in init.__all__


SAME_STREAM = {
    # torch and initscope consume the generator identically here: same values.
    "uniform_": (lambda m, t, g: m.uniform_(t, -0.3, 0.7, generator=g)),
    "normal_": (lambda m, t, g: m.normal_(t, 0.1, 0.02, generator=g)),
    "xavier_uniform_": (lambda m, t, g: m.xavier_uniform_(t, 1.3, generator=g)),
    "xavier_normal_": (lambda m, t, g: m.xavier_normal_(t, generator=g)),
    "kaiming_uniform_": (lambda m, t, g: m.kaiming_uniform_(t, a=math.sqrt(5), generator=g)),
    "kaiming_normal_": (lambda m, t, g: m.kaiming_normal_(t, 0, "fan_out", "relu", g)),
    "kaiming_normal_tanh": (lambda m, t, g: m.kaiming_normal_(t, nonlinearity="tanh",
                                                              generator=g)),
    "kaiming_uniform_selu": (lambda m, t, g: m.kaiming_uniform_(t, nonlinearity="selu",
                                                                generator=g)),
    "orthogonal_": (lambda m, t, g: m.orthogonal_(t, 1.5, generator=g)),
}


@pytest.mark.parametrize("shape", [(64, 128), (128, 64), (32, 16, 3, 3)], ids=str)
@pytest.mark.parametrize("case", sorted(SAME_STREAM))
def test_same_generator_gives_torch_values(case, shape):
    fn = SAME_STREAM[case]
    a, b = _pair(shape)
    fn(init, a, torch.Generator().manual_seed(3))
    fn(torch.nn.init, b, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, t: m.constant_(t, 0.25),
        lambda m, t: m.ones_(t),
        lambda m, t: m.zeros_(t),
        lambda m, t: m.eye_(t.view(t.shape[0], -1)),
        lambda m, t: m.dirac_(t) if t.dim() > 2 else None,
        lambda m, t: m.dirac_(t, groups=2) if t.dim() > 2 else None,
    ],
)
@pytest.mark.parametrize("shape", [(6, 9), (8, 4, 3), (8, 4, 3, 3), (6, 3, 3, 3, 3)], ids=str)
def test_deterministic_fills_equal_torch(call, shape):
    a, b = _pair(shape)
    a.fill_(7.0)
    b.fill_(7.0)
    call(init, a)
    call(torch.nn.init, b)
    assert torch.equal(a, b)


def test_trunc_normal_agrees_with_torch_in_distribution():
    a, b = _pair((512, 512))
    init.trunc_normal_(a, 0.0, 0.02, -0.04, 0.04, generator=torch.Generator().manual_seed(0))
    torch.nn.init.trunc_normal_(b, 0.0, 0.02, -0.04, 0.04,
                                generator=torch.Generator().manual_seed(1))
    assert stats.ks_2samp(a.ravel().numpy(), b.ravel().numpy()).pvalue > 1e-6
    assert a.abs().max() <= 0.04


def test_sparse_matches_torch_semantics():
    g = torch.Generator().manual_seed(0)
    w = init.sparse_(torch.empty(200, 300), 0.15, std=0.5, generator=g)
    zeros_per_col = (w == 0).sum(0)
    assert torch.all(zeros_per_col == math.ceil(0.15 * 200))
    nz = w[w != 0].numpy()
    assert stats.kstest(nz, stats.norm(scale=0.5).cdf).pvalue > 1e-6
    # the zero pattern follows the generator too (torch's ignores it)
    w2 = init.sparse_(torch.empty(200, 300), 0.15, std=0.5, generator=torch.Generator()
                      .manual_seed(0))
    assert torch.equal(w, w2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(64, 256), (256, 64), (32, 8, 3, 3)], ids=str)
def test_orthogonal(shape, dtype):
    w = init.orthogonal_(torch.empty(shape, dtype=dtype), gain=2.0,
                         generator=torch.Generator().manual_seed(0))
    m = w.reshape(shape[0], -1).double()
    small = m @ m.t() if m.shape[0] <= m.shape[1] else m.t() @ m
    tol = 1e-5 if dtype in (torch.float32, torch.float64) else 3e-2
    torch.testing.assert_close(small, 4 * torch.eye(small.shape[0], dtype=torch.float64),
                               atol=4 * tol, rtol=0)


def test_orthogonal_is_haar_distributed():
    """The first entry of a Haar orthogonal n x n matrix, times sqrt(n), is close to
    N(0, 1) for large n; without R's sign fix it would not be (Mezzadri 2007)."""
    vals = [init.orthogonal_(torch.empty(64, 64), generator=torch.Generator().manual_seed(s))
            [0, 0].item() * 8 for s in range(400)]
    assert stats.kstest(vals, stats.norm.cdf).pvalue > 1e-4


def test_delta_orthogonal_preserves_norms():
    conv = torch.nn.Conv2d(16, 32, 3, padding=1, bias=False)
    init.delta_orthogonal_(conv.weight, generator=torch.Generator().manual_seed(0))
    x = torch.randn(4, 16, 12, 12, generator=torch.Generator().manual_seed(1))
    y = conv(x)
    torch.testing.assert_close(y.norm(dim=1), x.norm(dim=1), rtol=1e-5, atol=1e-5)
    w = conv.weight.detach()
    assert torch.count_nonzero(w[:, :, 0]) == 0 and torch.count_nonzero(w[:, :, 2]) == 0


def test_generator_determinism(gen):
    a = init.he_normal_(torch.empty(50, 60), "gelu", torch.Generator().manual_seed(9))
    b = init.he_normal_(torch.empty(50, 60), "gelu", torch.Generator().manual_seed(9))
    c = init.he_normal_(torch.empty(50, 60), "gelu", torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gain_accepts_activation_names_callables_and_modules():
    g = torch.Generator
    a = init.xavier_uniform_(torch.empty(40, 50), "tanh", g().manual_seed(0))
    b = init.xavier_uniform_(torch.empty(40, 50), initscope.gain("tanh"), g().manual_seed(0))
    c = init.xavier_uniform_(torch.empty(40, 50), torch.nn.Tanh(), g().manual_seed(0))
    d = init.xavier_uniform_(torch.empty(40, 50), np.tanh, g().manual_seed(0))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a, d, rtol=1e-6, atol=0)


def test_conv_transpose_layout_uses_the_real_fans():
    t = torch.nn.ConvTranspose2d(12, 8, 3, groups=4)
    w = t.weight
    spec = initscope.FanSpec("torch_conv_transpose", groups=4)
    init.xavier_normal_(w, fans=spec, generator=torch.Generator().manual_seed(0))
    f = initscope.fans(tuple(w.shape), layout="torch_conv_transpose", groups=4)
    expected = math.sqrt(2 / (f.fan_in + f.fan_out))
    assert f == (27, 18, 9)
    assert w.detach().std().item() == pytest.approx(expected, rel=0.2)  # 288 samples


def test_writes_behave_as_under_no_grad():
    """Every fill writes through detach() (or no_grad): a leaf Parameter keeps
    requires_grad and its grad, and a graph that saved it sees the new version counter
    and refuses to backpropagate, exactly as after torch.nn.init."""
    fills = [lambda m, t: m.uniform_(t), lambda m, t: m.normal_(t),
             lambda m, t: m.trunc_normal_(t), lambda m, t: m.zeros_(t),
             lambda m, t: m.constant_(t, 0.5), lambda m, t: m.eye_(t),
             lambda m, t: m.orthogonal_(t), lambda m, t: m.xavier_uniform_(t)]
    for fill in fills:
        for module in (init, torch.nn.init):
            w = torch.nn.Parameter(torch.randn(6, 6))
            w.grad = torch.ones(6, 6)
            y = (w * w).sum()
            fill(module, w)
            assert w.requires_grad and torch.equal(w.grad, torch.ones(6, 6))
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                y.backward()
    t = torch.empty(3, 5).t()  # non-contiguous and wide: eye_ fills the view in place
    assert torch.equal(init.eye_(t), torch.eye(5, 3))


def test_parameters_non_contiguous_and_views():
    lin = torch.nn.Linear(30, 20)
    init.kaiming_uniform_(lin.weight, generator=torch.Generator().manual_seed(0))
    assert lin.weight.requires_grad and lin.weight.grad is None
    base = torch.zeros(40, 30)
    view = base.t()  # non-contiguous (30, 40)
    init.xavier_uniform_(view, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(base) == base.numel()
    half = torch.zeros(64, 64, dtype=torch.bfloat16).t()
    init.trunc_normal_(half, std=0.1, a=-0.15, b=0.15, generator=torch.Generator().manual_seed(0))
    assert torch.count_nonzero(half) > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_trunc_normal_stays_inside_unrepresentable_bounds(dtype):
    # 0.3 is not representable in bf16/fp16; rounding must not step over it.
    w = init.trunc_normal_(torch.empty(256, 1024, dtype=dtype), 0.0, 1.0, -0.3, 0.3,
                           generator=torch.Generator().manual_seed(0))
    assert w.float().max().item() <= 0.3 and w.float().min().item() >= -0.3
    assert w.float().max().item() > 0.29


ALL_RANDOM = [
    lambda t: init.uniform_(t),
    lambda t: init.normal_(t),
    lambda t: init.trunc_normal_(t),
    lambda t: init.xavier_uniform_(t),
    lambda t: init.xavier_normal_(t),
    lambda t: init.kaiming_uniform_(t),
    lambda t: init.kaiming_normal_(t),
    lambda t: init.he_uniform_(t),
    lambda t: init.he_normal_(t, "gelu"),
    lambda t: init.lecun_uniform_(t),
    lambda t: init.lecun_normal_(t),
    lambda t: init.glorot_standard_(t),
    lambda t: init.torch_default_(t),
    lambda t: init.variance_scaling_(t),
    lambda t: init.orthogonal_(t),
    lambda t: init.sparse_(t, 0.5),
    lambda t: init.constant_(t, 1.0),
    lambda t: init.eye_(t),
]


@pytest.mark.parametrize("fn", ALL_RANDOM)
def test_meta_and_zero_element_tensors_pass_through(fn):
    meta = torch.empty(16, 8, device="meta")
    assert fn(meta) is meta and meta.is_meta
    empty = torch.empty(0, 8)
    with warnings.catch_warnings(record=True) as seen:  # kaiming_*: torch's warning too
        warnings.simplefilter("always")
        assert fn(empty) is empty
    assert all("zero-element tensors is a no-op" in str(w.message) for w in seen)


def _filled(shape=(8, 6), dtype=torch.float32):
    return torch.arange(math.prod(shape), dtype=dtype).reshape(shape)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: init.xavier_uniform_(_filled((8,))), ValueError,
         r"xavier_uniform_: fans are not defined for shape \(8,\)"),
        (lambda: init.xavier_uniform_(_filled(dtype=torch.int64)), TypeError,
         "floating-point tensor.*got dtype torch.int64"),
        (lambda: init.zeros_(_filled(dtype=torch.int32)), TypeError, "torch.int32"),
        (lambda: init.kaiming_normal_(_filled(), nonlinearity="relux"), ValueError,
         "unknown activation 'relux'; known names: .*gelu"),
        (lambda: init.kaiming_normal_(_filled(), mode="fan_all"), ValueError,
         "unknown mode 'fan_all'; valid: 'fan_in', 'fan_out', 'fan_avg'"),
        (lambda: init.xavier_normal_(_filled((8, 6, 3)), fans=initscope.FanSpec(groups=3)),
         ValueError, "xavier_normal_: groups=3 does not divide"),
        (lambda: init.xavier_normal_(_filled(), fans="tf"), ValueError,
         "xavier_normal_: unknown layout 'tf'; valid: 'torch'"),
        (lambda: init.xavier_normal_(_filled(), fans=3), TypeError,
         "xavier_normal_: fans must be a layout name, a FanSpec or Fans; got int"),
        (lambda: init.xavier_normal_(_filled(), fans=initscope.Fans(0, 3, 1)), ValueError,
         "fan_in=0"),
        (lambda: init.xavier_normal_(_filled(), gain=0.0), ValueError,
         "gain must be a positive finite number; got 0.0"),
        (lambda: init.xavier_normal_(_filled(), gain="nope"), ValueError, "unknown activation"),
        (lambda: init.variance_scaling_(_filled(), distribution="cauchy"), ValueError,
         "unknown distribution 'cauchy'"),
        (lambda: init.he_normal_(_filled(), "gelu", criterion="torch"), ValueError,
         "calculate_gain defines no gain for gelu"),
        (lambda: init.uniform_(_filled(), 2.0, 1.0), ValueError, "need a <= b"),
        (lambda: init.normal_(_filled(), std=-1.0), ValueError, "std must be >= 0"),
        (lambda: init.trunc_normal_(_filled(), a=1.0, b=-1.0), ValueError, "need a < b"),
        (lambda: init.orthogonal_(_filled((8,))), ValueError, "2 or more dimensions"),
        (lambda: init.sparse_(_filled(), 1.5), ValueError, r"sparsity must be in \[0, 1\]"),
        (lambda: init.eye_(_filled((2, 3, 4))), ValueError, "only 2-D"),
        (lambda: init.dirac_(_filled((6, 4, 3)), groups=4), ValueError, "groups must be"),
        (lambda: init.delta_orthogonal_(_filled()), ValueError, "conv weight"),
        (lambda: init.constant_(_filled(), float("nan")), ValueError, "finite number"),
    ],
)
def test_bad_input_raises_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize(
    "bad",
    [
        lambda t: init.xavier_uniform_(t, fans=initscope.FanSpec("torch", groups=5)),
        lambda t: init.kaiming_uniform_(t, mode="fan_inn"),
        lambda t: init.he_uniform_(t, "sofmax"),
        lambda t: init.trunc_normal_(t, std=0.0),
        lambda t: init.sparse_(t, -0.1),
        lambda t: init.variance_scaling_(t, scale=-1.0),
        lambda t: init.xavier_normal_(t, fans=initscope.FanSpec(splits=7)),
        lambda t: init.he_normal_(t, fans=initscope.Fans(-1, 4, 1)),
    ],
)
def test_failed_call_leaves_tensor_unchanged(bad):
    t = _filled((12, 6))
    before = t.clone()
    with pytest.raises((ValueError, TypeError)):
        bad(t)
    assert torch.equal(t, before)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_sparse_zero_rows_are_a_uniform_subset(k):
    """Chi-square over all C(5, k) subsets of 5 rows, 20000 columns in one call."""
    from initscope._torch_sampling import random_rows_mask

    mask = random_rows_mask(5, 20000, k, torch.device("cpu"), torch.Generator().manual_seed(k))
    assert torch.all(mask.sum(0) == k)
    codes = (mask.long() * (2 ** torch.arange(5)).unsqueeze(1)).sum(0)
    counts = torch.bincount(codes, minlength=32)
    observed = counts[counts > 0].numpy()
    assert len(observed) == math.comb(5, k)
    assert stats.chisquare(observed).pvalue > 1e-6


@pytest.mark.parametrize("sparsity", [0.0, 0.01, 0.3, 0.5, 0.51, 0.9, 1.0])
def test_sparse_exact_zero_count(sparsity):
    w = init.sparse_(torch.empty(37, 11), sparsity, generator=torch.Generator().manual_seed(0))
    assert torch.all((w == 0).sum(0) == math.ceil(sparsity * 37))


def test_fans_argument_forms_agree():
    """A layout name, a FanSpec and explicit Fans describe the same weight alike."""
    shape = (3 * 64, 32)  # a fused QKV projection
    spec = initscope.FanSpec("torch", splits=3)
    explicit = initscope.Fans(32, 64, 1)
    assert spec.of(shape) == explicit
    g = torch.Generator
    a = init.xavier_normal_(torch.empty(shape), generator=g().manual_seed(0), fans=spec)
    b = init.xavier_normal_(torch.empty(shape), generator=g().manual_seed(0), fans=explicit)
    c = init.xavier_normal_(torch.empty(shape), generator=g().manual_seed(0))
    assert torch.equal(a, b)
    assert c.std() < a.std()  # without splits the fused output axis counts 3x


def test_trunc_normal_redraws_until_every_outlier_is_replaced():
    """The small-tensor sampler replaces the normals outside [a, b] from a batch sized
    for the expected need; told the interval holds all the mass, each batch falls short
    and it draws again until none is left: still inside, still the truncated law (KS,
    p > 1e-4), and the tensor's version counter moved (written by torch)."""
    from scipy import stats

    from initscope import _torch_sampling as ts

    flat = torch.empty(20_000)
    version = flat._version
    ts._replace_outliers_cpu(flat, 0.0, 1.0, -1.0, 1.5, 1.0,
                             torch.Generator().manual_seed(0))
    assert flat._version > version
    x = flat.numpy()
    assert x.min() >= -1.0 and x.max() <= 1.5
    assert stats.kstest(x, stats.truncnorm(-1.0, 1.5).cdf).pvalue > 1e-4
