"""timm models: final training loss under timm's own init against initscope's, on the
real-models reproduction's image task (10 template classes under unit noise, 32 x 32;
300 AdamW steps at lr 1e-3, batch 16; mean of the last 30 losses), seeds 0-2.

Runs in the timm environment (`make test-timm` builds it):

    .venv-timm/bin/python benchmarks/scripts/timm_training.py resnet18 own,auto,zero_last_bn

Measured 2026-12-03 (2 threads): resnet18 own 0.0014 (0.0011-0.0016), auto 0.057
(0.049-0.066), zero_last_bn 0.0008 (0.0006-0.0009): timm zero-initializes each block's
last BatchNorm gain (zero_init_last=True), "auto" sets it to 1. efficientnet_b0 own
0.278 (0.223-0.307), auto 0.180 (0.157-0.207). vit_tiny (img_size 32) and convnext_atto
reach ~0 under both (the task does not tell them apart).
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import timm
import torch

import initscope
from initscope.reproduce.real_models import Config, task_for


def run(name: str, init: str, seed: int, cfg: Config) -> float:
    torch.manual_seed(seed)
    extra = {"img_size": 32} if name.startswith("vit") else {}
    model = timm.create_model(name, pretrained=False, num_classes=10, **extra)
    task = task_for("resnet", seed)  # the reproduction's image task
    g = torch.Generator().manual_seed(seed)
    if init != "own":
        probe = task.make(torch.Generator().manual_seed(1000 + seed), 4)["pixel_values"]
        initscope.initialize(model, init, seed=seed, example_inputs=probe)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    losses = []
    for _ in range(cfg.steps):
        batch = task.make(g, cfg.batch)
        loss = torch.nn.functional.cross_entropy(model(batch["pixel_values"]), batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return float(np.mean(losses[-cfg.steps // 10:]))


def main() -> None:
    warnings.simplefilter("ignore")
    name = sys.argv[1] if len(sys.argv) > 1 else "resnet18"
    inits = sys.argv[2].split(",") if len(sys.argv) > 2 else ["own", "auto"]
    cfg = Config()
    for init in inits:
        start = time.perf_counter()
        losses = [run(name, init, seed, cfg) for seed in range(3)]
        print(f"{name} {init}: {np.mean(losses):.4f} ({min(losses):.4f}-{max(losses):.4f}) "
              f"in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
