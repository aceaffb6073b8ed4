"""Yang et al. 2021 ("Tensor Programs V", Fig. 1 and sec. 6): under muP the best learning
rate found on a narrow model holds on a wide one; under the standard parametrization (SP)
it moves as the model widens.

Two synthetic tasks, generated here: a teacher-MLP classification (inputs N(0, I), labels
the argmax of a random tanh teacher's 10 outputs) for a 4-layer ReLU MLP, and a random
Markov-chain language (each token's successor drawn from a sparse Dirichlet row) for a
small pre-LN GPT (untied readout, fused QKV). Each (parametrization, width, learning
rate, seed) trains with Adam for a fixed number of steps, run with
:func:`initscope.sweep`; the loss is the mean training loss of the last tenth of the
steps. SP: "auto" and one rate for every parameter. muP: :func:`initscope.mup` on base
width 64 (readout started at zero), the same scheme at the base. The best rate per
width is the grid point of least loss, mean of the seeds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._sweep import sweep
from ..model._mup import mup
from ..model.apply import initialize
from ._plots import saved
from ._result import Result, spread

BASE = 64
TASKS = ("mlp", "gpt")
PARAMETRIZATIONS = ("sp", "mup")


@dataclass(frozen=True)
class Config:
    widths: tuple[int, ...] = (64, 256, 1024)
    #: log2 of the learning rates (powers of 2)
    mlp_lrs: tuple[int, ...] = tuple(range(-15, -4))
    gpt_lrs: tuple[int, ...] = tuple(range(-14, -4))
    mlp_steps: int = 150
    gpt_steps: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    tasks: tuple[str, ...] = TASKS

    @classmethod
    def smoke(cls) -> Config:
        return cls(widths=(64, 128, 256), mlp_lrs=(-10, -8, -6), gpt_lrs=(-9, -7),
                   mlp_steps=20, gpt_steps=8, seeds=(0,))


# --- the tasks -----------------------------------------------------------------------

IN, CLASSES = 32, 10
VOCAB, SEQ, GPT_BATCH = 32, 16, 4


def _mlp(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(IN, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(),
                         nn.Linear(d, d), nn.ReLU(), nn.Linear(d, CLASSES))


def _teacher_batch(g: torch.Generator, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs N(0, I) and the labels of a fixed random tanh teacher (seeded apart from
    the student's seed: every run learns the same function)."""
    t = torch.Generator().manual_seed(12345)
    w1 = torch.randn(IN, 64, generator=t) / math.sqrt(IN)
    w2 = torch.randn(64, CLASSES, generator=t) / math.sqrt(64)
    x = torch.randn(n, IN, generator=g)
    return x, (torch.tanh(x @ w1 * 2.0) @ w2).argmax(1)


class _Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        out: torch.Tensor = x + self.proj(F.gelu(self.fc(self.ln_2(x))))
        return out


class _GPT(nn.Module):
    """A pre-LN decoder (one block, 4 heads: d_head grows with width), untied readout."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, d), nn.Embedding(SEQ, d)
        self.block = _Block(d, 4)
        self.ln_f, self.head = nn.LayerNorm(d), nn.Linear(d, VOCAB, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        out: torch.Tensor = self.head(self.ln_f(self.block(x)))
        return out


def _markov_batch(g: torch.Generator, n: int) -> torch.Tensor:
    """Sequences of a fixed random Markov chain (each row Dirichlet(0.1): a few likely
    successors per token, entropy well under ln 32)."""
    t = torch.Generator().manual_seed(54321)
    alpha = torch.full((VOCAB, VOCAB), 0.1)
    gam = torch._standard_gamma(alpha, generator=t)
    trans = gam / gam.sum(1, keepdim=True)
    ids = torch.empty(n, SEQ, dtype=torch.long)
    ids[:, 0] = torch.randint(0, VOCAB, (n,), generator=g)
    for i in range(1, SEQ):
        ids[:, i] = torch.multinomial(trans[ids[:, i - 1]], 1, generator=g)[:, 0]
    return ids


# --- one trial -----------------------------------------------------------------------

def trial(task: str, parametrization: str, width: int, log2_lr: int, seed: int,
          steps: int) -> dict[str, Any]:
    """Train one model; the mean loss of the last tenth of the steps (inf if diverged)."""
    build = _mlp if task == "mlp" else _GPT
    torch.manual_seed(seed)
    model = build(width)
    lr = 2.0 ** log2_lr
    if parametrization == "mup":
        plan = mup(model, base=build(BASE), optimizer="adam", seed=seed, readout_zero=True)
        opt = torch.optim.Adam(plan.param_groups(lr=lr))
    else:
        initialize(model, "auto", seed=seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(1000 + seed)
    losses = []
    for _ in range(steps):
        loss: torch.Tensor
        if task == "mlp":
            x, y = _teacher_batch(g, 128)
            loss = F.cross_entropy(model(x), y)
        else:
            ids = _markov_batch(g, GPT_BATCH)
            logits = model(ids)
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        losses.append(float(loss.detach()))
    tail = losses[-max(1, steps // 10):]
    final = float(np.mean(tail))
    return {"loss": final if math.isfinite(final) else math.inf}


def _trial(task: str, parametrization: str, width: int, log2_lr: int, seed: int,
           cfg: Config) -> dict[str, Any]:
    steps = cfg.mlp_steps if task == "mlp" else cfg.gpt_steps
    return trial(task, parametrization, width, log2_lr, seed, steps)


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    cfg = config or Config()
    runs: list[dict[str, Any]] = []
    for task in cfg.tasks:
        lrs = list(cfg.mlp_lrs if task == "mlp" else cfg.gpt_lrs)
        table = sweep(lambda **kw: _trial(cfg=cfg, **kw),
                      {"task": [task], "parametrization": list(PARAMETRIZATIONS),
                       "width": list(cfg.widths), "log2_lr": lrs, "seed": list(cfg.seeds)},
                      backend="serial")
        runs += table.to_dict("records") if hasattr(table, "to_dict") else list(table)
    rows, best = _summaries(runs, cfg)
    claims = []
    for task in cfg.tasks:
        grid = cfg.mlp_lrs if task == "mlp" else cfg.gpt_lrs
        mu = [best[task, "mup", w] for w in cfg.widths]
        sp = [best[task, "sp", w] for w in cfg.widths]

        def edge(bests: list[int], grid: tuple[int, ...] = grid) -> str:
            ends = sorted({b for b in bests if b in (min(grid), max(grid))})
            return "" if not ends else \
                f"; 2^{', 2^'.join(map(str, ends))} is the grid's end: it may move further"

        m = cfg.widths[-1] / cfg.widths[0]
        claims.append((
            f"{task}: the best LR under muP holds across widths "
            f"{', '.join(map(str, cfg.widths))}",
            "moves at most one grid step (x2)",
            "2^" + ", 2^".join(str(b) for b in mu) + f" (moves {max(mu) - min(mu)} "
            f"step(s){edge(mu)})"))
        claims.append((
            f"{task}: under SP it moves as the model widens",
            f"by about log2(m) = {math.log2(m):.0f} steps over m = {m:g}",
            "2^" + ", 2^".join(str(b) for b in sp) + f" (moves {max(sp) - min(sp)} "
            f"step(s){edge(sp)})"))
        tuned = {p: min(r["loss"] for r in rows if r["task"] == task and r["width"] ==
                        cfg.widths[-1] and r["parametrization"] == p)
                 for p in PARAMETRIZATIONS}
        claims.append((f"{task}: tuned loss at width {cfg.widths[-1]}",
                       "the claim is transfer, not a lower loss",
                       f"muP {tuned['mup']:.3f}, SP {tuned['sp']:.3f}"))
    result = Result("mup-transfer", "Yang et al. 2021: learning-rate transfer across width "
                    "under muP", [r for r in rows if r["best"]], claims, config=asdict(cfg),
                    details={"runs": runs, "grid": rows})
    result.notes = (
        f"Adam, base width {BASE}; loss = mean training loss over the last tenth of the "
        f"steps ({cfg.mlp_steps} for the MLP, {cfg.gpt_steps} for the GPT), mean over "
        f"{len(cfg.seeds)} seeds (range in brackets); the table lists the best rate per "
        "task, parametrization and width; every grid point is in the figure and in "
        "details['grid']. A loss that is not finite counts as diverged. Float32 "
        "kernels round differently on another CPU: a loss moves in the third decimal, "
        "which can swap two neighbouring rates whose losses are that close.")
    result.write_with(out, lambda p: _figure(p, rows, cfg))
    return result


def _summaries(runs: list[dict[str, Any]], cfg: Config
               ) -> tuple[list[dict[str, Any]], dict[tuple[str, str, int], int]]:
    rows: list[dict[str, Any]] = []
    best: dict[tuple[str, str, int], int] = {}
    for task in cfg.tasks:
        for par in PARAMETRIZATIONS:
            for w in cfg.widths:
                cell = [r for r in runs if (r["task"], r["parametrization"], r["width"]) ==
                        (task, par, w)]
                lrs = sorted({r["log2_lr"] for r in cell})
                means = {lr: float(np.mean([r["loss"] for r in cell if r["log2_lr"] == lr]))
                         for lr in lrs}
                b = min(lrs, key=lambda lr: (means[lr], lr))
                best[task, par, w] = b
                for lr in lrs:
                    losses = [r["loss"] for r in cell if r["log2_lr"] == lr]
                    rows.append({"task": task, "parametrization": par, "width": w,
                                 "log2_lr": lr, "loss": means[lr],
                                 "loss range": spread(losses), "best": lr == b,
                                 "seeds": len(losses)})
    return rows, best


def _figure(out: Path, rows: list[dict[str, Any]], cfg: Config) -> Path:
    """Loss against log2 LR, one panel per task and parametrization, a line per width;
    the best rate of each width marked."""
    from ..report.plots import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(len(cfg.tasks), 2, figsize=(10, 3.6 * len(cfg.tasks)),
                             dpi=100, squeeze=False)
    for i, task in enumerate(cfg.tasks):
        for j, par in enumerate(PARAMETRIZATIONS):
            ax = axes[i][j]
            for k, w in enumerate(cfg.widths):
                cell = [r for r in rows if (r["task"], r["parametrization"], r["width"]) ==
                        (task, par, w)]
                xs = [r["log2_lr"] for r in cell]
                ys = [min(r["loss"], 10.0) for r in cell]
                ax.plot(xs, ys, "o-", color=f"C{k}", lw=1.2, ms=3, label=f"width {w}")
                b = next(r for r in cell if r["best"])
                ax.plot([b["log2_lr"]], [b["loss"]], "*", color=f"C{k}", ms=12)
            ax.set(xlabel="log2 learning rate", ylabel="training loss (mean of seeds)",
                   title=f"{task}, {'muP' if par == 'mup' else 'SP'}")
            lo = min(r["loss"] for r in rows if r["task"] == task)
            ax.set_ylim(lo * 0.9, lo * 2.5)
            ax.legend(fontsize=7)
    return saved(fig, out, "mup-transfer.png")
