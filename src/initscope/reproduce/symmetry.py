"""Symmetry: all-zero, all-one or constant weights leave every unit of a layer identical,
and training keeps them identical (they get identical gradients), so the network is no
wider than one unit per layer — at best; with all zeros nothing but the output bias
learns at all.

Measured on Shapeset-3x2 (9 classes): a 3 x 64 tanh MLP trained with plain SGD from each
initialization; after training, the fraction of hidden units that are exact copies of
another unit, and the test accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..datasets import shapeset
from ..diagnostics import _stats
from ..model.apply import initialize
from ._result import Result
from ._train import shapeset_mlp, train_sgd

SCHEMES = ("zeros", "ones", "constant(0.5)", "xavier")


@dataclass(frozen=True)
class Config:
    hidden: int = 64
    depth: int = 3
    steps: int = 3000
    batch: int = 32
    lr: float = 0.05
    test: int = 4000
    seed: int = 0

    @classmethod
    def smoke(cls) -> Config:
        return cls(steps=300, test=1000)


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    cfg = config or Config()
    rng = np.random.default_rng(cfg.seed)
    x_test, y_test = (torch.from_numpy(a) for a in shapeset(cfg.test, seed=rng))
    rows: list[dict[str, Any]] = []
    gen = torch.Generator().manual_seed(cfg.seed)
    for scheme in SCHEMES:
        torch.manual_seed(cfg.seed)
        model = shapeset_mlp(cfg.depth, cfg.hidden, nn.Tanh)
        initialize(model, scheme, seed=cfg.seed)
        train_sgd(model, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, seed=cfg.seed + 1)
        with torch.no_grad():
            acc = float((model(x_test).argmax(1) == y_test).float().mean())
            h, identical = x_test.flatten(1), []
            for layer in list(model)[1:-1]:
                h = layer(h)
                if isinstance(layer, nn.Tanh):
                    identical.append(_stats.identical_fraction(h[:1024], gen))
        rows.append({"scheme": scheme, "test_accuracy": acc,
                     "identical_units_per_layer": "/".join(f"{v:.0%}" for v in identical),
                     "min_identical": min(identical)})
    by = {r["scheme"]: r for r in rows}
    claims = [
        ("constant init: units stay identical through training", "yes (symmetry)",
         f"ones: {by['ones']['identical_units_per_layer']}, constant 0.5: "
         f"{by['constant(0.5)']['identical_units_per_layer']}"),
        ("all zeros: the hidden layers never learn",
         "accuracy at chance (a most frequent class: 1/6 = 16.7%)",
         f"{by['zeros']['test_accuracy']:.1%}"),
        ("a random (Xavier) init breaks the symmetry", "units differ, the net learns",
         f"{by['xavier']['identical_units_per_layer']} identical, "
         f"{by['xavier']['test_accuracy']:.1%} accuracy"),
    ]
    result = Result("symmetry", "Symmetry: constant initializations never break it", rows,
                    claims, config=asdict(cfg))
    if out is not None:
        result.write(out)
    return result
