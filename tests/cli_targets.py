"""Targets for ``initscope diagnose module:callable`` tests: each fails as users' do."""

from __future__ import annotations

import torch
from torch import nn


def raises() -> nn.Module:
    raise RuntimeError("the user's factory is broken")


def not_a_module() -> object:
    return 42


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))


def bn_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
