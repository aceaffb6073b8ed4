"""Importable trials for tests/test_sweep.py (process pools and Ray pickle them by name)."""

from __future__ import annotations

import torch
from torch import nn

import initscope
from tests.architectures import mlp


def signal_at_depth(scheme: str, depth: int, seed: int) -> list[dict[str, float]]:
    """Per-layer activation variance of a tanh MLP under a scheme: one row per layer."""
    torch.set_num_threads(1)  # same summation order in every worker: identical tables
    model = mlp(depth, 64, nn.Tanh)
    initscope.initialize(model, scheme, seed=seed)
    h = torch.randn(256, 64, generator=torch.Generator().manual_seed(seed))
    rows = []
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.Tanh):
                rows.append({"layer": len(rows) + 1, "variance": float(h.var())})
    return rows


def fails(x: int) -> dict[str, int]:
    raise RuntimeError(f"trial {x} failed on purpose")
