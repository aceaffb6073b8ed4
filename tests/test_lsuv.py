"""One-pass LSUV: every calibrated layer at its target std, measured in a fresh pass."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from torch import nn

from initscope import lsuv
from initscope.model import lsuv_dataloader
from tests.architectures import GPT, ConvNet, ResNet18, mlp

CALIBRATED = (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)


def _output_stds(model: nn.Module, inputs: tuple) -> dict[str, float]:
    """Each calibrated layer's output std in a fresh forward pass (dropout off)."""
    stds: dict[str, float] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, CALIBRATED) and not isinstance(
                m, nn.modules.linear.NonDynamicallyQuantizableLinear):
            def hook(mod, args, out, name=name):
                stds.setdefault(name, float((out[0] if isinstance(out, tuple) else out).std()))
            handles.append(m.register_forward_hook(hook))
    drop = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drop:
        m.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m in drop:
            m.train()
    return stds


CASES = {
    "mlp": (lambda: mlp(20, 128, nn.Tanh), lambda: (torch.randn(256, 128),)),
    "convnet": (ConvNet, lambda: (torch.randn(8, 3, 16, 16),)),
    "resnet18": (lambda: ResNet18(num_classes=10), lambda: (torch.randn(4, 3, 32, 32),)),
    "transformer": (lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2, enable_nested_tensor=False),
        lambda: (torch.randn(8, 6, 32),)),
    "gpt": (GPT, lambda: (torch.randint(0, 96, (8, 16)),)),
}


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_calibrated_layer_reaches_the_target(case, center):
    build, inputs = CASES[case]
    model = build()
    x = inputs()
    report = lsuv(model, x, target_std=0.8, tol=0.05, center=center, seed=0)
    assert len(report.records) >= 2
    measured = _output_stds(model, x)
    assert set(measured) == {r.name for r in report.records}
    for name, std in measured.items():
        assert std == pytest.approx(0.8, abs=0.05), name


def test_center_removes_each_units_mean():
    model = mlp(4, 64, nn.ReLU)
    x = torch.randn(512, 64) + 3.0
    lsuv(model, x, center=True, seed=0)
    with torch.no_grad():
        h = model[0](x)
        h = model[2](model[1](h))
    assert h.mean(0).abs().max() < 1e-4


def test_one_forward_pass_against_the_lsuv_package():
    """Same model, same batch: both meet the tolerance; initscope runs the model once,
    the lsuv package once per layer and attempt."""
    pkg = pytest.importorskip("lsuv")
    x = torch.randn(256, 128)
    ours, theirs = mlp(12, 128, nn.ReLU), mlp(12, 128, nn.ReLU)
    calls = {"ours": 0, "theirs": 0}
    ours.register_forward_pre_hook(lambda m, a: calls.__setitem__("ours", calls["ours"] + 1))
    theirs.register_forward_pre_hook(
        lambda m, a: calls.__setitem__("theirs", calls["theirs"] + 1))
    lsuv(ours, x, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):
        pkg.lsuv_with_singlebatch(theirs, x, verbose=False)
    assert calls["ours"] == 1 and calls["theirs"] >= 12
    ours_std, theirs_std = _output_stds(ours, (x,)), _output_stds(theirs, (x,))
    assert all(abs(s - 1.0) <= 0.1 for s in theirs_std.values())
    assert all(abs(s - 1.0) <= 1e-3 for s in ours_std.values())  # closed form: exact


def test_failure_restores_weights_buffers_modes_and_hooks():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="constant output"):
        lsuv(model, torch.zeros(16, 8), seed=0)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model[2].training
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="target_std"):
        lsuv(model, torch.randn(4, 8), target_std=0.0)


def test_batchnorm_running_stats_are_untouched_on_success():
    model = ResNet18(num_classes=10)
    lsuv(model, torch.randn(4, 3, 32, 32), seed=0)
    assert torch.equal(model.bn1.running_mean, torch.zeros(64))
    assert int(model.bn1.num_batches_tracked) == 0


def test_dataloader_entry_point():
    data = torch.utils.data.TensorDataset(torch.randn(64, 16), torch.zeros(64))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    model = mlp(3, 16, nn.ReLU)
    report = lsuv_dataloader(model, loader, batches=2, seed=0)
    assert len(report.records) == 3
    with pytest.raises(ValueError, match="no batch"):
        lsuv_dataloader(model, [], seed=0)
    assert "std before" in str(report)
