"""Schoenholz et al. 2017, "Deep Information Propagation" (Fig. 5-6): a deep tanh network
trains only when its depth is below ~6 xi_c, and xi_c diverges on the critical line
chi_1 = 1; the correlation between two inputs follows the c-map layer by layer.

Measured here: tanh MLPs of ``depth`` layers with weights N(0, sigma_w^2 / fan_in) and
biases N(0, sigma_b^2), at sigma_w^2 below, on and above the critical value for
sigma_b^2 (1.76 at 0.05); trained with plain SGD on a task a linear model solves (the
class is the argmax of a fixed random projection of a Gaussian input), so depth is the
only obstacle. The paper trains on MNIST and CIFAR-10 for many epochs over a grid of
depths; this is one depth, three points and minutes on a laptop. Then, on a 1000-wide
network without training, the correlation of two inputs' pre-activations layer by layer
against the c-map iterated from the first layer's (q, c).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import init
from ..theory import meanfield as mf
from ._plots import saved
from ._result import Result, spread
from ._train import sgd_on_batches, teacher_task


@dataclass(frozen=True)
class Config:
    depth: int = 100
    width: int = 128
    steps: int = 1500
    batch: int = 64
    lr: float = 0.01
    sigma_b2: float = 0.05
    #: sigma_w^2 as multiples of the critical value: below, on, above
    factors: tuple[float, ...] = (0.7, 1.0, 1.7)
    corr_width: int = 1000
    corr_pairs: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)
    inputs: int = 32

    @classmethod
    def smoke(cls) -> Config:
        return cls(depth=60, width=128, steps=300, lr=0.02, corr_width=500, corr_pairs=16,
                   seeds=(0,))


def _mlp(cfg: Config, width: int, sigma_w2: float, gen: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = cfg.inputs
    for _ in range(cfg.depth):
        lin = nn.Linear(d, width)
        init.normal_(lin.weight, 0.0, math.sqrt(sigma_w2 / d), gen)
        init.normal_(lin.bias, 0.0, math.sqrt(cfg.sigma_b2), gen)
        layers += [lin, nn.Tanh()]
        d = width
    head = nn.Linear(d, 10)
    init.normal_(head.weight, 0.0, math.sqrt(1.0 / d), gen)
    init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def _train(cfg: Config, sigma_w2: float, seed: int) -> tuple[float, float]:
    """Training accuracy and final loss (mean of the last tenth of steps); the task, the
    network and the batches all follow ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    x, y = teacher_task(cfg.inputs, gen)
    model = _mlp(cfg, cfg.width, sigma_w2, gen)
    order = torch.randint(0, len(x), (cfg.steps, cfg.batch), generator=gen)
    accuracy, losses = sgd_on_batches(model, x, y, order, cfg.lr, f"sigma_w^2 {sigma_w2:.2f}")
    tail = losses[-max(1, len(losses) // 10):]
    return accuracy, sum(tail) / len(tail)


def _correlations(cfg: Config, sigma_w2: float, seed: int) -> tuple[list[float], list[float]]:
    """Measured (mean over input pairs) and c-map correlations of the pre-activations."""
    gen = torch.Generator().manual_seed(seed + 1)
    model = _mlp(cfg, cfg.corr_width, sigma_w2, gen)
    base = torch.randn(cfg.corr_pairs, cfg.inputs, generator=gen)
    other = 0.6 * base + 0.8 * torch.randn(cfg.corr_pairs, cfg.inputs, generator=gen)
    pre_a: list[torch.Tensor] = []
    pre_b: list[torch.Tensor] = []
    with torch.no_grad():
        a, b = base, other
        for layer in model:
            a, b = layer(a), layer(b)
            if isinstance(layer, nn.Linear) and len(pre_a) < cfg.depth:
                pre_a.append(a)
                pre_b.append(b)
    measured = [float(((u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1))).mean())
                for u, v in zip(pre_a, pre_b, strict=True)]
    # theory from the first layer's own (q, c), averaged over the pairs like the measurement
    predicted = []
    for i in range(cfg.corr_pairs):
        qa = float(pre_a[0][i].pow(2).mean())
        qb = float(pre_b[0][i].pow(2).mean())
        q = (qa + qb) / 2
        c = float((pre_a[0][i] * pre_b[0][i]).mean()) / q
        path = [c]
        for _ in range(cfg.depth - 1):
            c = min(1.0, mf.c_map("tanh", sigma_w2, cfg.sigma_b2, c, q))
            q = mf.q_map("tanh", sigma_w2, cfg.sigma_b2, q)
            path.append(c)
        predicted.append(path)
    mean_pred = [sum(p[k] for p in predicted) / len(predicted) for k in range(cfg.depth)]
    return measured, mean_pred


def _figure(out: Path, curves: dict[float, tuple[list[float], list[float]]]) -> Path:
    from ..report.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for sw2, (measured, predicted) in curves.items():
        layers = range(1, len(measured) + 1)
        line = ax.plot(layers, measured, marker="o", ms=2, lw=0, label=f"measured, {sw2:.2f}")
        ax.plot(layers, predicted, color=line[0].get_color(), label=f"c-map, {sw2:.2f}")
    ax.set_xlabel("layer")
    ax.set_ylabel("correlation of two inputs' pre-activations")
    ax.set_title("tanh, sigma_w^2 below / on / above critical", fontsize=10)
    ax.legend(fontsize=7)
    return saved(fig, out, "correlations.png")


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    return _run(config or Config(), out)


def _run(cfg: Config, out: str | Path | None) -> Result:
    critical = mf.critical_sigma_w2("tanh", cfg.sigma_b2)
    rows: list[dict[str, Any]] = []
    curves: dict[float, tuple[list[float], list[float]]] = {}
    for factor in cfg.factors:
        sw2 = critical * factor
        scales = mf.depth_scales("tanh", sw2, cfg.sigma_b2)
        trained = [_train(cfg, sw2, seed) for seed in cfg.seeds]
        accuracies = [a for a, _ in trained]
        errors = []
        for seed in cfg.seeds:
            measured, predicted = _correlations(cfg, sw2, seed)
            curves.setdefault(sw2, (measured, predicted))  # the figure: the first seed's
            errors.append(max(abs(m - p) for m, p in zip(measured, predicted, strict=True)))
        rows.append({
            "sigma_w2": sw2, "phase": scales.phase, "chi1": scales.chi1, "xi_c": scales.xi_c,
            "six_xi_c": 6 * scales.xi_c, "depth": cfg.depth,
            "train_accuracy": sum(accuracies) / len(accuracies),
            "accuracy_range": spread(accuracies),
            "final_loss": sum(loss for _, loss in trained) / len(trained),
            "corr_max_abs_error": max(errors),
        })
    by = {r["sigma_w2"] / critical: r for r in rows}
    on = by[1.0]
    off = [r for f, r in by.items() if f != 1.0]
    claims = [
        ("critical sigma_w^2 of tanh at sigma_b^2 = 0.05", "1.76", f"{critical:.4f}"),
        (f"a {cfg.depth}-layer net trains only if depth < ~6 xi_c (critical: xi_c diverges)",
         "only near chi_1 = 1 does it leave chance",
         "; ".join(f"sigma_w^2 {r['sigma_w2']:.2f} (6 xi_c = {r['six_xi_c']:.3g}): "
                   f"accuracy {r['train_accuracy']:.1%} ({r['accuracy_range']})" for r in rows)
         + f" (mean and range of {len(cfg.seeds)} seeds; chance 10%)"),
        ("measured correlations follow the c-map", "Fig. 2: theory = experiment",
         "largest abs(measured - c-map) over layers: "
         + ", ".join(f"{r['corr_max_abs_error']:.3f}" for r in rows)
         + f" (width {cfg.corr_width}, {cfg.corr_pairs} input pairs, the largest of "
         f"{len(cfg.seeds)} seeds)"),
    ]
    result = Result("critical-depth",
                    f"Schoenholz et al. 2017: {cfg.depth}-layer tanh networks around criticality",
                    rows, claims, config=asdict(cfg))
    result.notes = (
        "Honest differences: one depth instead of a grid, a synthetic task instead of "
        f"MNIST/CIFAR-10, {cfg.steps} SGD steps instead of hundreds of epochs; the claim "
        "checked is the ordering (only the critical network learns), with the accuracies "
        f"above (critical: {on['train_accuracy']:.1%}, best off-critical: "
        f"{max(r['train_accuracy'] for r in off):.1%})."
    )
    result.write_with(out, lambda p: _figure(p, curves))
    return result
