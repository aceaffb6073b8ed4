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
from ..datasets.shapeset import CHANCE_LOSS
from ..diagnostics import _stats
from ..model.apply import initialize
from ._plots import saved, smoothed
from ._result import Result, spread
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
    seeds: tuple[int, ...] = (0, 1, 2)

    @classmethod
    def smoke(cls) -> Config:
        return cls(steps=300, test=1000, seeds=(0,))


def _one(cfg: Config, scheme: str, seed: int, x_test: torch.Tensor, y_test: torch.Tensor
         ) -> tuple[float, list[float], list[float]]:
    """One seed: test accuracy, each hidden layer's fraction of identical units after
    training, the loss of every step."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = shapeset_mlp(cfg.depth, cfg.hidden, nn.Tanh)
    initialize(model, scheme, seed=seed)
    losses = train_sgd(model, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, seed=seed + 1)
    with torch.no_grad():
        acc = float((model(x_test).argmax(1) == y_test).float().mean())
        h, identical = x_test.flatten(1), []
        for layer in list(model)[1:-1]:
            h = layer(h)
            if isinstance(layer, nn.Tanh):
                identical.append(_stats.identical_fraction(h[:1024], gen))
    return acc, identical, losses


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    cfg = config or Config()
    x_test, y_test = (torch.from_numpy(a) for a in shapeset(cfg.test, seed=10_007))
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[float]] = {}
    for scheme in SCHEMES:
        runs = [_one(cfg, scheme, seed, x_test, y_test) for seed in cfg.seeds]
        accs = [a for a, _, _ in runs]
        identical = np.mean([i for _, i, _ in runs], axis=0)
        rows.append({"scheme": scheme, "test_accuracy": float(np.mean(accs)),
                     "accuracy_range": spread(accs),
                     "identical_units_per_layer": "/".join(f"{v:.0%}" for v in identical),
                     "min_identical": min(min(i) for _, i, _ in runs)})
        curves[scheme] = list(np.mean([c for _, _, c in runs], axis=0))
    by = {r["scheme"]: r for r in rows}
    seeds = f"mean over {len(cfg.seeds)} seeds, range {{}}"
    claims = [
        ("constant init: units stay identical through training", "yes (symmetry)",
         f"ones: {by['ones']['identical_units_per_layer']}, constant 0.5: "
         f"{by['constant(0.5)']['identical_units_per_layer']} (every seed: at least "
         f"{min(by[s]['min_identical'] for s in ('ones', 'constant(0.5)')):.0%})"),
        ("all zeros: the hidden layers never learn",
         "accuracy at chance (a most frequent class: 1/6 = 16.7%)",
         f"{by['zeros']['test_accuracy']:.1%} ("
         + seeds.format(by["zeros"]["accuracy_range"]) + ")"),
        ("a random (Xavier) init breaks the symmetry", "units differ, the net learns",
         f"{by['xavier']['identical_units_per_layer']} identical, "
         f"{by['xavier']['test_accuracy']:.1%} accuracy ("
         + seeds.format(by["xavier"]["accuracy_range"]) + ")"),
    ]
    result = Result("symmetry", "Symmetry: constant initializations never break it", rows,
                    claims, config=asdict(cfg))
    result.notes = (
        f"A {cfg.depth} x {cfg.hidden} tanh MLP, plain SGD at lr {cfg.lr:g}, batch "
        f"{cfg.batch}, {cfg.steps} steps of fresh Shapeset-3x2 images per seed; test "
        f"accuracy on {cfg.test} held-out images. identical_units_per_layer: the fraction "
        "of a hidden layer's units that are exact copies of another unit after training "
        "(mean over seeds); min_identical: the lowest over layers and seeds."
    )
    result.write_with(out, lambda p: _figure(p, curves))
    return result


def _figure(out: Path, curves: dict[str, list[float]]) -> Path:
    from ..report.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    for scheme, curve in curves.items():
        c = np.asarray(curve)
        ax.plot(smoothed(c), label=scheme, lw=1.2)
    ax.axhline(CHANCE_LOSS, color="0.6", lw=0.8, ls="--", label="class entropy")
    ax.set(xlabel="step", ylabel="training loss (mean of seeds)",
           title="constant inits train as one unit per layer")
    ax.legend(fontsize=7)
    return saved(fig, out, "training.png")
