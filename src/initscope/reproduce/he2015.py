"""He et al. 2015 (sec. 2.2, Fig. 3): a deep plain ReLU network trains from He's init and
stalls from Xavier's, whose signal shrinks by 1/2 per layer (1/2^(L-1) after L layers).

Measured on Shapeset-3x2: a 30-layer, 128-wide ReLU MLP (no normalization, no
residuals); at initialization the second moment of the last hidden layer's activations
relative to the first; then plain SGD, the training loss at the start and at the end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..datasets import shapeset
from ..datasets.shapeset import CHANCE_LOSS
from ..model.apply import initialize
from ._result import Result
from ._train import shapeset_mlp, start_end, train_sgd

SCHEMES = ("xavier", "he")


@dataclass(frozen=True)
class Config:
    depth: int = 30
    width: int = 128
    steps: int = 1500
    batch: int = 64
    lr: float = 0.02
    seed: int = 0

    @classmethod
    def smoke(cls) -> Config:
        return cls(steps=150)


def _shrinkage(model: nn.Sequential, x: torch.Tensor) -> float:
    moments = []
    with torch.no_grad():
        h = x
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                moments.append(float(h.pow(2).mean()))
    return moments[-1] / moments[0]


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    cfg = config or Config()
    probe = torch.from_numpy(shapeset(512, seed=cfg.seed + 7)[0])
    rows: list[dict[str, Any]] = []
    for scheme in SCHEMES:
        torch.manual_seed(cfg.seed)
        model = shapeset_mlp(cfg.depth, cfg.width, nn.ReLU)
        initialize(model, scheme, seed=cfg.seed)
        shrink = _shrinkage(model, probe)
        start, end = start_end(train_sgd(model, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
                                         seed=cfg.seed + 1))
        rows.append({"scheme": scheme, "signal_last_over_first": shrink,
                     "loss_start": start, "loss_end": end})
    by = {r["scheme"]: r for r in rows}
    chance = CHANCE_LOSS
    claims = [
        (f"Xavier shrinks a ReLU signal by 1/2 per layer ({cfg.depth} layers)",
         f"1/2^{cfg.depth - 1} = {0.5 ** (cfg.depth - 1):.2g}",
         f"{by['xavier']['signal_last_over_first']:.2g}"),
        ("He keeps it", "1", f"{by['he']['signal_last_over_first']:.3g}"),
        ("Xavier stalls, He trains (training loss)", f"Xavier stays at chance ({chance:.3f})",
         f"Xavier {by['xavier']['loss_start']:.3f} -> {by['xavier']['loss_end']:.3f}; "
         f"He {by['he']['loss_start']:.3f} -> {by['he']['loss_end']:.3f}"),
    ]
    result = Result("he2015", f"He et al. 2015: {cfg.depth}-layer plain ReLU network", rows,
                    claims, config=asdict(cfg))
    if out is not None:
        result.write(out)
    return result
