""""auto" for every activation (issue 17): a deep plain MLP per activation on
scikit-learn's digits, "auto" against He, Xavier and the two schemes built for
activations whose variance map is unstable: looks-linear (Balduzzi et al. 2017, "The
Shattered Gradients Problem") and the stable edge of chaos (Schoenholz et al. 2017;
Hayou, Doucet & Rousseau 2019).

Per (activation, init): the second moment of every layer's pre-activations at init
(relative to the input's), then momentum SGD; the learning rate is picked per
(activation, init) from a grid by seed 0's training loss (the test set is not used to
choose it), and every seed trains at that rate; test accuracy mean and range over seeds.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..model.apply import initialize
from ._plots import saved
from ._progress import task
from ._result import Result

#: The activations, as torch modules (nn.GELU(approximate="tanh") is the tanh form).
ACTIVATIONS: dict[str, Any] = {
    "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU, "selu": nn.SELU,
    "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "silu": nn.SiLU,
    "mish": nn.Mish, "softplus": nn.Softplus, "hardswish": nn.Hardswish, "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
INITS = ("auto", "he", "xavier", "looks_linear", "critical")


@dataclass(frozen=True)
class Config:
    depth: int = 50
    width: int = 128
    steps: int = 300
    batch: int = 64
    momentum: float = 0.9
    lrs: tuple[float, ...] = (0.003, 0.01, 0.03)
    seeds: tuple[int, ...] = (0, 1, 2)
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    inits: tuple[str, ...] = INITS

    @classmethod
    def smoke(cls) -> Config:
        return cls(depth=8, width=32, steps=20, lrs=(0.01,), seeds=(0,),
                   activations=("relu", "gelu", "tanh"))


def _mlp(act: str, cfg: Config, d_in: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(cfg.depth - 1):
        layers += [nn.Linear(d, cfg.width), ACTIVATIONS[act]()]
        d = cfg.width
    return nn.Sequential(*layers, nn.Linear(d, 10))


def _second_moments(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """E[h^2] of every weight layer's output, relative to E[x^2]."""
    out, h, q0 = [], x, float(x.pow(2).mean())
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.Linear):
                out.append(float(h.double().pow(2).mean()) / q0)
    return out


def _train(model: nn.Module, data: tuple[torch.Tensor, ...], cfg: Config, lr: float,
           seed: int) -> tuple[float, float]:
    """Momentum SGD; (training loss over the last 10% of steps, test accuracy). A run that
    diverges (a non-finite loss) stops there with loss inf."""
    x, y, xt, yt = data
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg.momentum)
    losses = []
    for _ in range(cfg.steps):
        idx = torch.randint(0, len(x), (cfg.batch,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        if not bool(torch.isfinite(loss)):
            return math.inf, float("nan")
        opt.zero_grad()
        torch.autograd.backward(loss)
        opt.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        accuracy = float((model(xt).argmax(1) == yt).float().mean())
    return float(np.mean(losses[-max(1, cfg.steps // 10):])), accuracy


def _built(act: str, init: str, cfg: Config, seed: int, d_in: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = _mlp(act, cfg, d_in)
    initialize(model, init, seed=seed)
    return model


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    from ..datasets import digits

    cfg = config or Config()
    start = time.perf_counter()
    x, y, xt, yt = (torch.from_numpy(a) for a in digits(seed=0))
    data = (x, y, xt, yt)
    rows: list[dict[str, Any]] = []
    depth_curves: dict[str, dict[str, list[float]]] = {}
    runs = len(cfg.activations) * len(cfg.inits) * (len(cfg.lrs) + len(cfg.seeds) - 1)
    with task("activations", runs) as advance:
        for act in cfg.activations:
            depth_curves[act] = {}
            for init in cfg.inits:
                first = cfg.seeds[0]
                tried: dict[float, tuple[float, float]] = {}
                for lr in cfg.lrs:  # the rate by the first seed's training loss
                    tried[lr] = _train(_built(act, init, cfg, first, x.shape[1]), data, cfg,
                                       lr, first)
                    advance(1)
                lr = min(cfg.lrs, key=lambda r: tried[r][0])
                accs, ratios, losses = [tried[lr][1]], [], [tried[lr][0]]
                for seed in cfg.seeds:
                    model = _built(act, init, cfg, seed, x.shape[1])
                    q = _second_moments(model, x[:512])
                    ratios.append(q[-2])  # the last hidden layer's
                    if seed == first:
                        depth_curves[act][init] = q[:-1]
                        continue
                    loss, acc = _train(model, data, cfg, lr, seed)
                    losses.append(loss)
                    accs.append(acc)
                    advance(1)
                finite = [a for a in accs if not math.isnan(a)]
                rows.append({
                    "activation": act, "init": init, "lr": lr,
                    "q_last/q_in": float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-300))))),
                    "q range": f"{min(ratios):.3g}-{max(ratios):.3g}",
                    "test accuracy": float(np.mean(finite)) if finite else float("nan"),
                    "accuracy range": (f"{min(finite):.3f}-{max(finite):.3f}" if finite
                                       else "diverged"),
                    "diverged": len(accs) - len(finite),
                    "train loss": float(np.mean(losses)),
                })
    claims = _claims(rows, cfg)
    result = Result("activations",
                    f"\"auto\" for every activation: {cfg.depth}-layer MLPs on digits",
                    rows, claims, config=asdict(cfg),
                    notes=_NOTES.format(depth=cfg.depth, width=cfg.width, steps=cfg.steps,
                                        seeds=len(cfg.seeds), lrs=cfg.lrs),
                    details={"depth_curves": depth_curves,
                             "seconds": time.perf_counter() - start})
    result.write_with(out, lambda p: _figure(p, depth_curves))
    return result


_NOTES = (
    "{depth} Linear layers ({width} wide; the input 64 pixels, the output 10 classes), the "
    "activation after every hidden one, no normalization, no residuals. q_last/q_in: the "
    "last hidden layer's E[h^2] over the input's at init (geometric mean over {seeds} seeds, "
    "range beside). Momentum SGD (0.9), batch 64, {steps} steps; the rate from {lrs} by seed "
    "0's training loss. Test accuracy on the 359 held-out digits, mean and range over "
    "{seeds} seeds; chance 10%. Looks-linear and critical are the two data-free schemes "
    "that keep the signal where the variance map expands (GELU, SiLU, Mish, Hardswish); "
    "'auto' makes every plain chain looks-linear unless its activation is odd (tanh), "
    "whose mirrored pairs would carry nothing new: there it is orthogonal at tanh's stable "
    "edge of chaos (sigma_w2 1.761, biases N(0, 0.05); Pennington et al. 2017), which "
    "holds the signal at the fixed point q* = 0.57 and its correlations too. The "
    "variance-keeping gain (1.59) it used before kept the variance but put tanh in the "
    "chaotic phase and trained worse than Xavier (benchmarks/results/"
    "design_measurements.md); 'critical' is the same point with Gaussian weights."
)


def _claims(rows: list[dict[str, Any]], cfg: Config) -> list[tuple[str, str, str]]:
    best: dict[str, float] = {}
    auto: dict[str, float] = {}
    for r in rows:
        acc = r["test accuracy"]
        if not math.isnan(acc):
            best[r["activation"]] = max(best.get(r["activation"], 0.0), acc)
        if r["init"] == "auto":
            auto[r["activation"]] = acc
    behind = {a: best[a] - auto[a] for a in auto if a in best}
    short = [a for a, d in behind.items() if not d <= 0.02]
    kept = [r for r in rows if r["init"] == "auto"]
    within = [r["activation"] for r in kept if 0.5 <= r["q_last/q_in"] <= 2.0]
    return [
        ('"auto" within 2 points of the best init for every activation', "issue 17",
         f"{len(behind) - len(short)} of {len(behind)} activations"
         + (f"; behind: {', '.join(f'{a} ({behind[a]:.1%})' for a in short)}" if short
            else "")),
        (f'"auto" keeps the last hidden layer within 2x of the input at depth {cfg.depth}',
         "the seed's claim",
         f"{len(within)} of {len(kept)}: "
         + ", ".join(f"{r['activation']} {r['q_last/q_in']:.3g}" for r in kept)),
    ]


def _figure(out: Path, curves: dict[str, dict[str, list[float]]]) -> Path:
    from ..report.plots import _pyplot

    plt = _pyplot()
    names = list(curves)
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), dpi=100,
                             squeeze=False)
    for ax, act in zip(axes.ravel(), names, strict=False):
        for init, q in curves[act].items():
            values = np.where(np.isfinite(q) & (np.asarray(q) > 0), q, np.nan)
            ax.semilogy(range(1, len(q) + 1), values, label=init, lw=1.2)
        ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
        ax.set_title(act, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=6)
    fig.supxlabel("layer", fontsize=9)
    fig.supylabel("E[h^2] / E[x^2] at init (seed 0)", fontsize=9)
    return saved(fig, out, "variance_by_depth.png")
