"""diagnose() on the networks it exists for: degenerate and broken ones (issue 14, items 1
and 3). It never raises on them, names NaN/inf and where they come from, gives the same
rank on any CPU (rounding noise counts as nothing), does not mistake a vanished signal
for symmetry and does not call a badly scaled network healthy."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initscope
from initscope import diagnose
from initscope.diagnostics import _linalg, _stats
from initscope.diagnostics.spectrum import jacobian_spectrum
from tests.architectures import mlp


def _relu_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                         nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))


def test_the_smallest_case_of_the_issue_is_measured():
    """All samples identical: no variation beyond rounding, rank 0 (whatever rounding
    noise this CPU's kernels leave), no exception."""
    torch.manual_seed(0)
    d = diagnose(nn.Sequential(nn.Linear(64, 64), nn.ReLU()), torch.ones(64, 64))
    assert d.layers[0].effective_rank == 0.0


@pytest.mark.parametrize("where", ["input", "weight", "overflow"])
def test_nan_and_inf_get_a_verdict_of_their_own(where):
    model, x = _relu_net(), torch.randn(64, 64, generator=torch.Generator().manual_seed(1))
    if where == "input":
        x[3, 5] = math.nan
    elif where == "weight":
        with torch.no_grad():
            model[2].weight[0, 0] = math.inf
    else:  # every value finite, but the squares of layer 2's outputs exceed float32
        with torch.no_grad():
            model[2].weight[0, 0] = 1e30
        x = x * 1e10
    d = diagnose(model, x)
    assert d.verdicts[0].kind == "non_finite" and not d.healthy
    expected_layer = "0" if where == "input" else "2"
    assert f"at layer {expected_layer} " in d.verdicts[0].evidence
    reason = d.verdicts[0].reason
    assert {"input": "input batch holds NaN", "weight": "parameter 2.weight holds",
            "overflow": "overflow"}[where] in reason
    bad = next(s for s in d.layers if s.name == expected_layer)
    assert 0 < bad.nonfinite <= 1 and math.isnan(bad.effective_rank)
    # nothing else is judged from the meaningless layers past it
    assert all(v.kind != "exploding_forward" for v in d.verdicts)
    assert "non_finite" in str(d)


def test_finite_values_whose_squares_overflow_float32_are_measured_in_float64():
    x = torch.full((8, 4), 3e20)
    d = diagnose(nn.Sequential(nn.Linear(4, 4, bias=False)), x)
    w = d.graph.layers["0"].module.weight.detach().double()
    expected = float(((x.double() @ w.T) ** 2).mean())
    assert d.layers[0].pre_second_moment == pytest.approx(expected, rel=1e-5)
    assert d.layers[0].nonfinite == 0.0


def test_nonfinite_gradients_alone_are_found_in_the_backward_pass():
    model = _relu_net()
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(2))
    d = diagnose(model, x, loss_fn=lambda out, target: out.sum() * math.inf)
    assert d.verdicts[0].kind == "non_finite"
    assert "gradients at layer 6" in d.verdicts[0].evidence  # where backward starts
    assert not any(v.kind.endswith("_gradients") for v in d.verdicts)  # no trend of NaN


def test_a_solver_that_fails_to_converge_does_not_stop_diagnose(monkeypatch):
    """The batched eigensolver failing (as float32 ssyevd does on some CPUs) falls back to
    other LAPACK paths with the same result; when every path fails, the rank is NaN
    ("not measurable") and diagnose still returns."""
    model = mlp(4, 64, nn.Tanh)
    x = torch.randn(128, 64, generator=torch.Generator().manual_seed(3))
    reference = [s.effective_rank for s in diagnose(model, x).layers]

    def no_convergence(*args, **kwargs):
        raise torch._C._LinAlgError("linalg.eigh: The algorithm failed to converge")

    monkeypatch.setattr(torch.linalg, "eigvalsh", no_convergence)
    fallback = [s.effective_rank for s in diagnose(model, x).layers]
    assert fallback == pytest.approx(reference, rel=1e-9)

    import numpy as np

    def numpy_fails(*args, **kwargs):
        raise np.linalg.LinAlgError("no convergence")

    monkeypatch.setattr(np.linalg, "eigvalsh", numpy_fails)
    monkeypatch.setattr(np.linalg, "svd", numpy_fails)
    d = diagnose(model, x)
    assert all(math.isnan(s.effective_rank) for s in d.layers)
    assert all(v.kind != "rank_collapse" for v in d.verdicts)


def test_robust_decompositions_agree_with_float64_references():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(5, 12, 7, generator=g, dtype=torch.float64)
    for got, ref in zip(_linalg.svdvals(a), torch.linalg.svdvals(a), strict=True):
        assert got == pytest.approx(ref.numpy(), rel=1e-12)
    sym = a.transpose(1, 2) @ a
    for got, ref in zip(_linalg.eigvalsh(sym), torch.linalg.eigvalsh(sym), strict=True):
        assert got == pytest.approx(ref.numpy(), rel=1e-10, abs=1e-12)
    sym[2, 0, 0] = math.inf
    assert _linalg.eigvalsh(sym)[2] is None and _linalg.eigvalsh(sym)[1] is not None


def test_rounding_noise_counts_as_no_variation():
    """Samples equal up to float32 rounding (what deep ReLU nets under PyTorch's default
    init produce, and what made float32 ssyevd fail on another CPU): rank 0 whatever the
    noise; variation above the floor is measured."""
    g = torch.Generator().manual_seed(5)
    base = torch.randn(1, 64, generator=g).repeat(512, 1)
    ulps = torch.randint(-3, 4, base.shape, generator=g).float()
    noisy = base + ulps * base.abs() * torch.finfo(torch.float32).eps
    assert _stats.effective_ranks([_stats.unit_gram(noisy, g)]) == [0.0]
    varied = base + 1e-3 * torch.randn(base.shape, generator=g)
    assert _stats.effective_ranks([_stats.unit_gram(varied, g)])[0] > 40


def test_jacobian_spectrum_of_a_broken_network_is_not_measurable_not_an_exception():
    model = _relu_net()
    with torch.no_grad():
        model[2].weight[0, 0] = math.nan
    s = jacobian_spectrum(model, torch.randn(64), steps=8)
    assert not s.finite and all(math.isnan(v) for v in s.top + s.bottom)
    ok = jacobian_spectrum(_relu_net(), torch.randn(64), steps=8)
    assert ok.finite and all(v >= 0 for v in ok.top)


def test_a_signal_that_underflowed_to_zero_is_not_called_symmetry():
    torch.manual_seed(0)
    net = mlp(24, 128, nn.Tanh)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.003)
            nn.init.zeros_(m.bias)
    d = diagnose(net, torch.randn(256, 128, generator=torch.Generator().manual_seed(0)))
    assert d.layers[-1].act_second_moment == 0.0  # the case: an exact zero
    kinds = [v.kind for v in d.verdicts]
    assert "symmetry" not in kinds and "vanishing_forward" in kinds
    assert "exactly 0" in next(v.evidence for v in d.verdicts if v.kind == "vanishing_forward")


def test_zero_weights_are_still_symmetry():
    net = mlp(6, 64, nn.Tanh)
    initscope.initialize(net, "zeros", seed=0)
    assert [v.kind for v in diagnose(net, torch.randn(64, 64)).verdicts] == ["symmetry"]


def test_a_saturating_sigmoid_net_is_not_called_healthy():
    """The issue's case: 5 x 128 sigmoid under U[-1, 1] (49% of layer 0 saturated, gain
    6.5 where 1.85 is needed) gets graded warnings, not "healthy"."""
    torch.manual_seed(0)
    net = nn.Sequential(*mlp(5, 128, nn.Sigmoid), nn.Linear(128, 10))
    initscope.initialize(net, "uniform(-1,1)", seed=0)
    d = diagnose(net, torch.randn(256, 128, generator=torch.Generator().manual_seed(0)))
    kinds = {v.kind: v.severity for v in d.verdicts}
    assert not d.healthy and "healthy" not in str(d)
    assert kinds.get("saturation") == "warning"
    assert kinds.get("gain_mismatch") == "warning"
    assert "(warning)" in str(d)
    mismatch = next(v for v in d.verdicts if v.kind == "gain_mismatch")
    assert "5 of 5 layers" in mismatch.evidence and "1.85" in mismatch.evidence


def test_auto_initialized_nets_stay_free_of_warnings():
    for act in (nn.Tanh, nn.ReLU, nn.GELU):  # sigmoid: issue 17 (auto and its gradients)
        net = nn.Sequential(*mlp(8, 128, act), nn.Linear(128, 10))
        initscope.initialize(net, "auto", seed=0)
        d = diagnose(net, torch.randn(256, 128, generator=torch.Generator().manual_seed(0)))
        assert d.healthy, (act, [str(v) for v in d.verdicts])
