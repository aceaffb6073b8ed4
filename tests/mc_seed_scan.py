"""Scan seeds for the Monte Carlo gain test and print the largest deviation per activation.

Run: ``.venv/bin/python -m tests.mc_seed_scan 20``. Used to set MC_RTOL in test_gain.py.
"""

from __future__ import annotations

import sys

import torch

import initscope
from tests.test_gain import BATCH, FAN_IN, OUT
from tests.torch_activations import TORCH_FN


def deviation(name: str, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(BATCH, FAN_IN, generator=g, requires_grad=True)
    w = torch.empty(OUT, FAN_IN)
    initscope.init.he_normal_(w, name, g)
    fwd = (TORCH_FN[name](z) @ w.t()).pow(2).mean().item()
    initscope.init.he_normal_(w, name, g, mode="fan_out", criterion="backward")
    y = TORCH_FN[name](z) @ w.t()
    r = torch.randn(BATCH, OUT, generator=g)
    (dz,) = torch.autograd.grad((y * r).sum(), z)
    return max(abs(fwd - 1.0), abs(dz.pow(2).mean().item() - 1.0))


def main(seeds: int) -> None:
    worst = 0.0
    for name in sorted(TORCH_FN):
        d = max(deviation(name, s) for s in range(seeds))
        worst = max(worst, d)
        print(f"{name:>12} {d:.4f}", flush=True)
    print(f"largest relative deviation over seeds 0-{seeds - 1}: {worst:.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
