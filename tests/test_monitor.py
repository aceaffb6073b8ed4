"""The training-time monitor on a real training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initscope
from initscope.diagnostics import Monitor
from tests.architectures import mlp


def _data(n: int = 512):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 16, generator=g)
    y = (x[:, :4].sum(1) > 0).long()
    return x, y


def test_monitor_records_every_k_steps_and_removes_its_hooks():
    model = nn.Sequential(*mlp(4, 32, nn.Sigmoid), nn.Linear(32, 2))
    model[0] = nn.Linear(16, 32)
    initscope.initialize(model, "glorot_standard", seed=0)
    x, y = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    with Monitor(model, every=5) as mon:
        for step in range(20):
            batch = slice(step * 16 % 512, step * 16 % 512 + 16)
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    steps = sorted({r["step"] for r in mon.records})
    assert steps == [0, 5, 10, 15]
    layers = {r["layer"] for r in mon.records}
    assert layers == {"0", "2", "4", "6", "8"}
    top = [r for r in mon.records if r["layer"] == "6"]
    assert all(0.0 <= r["act_mean"] <= 1.0 for r in top)  # sigmoid outputs
    assert all(r["saturated"] is not None for r in top)
    assert all(r["grad_std"] > 0 for r in mon.records)
    assert len(mon.table) == 4 * 5


def test_monitor_removes_hooks_on_error():
    model = mlp(3, 8, nn.Tanh)
    with pytest.raises(RuntimeError, match="boom"), Monitor(model, every=1):
        model(torch.randn(2, 8))
        raise RuntimeError("boom")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        Monitor(model, every=0)
