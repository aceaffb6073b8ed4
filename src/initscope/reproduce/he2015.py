"""He et al. 2015 (sec. 2.2, Fig. 3): a deep plain ReLU network trains from He's init and
stalls from Xavier's, whose signal shrinks by 1/2 per layer (1/2^(L-1) after L layers).

Measured on Shapeset-3x2: a 30-layer, 128-wide ReLU MLP (no normalization, no
residuals); at initialization the second moment of the last hidden layer's activations
relative to the first; then plain SGD, the training loss at the start and at the end;
over several seeds (each seed draws the network, its init and the batches), mean and
range. He's ratio is 1 in expectation only: one network's drifts log-normally, with
Var[log] ~ 5 (L - 1) / n (Hanin & Rolnick 2018), which the notes quote.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..datasets import shapeset
from ..datasets.shapeset import CHANCE_LOSS
from ..model.apply import initialize
from ._plots import saved, smoothed
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
    seeds: tuple[int, ...] = (0, 1, 2)

    @classmethod
    def smoke(cls) -> Config:
        return cls(steps=150, seeds=(0,))


def _moments(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """E[x_l^2] after each ReLU, relative to the first one's."""
    moments = []
    with torch.no_grad():
        h = x
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                moments.append(float(h.pow(2).mean()))
    return [m / moments[0] for m in moments]


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    cfg = config or Config()
    runs: list[dict[str, Any]] = []
    profiles: dict[str, list[list[float]]] = {s: [] for s in SCHEMES}
    curves: dict[str, list[list[float]]] = {s: [] for s in SCHEMES}
    for seed in cfg.seeds:
        probe = torch.from_numpy(shapeset(512, seed=seed + 7)[0])
        for scheme in SCHEMES:
            torch.manual_seed(seed)
            model = shapeset_mlp(cfg.depth, cfg.width, nn.ReLU)
            initialize(model, scheme, seed=seed)
            moments = _moments(model, probe)
            shrink = moments[-1]
            losses = train_sgd(model, steps=cfg.steps, batch=cfg.batch, lr=cfg.lr,
                               seed=seed + 1)
            start, end = start_end(losses)
            profiles[scheme].append(moments)
            curves[scheme].append(losses)
            runs.append({"scheme": scheme, "seed": seed, "signal_last_over_first": shrink,
                         "loss_start": start, "loss_end": end})
    rows = [_summary(scheme, [r for r in runs if r["scheme"] == scheme]) for scheme in SCHEMES]
    by = {r["scheme"]: r for r in rows}
    chance = CHANCE_LOSS
    n = len(cfg.seeds)
    var = 5 * (cfg.depth - 1) / cfg.width
    claims = [
        (f"Xavier shrinks a ReLU signal by 1/2 per layer ({cfg.depth} layers)",
         f"1/2^{cfg.depth - 1} = {0.5 ** (cfg.depth - 1):.2g}",
         f"{by['xavier']['signal_last_over_first']:.2g} ({by['xavier']['signal range']}, "
         f"{n} seeds)"),
        ("He keeps it", f"1 (in expectation; one network within x{math.exp(2 * math.sqrt(var)):.2g}"
         " either way, 2 sd)",
         f"{by['he']['signal_last_over_first']:.3g} ({by['he']['signal range']})"),
        ("Xavier stalls, He trains (training loss)", f"Xavier stays at chance ({chance:.3f})",
         f"Xavier {by['xavier']['loss_start']:.3f} -> {by['xavier']['loss_end']:.3f} "
         f"({by['xavier']['end range']}); He {by['he']['loss_start']:.3f} -> "
         f"{by['he']['loss_end']:.3f} ({by['he']['end range']})"),
    ]
    result = Result("he2015", f"He et al. 2015: {cfg.depth}-layer plain ReLU network", rows,
                    claims, config=asdict(cfg), details={"runs": runs})
    result.notes = (
        f"Mean over {n} seeds (geometric for the signal ratio), range in brackets. He's "
        "ratio is 1 only in expectation: a single network's log ratio has variance about "
        f"5 (L - 1) / n = {var:.2f} (Hanin & Rolnick 2018), so one seed's 3.3 is within "
        "1.2 sd. The runs are deterministic on one machine; on another x86 CPU the "
        "float32 kernels round differently and a loss moves in the second decimal (seed "
        "0's He run: 2.049 -> 1.761 on the machine that committed it, 2.063 -> 1.765 on "
        "another), inside the spread over seeds."
    )
    result.write_with(out, lambda p: _figure(p, profiles, curves))
    return result


def _figure(out: Path, profiles: dict[str, list[list[float]]],
            curves: dict[str, list[list[float]]]) -> Path:
    """Left: E[x_l^2] / E[x_1^2] by layer at init, every seed, beside 2^-(l-1) (Xavier's
    halving) and 1 (He); right: the training loss, mean of the seeds."""
    from ..report.plots import _pyplot

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    colors = {"xavier": "C0", "he": "C1"}
    for scheme in SCHEMES:
        for k, prof in enumerate(profiles[scheme]):
            left.semilogy(range(1, len(prof) + 1), prof, color=colors[scheme], lw=1,
                          alpha=0.8, label=scheme if k == 0 else None)
        depth = len(profiles[scheme][0])
        curve = np.mean(curves[scheme], axis=0)
        right.plot(smoothed(curve),
                   color=colors[scheme], label=scheme, lw=1.2)
    layers = np.arange(1, depth + 1)
    left.semilogy(layers, 0.5 ** (layers - 1), "k--", lw=0.8, label="theory: 2^-(l-1)")
    left.axhline(1.0, color="0.4", lw=0.8, ls=":", label="theory: 1")
    left.set(xlabel="ReLU layer", ylabel="E[x^2] / first layer's (each seed)",
             title="signal at init")
    right.axhline(CHANCE_LOSS, color="0.6", lw=0.8, ls="--", label="class entropy")
    right.set(xlabel="step", ylabel="training loss (mean of seeds)", title="training")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    return saved(fig, out, "he2015.png")


def _summary(scheme: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [r["signal_last_over_first"] for r in runs]
    ends = [r["loss_end"] for r in runs]
    return {"scheme": scheme,
            "signal_last_over_first": float(np.exp(np.mean(np.log(ratios)))),
            "signal range": f"{min(ratios):.2g}-{max(ratios):.2g}",
            "loss_start": float(np.mean([r["loss_start"] for r in runs])),
            "loss_end": float(np.mean(ends)),
            "end range": f"{min(ends):.3f}-{max(ends):.3f}",
            "seeds": len(runs)}
