"""Glorot & Bengio 2010, "Understanding the difficulty of training deep feedforward neural
networks": Table 1 (Shapeset-3x2 test error), Fig. 2 (sigmoid activations during
training) and Figs. 6-7 (activation and back-propagated gradient histograms at init).

Setting, as in the paper: 5 hidden layers, softmax output, negative log-likelihood,
plain SGD with minibatches of 10 on fresh Shapeset-3x2 images (online), biases 0,
weights from the "standard" U[-1/sqrt(n), 1/sqrt(n)] or the "normalized" (Xavier)
U[-sqrt(6/(n_in+n_out)), +sqrt(6/(n_in+n_out))], the learning rate chosen on a
validation set. Reduced: hidden width (1000 in the paper), steps (the paper trains to
convergence on millions of images), a learning-rate grid of a few points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..datasets import shapeset
from ..model.apply import initialize
from ._progress import task
from ._result import Result, spread

#: Table 1, Shapeset column (test error, %).
PAPER = {("softsign", "standard"): 16.27, ("softsign", "normalized"): 16.06,
         ("tanh", "standard"): 27.15, ("tanh", "normalized"): 15.60,
         ("sigmoid", "standard"): 82.61}
ACTIVATIONS: dict[str, type[nn.Module]] = {"softsign": nn.Softsign, "tanh": nn.Tanh,
                                           "sigmoid": nn.Sigmoid}
SCHEMES = {"standard": "glorot_standard", "normalized": "xavier"}


@dataclass(frozen=True)
class Config:
    width: int = 256
    layers: int = 5
    steps: int = 20_000
    batch: int = 10
    lrs: tuple[float, ...] = (0.01, 0.03, 0.1)
    validation: int = 5_000
    test: int = 10_000
    snapshots: int = 20     # Fig. 2: activation statistics this many times during training
    #: the seeds of every claim: the rate is chosen on the first seed's validation
    #: error, then every seed runs at it (its own init and its own stream of images)
    seeds: tuple[int, ...] = (0, 1, 2)
    #: the run's own seed (set from ``seeds`` per run)
    seed: int = 0
    # Fig. 2 is its own run: the figure's 4 hidden layers, sigmoid, standard init, a
    # learning rate at which the top layer's saturation and recovery both fit the budget.
    fig2_layers: int = 4
    fig2_lr: float = 1.0
    fig2_steps: int = 150_000

    @classmethod
    def smoke(cls) -> Config:
        return cls(width=64, steps=1_500, lrs=(0.05,), validation=1_000, test=2_000,
                   snapshots=5, fig2_steps=3_000, seeds=(0,))

    def fig2(self) -> Config:
        """The configuration of the Fig. 2 run."""
        return replace(self, layers=self.fig2_layers, steps=self.fig2_steps,
                       snapshots=max(self.snapshots, 30))


def _mlp(cfg: Config, act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    d = 32 * 32
    for _ in range(cfg.layers):
        layers += [nn.Linear(d, cfg.width), act()]
        d = cfg.width
    return nn.Sequential(*layers, nn.Linear(d, 9))


def _hidden(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    out, h = [], x
    for layer in model:
        h = layer(h)
        if isinstance(layer, tuple(ACTIVATIONS.values())):
            out.append(h)
    return out


def _error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) != y).float().mean()) * 100


def _train(cfg: Config, act: str, scheme: str, lr: float, probe: torch.Tensor
           ) -> tuple[nn.Sequential, list[list[tuple[float, float]]]]:
    torch.manual_seed(cfg.seed)
    model = _mlp(cfg, ACTIVATIONS[act])
    initialize(model, SCHEMES[scheme], seed=cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    every = max(1, cfg.steps // cfg.snapshots)
    trace: list[list[tuple[float, float]]] = []  # per snapshot, per layer: (mean, std)
    with task(f"{act}, {scheme}, lr {lr:g}", cfg.steps) as advance:
        _steps(cfg, model, opt, probe, every, trace, advance)
    return model, trace


def _steps(cfg: Config, model: nn.Sequential, opt: torch.optim.Optimizer, probe: torch.Tensor,
           every: int, trace: list[list[tuple[float, float]]],
           advance: Callable[[int], None]) -> None:
    for step, (x, y) in enumerate(_online(cfg)):
        advance(1)
        if step % every == 0:
            with torch.no_grad():
                trace.append([(float(h.mean()), float(h.std())) for h in _hidden(model, probe)])
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        torch.autograd.backward(loss)
        opt.step()
        if not math.isfinite(loss.item()):
            break


def _online(cfg: Config) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Fresh images for every step (the paper trains online), generated 200 minibatches
    at a time (one vectorised call instead of one per minibatch); the same stream for
    every condition."""
    data = np.random.default_rng(cfg.seed + 1)
    left = cfg.steps
    while left:
        n = min(left, 200)
        x, y = (torch.from_numpy(a) for a in shapeset(n * cfg.batch, seed=data))
        for k in range(n):
            yield x[k * cfg.batch:(k + 1) * cfg.batch], y[k * cfg.batch:(k + 1) * cfg.batch]
        left -= n


def _histograms(cfg: Config, probe: torch.Tensor, target: torch.Tensor
                ) -> dict[str, list[np.ndarray]]:
    """Figs. 6-7: tanh activations and back-propagated gradients (w.r.t. each layer's
    pre-activation) at initialization, per hidden layer, standard vs normalized."""
    out: dict[str, list[np.ndarray]] = {}
    for scheme in SCHEMES:
        torch.manual_seed(cfg.seed)
        model = _mlp(cfg, nn.Tanh)
        initialize(model, SCHEMES[scheme], seed=cfg.seed)
        pres: list[torch.Tensor] = []
        acts: list[torch.Tensor] = []
        h = probe
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.Linear) and len(pres) < cfg.layers:
                h.retain_grad()
                pres.append(h)
            elif isinstance(layer, nn.Tanh):
                acts.append(h)
        torch.autograd.backward(nn.functional.cross_entropy(h, target))
        out[f"act_{scheme}"] = [a.detach().numpy().ravel() for a in acts]
        out[f"grad_{scheme}"] = [p.grad.numpy().ravel() for p in pres  # type: ignore[union-attr]
                                 ]
    return out


#: The top layer's mean counts as desaturated again when it is back above this, a fifth
#: of its 0.5 at init (in the paper's Fig. 2 it climbs back to about 0.2 after epoch
#: 100): a mean of 0.016 is a layer whose units still sit at 0.
DESATURATED = 0.1
#: updates in one of the paper's epochs (its Fig. 2 axis)
PAPER_EPOCH = 20_000


def _fig2_summary(fig2: Config, trace: list[list[tuple[float, float]]]) -> dict[str, Any]:
    """When the top layer's mean first falls below 0.05, its lowest, whether it
    desaturates (back above DESATURATED after its lowest), and the lower layers' range."""
    every = max(1, fig2.steps // fig2.snapshots)
    top = [s[-1][0] for s in trace]
    low = min(range(len(top)), key=top.__getitem__)
    first = next((k for k, m in enumerate(top) if m < 0.05), None)
    after = [k for k in range(low + 1, len(top)) if top[k] > DESATURATED]
    lower = [m for s in trace for (m, _) in s[:-1]]
    return {"top_at_init": top[0], "top_lowest": top[low], "lowest_at": low * every,
            "top_end": top[-1], "top_highest_after": max(top[low:]),
            "saturated_by": None if first is None else first * every,
            "recovered_at": after[0] * every if after else None,
            "lower_min": min(lower), "lower_max": max(lower), "every": every}


def _recovery(fig2: Config, runs: list[dict[str, Any]]) -> str:
    """The desaturation claim over the seeds' Fig. 2 runs, in words."""
    epochs = fig2.steps / PAPER_EPOCH
    back = [r["recovered_at"] for r in runs if r["recovered_at"] is not None]
    if len(back) == len(runs):
        return (f"yes: back above {DESATURATED} at step(s) "
                f"{', '.join(str(b) for b in back)} ({len(runs)} seeds)")
    highest = max(r["top_highest_after"] for r in runs)
    return (f"not seen: {len(back)} of {len(runs)} seeds back above {DESATURATED} within "
            f"{fig2.steps} updates ({epochs:.1f} of the paper's epochs, where its layer "
            f"recovers near epoch 100); after its lowest the mean reaches at most "
            f"{highest:.3f} (end: " + ", ".join(f"{r['top_end']:.3f}" for r in runs) + ")")


def _figures(out: Path, cfg: Config, fig2: Config,
             sigmoid_trace: list[list[tuple[float, float]]],
             hists: dict[str, list[np.ndarray]]) -> list[Path]:
    from ..report.plots import _pyplot

    plt = _pyplot()
    paths = []
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    steps = np.arange(len(sigmoid_trace)) * max(1, fig2.steps // fig2.snapshots)
    for k in range(fig2.layers):
        mean = np.array([s[k][0] for s in sigmoid_trace])
        std = np.array([s[k][1] for s in sigmoid_trace])
        ax.errorbar(steps, mean, yerr=std, capsize=2, label=f"layer {k + 1}")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("activation mean (bars: std)")
    ax.set_title(f"Fig. 2: {fig2.layers} x {fig2.width} sigmoid network, standard init, "
                 f"lr {cfg.fig2_lr:g}", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(out / "fig2_sigmoid_activations.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    for kind, label in (("act", "Fig. 6: tanh activations at init"),
                        ("grad", "Fig. 7: back-propagated gradients at init")):
        fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), dpi=110)
        for ax, scheme in zip(axes, SCHEMES, strict=True):
            for k, values in enumerate(hists[f"{kind}_{scheme}"]):
                ax.hist(values, bins=60, histtype="step", density=True, label=f"layer {k + 1}")
            ax.set_title(f"{scheme}", fontsize=9)
        axes[0].legend(fontsize=7)
        fig.suptitle(label, fontsize=10)
        fig.tight_layout()
        paths.append(out / f"fig{6 if kind == 'act' else 7}_{kind}_histograms.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


def run(config: Config | None = None, out: str | Path | None = None) -> Result:
    return _run(config or Config(), out)


def _run(cfg: Config, out: str | Path | None) -> Result:
    xv, yv = (torch.from_numpy(a) for a in shapeset(cfg.validation, seed=cfg.seed + 100))
    xt, yt = (torch.from_numpy(a) for a in shapeset(cfg.test, seed=cfg.seed + 200))
    probe = xt[:300]  # the paper's 300 fixed test examples
    rows: list[dict[str, Any]] = []
    first = replace(cfg, seed=cfg.seeds[0])
    for (act, scheme), paper in PAPER.items():
        best: tuple[float, float, nn.Sequential, Any] | None = None
        for lr in cfg.lrs:  # the rate by the first seed's validation error
            model, trace = _train(first, act, scheme, lr, probe)
            val = _error(model, xv, yv)
            if best is None or val < best[0]:
                best = (val, lr, model, trace)
        assert best is not None
        val, lr, model, trace = best
        tests, vals, tops = [_error(model, xt, yt)], [val], [trace[-1][-1][0]]
        for seed in cfg.seeds[1:]:
            model, trace = _train(replace(cfg, seed=seed), act, scheme, lr, probe)
            tests.append(_error(model, xt, yt))
            vals.append(_error(model, xv, yv))
            tops.append(trace[-1][-1][0])
        rows.append({"activation": act, "init": scheme, "lr": lr,
                     "validation_error": float(np.mean(vals)),
                     "test_error": float(np.mean(tests)), "test_error_range": spread(tests),
                     "paper_test_error": paper, "top_layer_mean_end": float(np.mean(tops))})
    by = {(r["activation"], r["init"]): r for r in rows}
    fig2 = cfg.fig2()
    traces = [_train(replace(fig2, seed=seed), "sigmoid", "standard", cfg.fig2_lr, probe)[1]
              for seed in cfg.seeds]
    sigmoid_trace = traces[0]  # the figure: the first seed's
    runs = [_fig2_summary(fig2, t) for t in traces]
    saturation = {**runs[0], "runs": runs,
                  "saturated_by": max((r["saturated_by"] for r in runs
                                       if r["saturated_by"] is not None), default=None)
                  if all(r["saturated_by"] is not None for r in runs) else None,
                  "top_lowest": max(r["top_lowest"] for r in runs),
                  "top_at_init": float(np.mean([r["top_at_init"] for r in runs])),
                  "lower_min": min(r["lower_min"] for r in runs),
                  "lower_max": max(r["lower_max"] for r in runs)}

    def err(a: str, s: str) -> str:
        return f"{by[a, s]['test_error']:.1f}"

    claims = [
        ("Table 1, Shapeset test error (%): Softsign / Softsign N / Tanh / Tanh N / Sigmoid",
         " / ".join(f"{v:.2f}" for v in PAPER.values()),
         " / ".join(err(a, s) for a, s in PAPER)),
        ("normalized init helps tanh", "Tanh N 15.60 < Tanh 27.15",
         f"Tanh N {err('tanh', 'normalized')} vs Tanh {err('tanh', 'standard')}"),
        ("sigmoid with standard init is worst", "82.61", f"{err('sigmoid', 'standard')} "
         f"(worst of ours: {max(rows, key=lambda r: r['test_error'])['activation']})"),
        ("Fig. 2: the top hidden layer of a sigmoid network saturates at 0 early",
         "layer 4's mean falls from 0.5 to ~0 within the first epochs",
         f"layer {fig2.layers}'s mean {saturation['top_at_init']:.3f} at init, below 0.05 by "
         f"step {saturation['saturated_by']} on every seed, lowest at most "
         f"{saturation['top_lowest']:.4f}"),
        ("... while the lower layers do not",
         "layers 1-3 stay well above 0",
         f"lower layers' means stay in [{saturation['lower_min']:.2f}, "
         f"{saturation['lower_max']:.2f}]"),
        ("... and slowly desaturates later", "around epoch 100 (of 20k updates)",
         _recovery(fig2, runs)),
    ]
    result = Result(
        "glorot2010",
        f"Glorot & Bengio 2010: {cfg.layers} hidden layers x {cfg.width} on Shapeset-3x2",
        rows, claims, config=asdict(cfg))
    result.notes = (
        f"Honest differences: hidden width {cfg.width} instead of 1000, {cfg.steps} SGD steps "
        "of 10 images instead of training to convergence, a learning-rate grid of "
        f"{len(cfg.lrs)} point(s); our errors are higher than the paper's, and the claim "
        "checked is the ordering (normalized tanh below standard tanh; sigmoid worst). "
        f"Fig. 2 comes from a run of its own ({fig2.layers} hidden layers of {fig2.width} "
        f"sigmoid units as in the figure, standard init, learning rate {cfg.fig2_lr:g}, "
        f"{fig2.steps} steps of 10 images: the paper's time axis is epochs of 20k updates, "
        "ours is updates). At the table's validated sigmoid learning rate (0.01, 5 "
        "layers) the top layer's mean only drifts down in 20000 steps (see "
        "top_layer_mean_end); at 0.1 it saturates as here but had not recovered after "
        f"60000 steps. Seeds {cfg.seeds}: each row's rate is chosen on the first seed's "
        "validation error, then every seed runs at it with its own init and images (mean, "
        "test_error_range beside); the Fig. 2 claims hold over every seed's run (the figure "
        f"shows the first). Desaturated means the top layer's mean back above {DESATURATED} "
        f"(the paper's Fig. 2 climbs back to about 0.2): the paper sees it near epoch 100, "
        f"{100 * PAPER_EPOCH} updates, {100 * PAPER_EPOCH / fig2.steps:.0f}x our Fig. 2 "
        "budget, so a 'not seen' here says our run is too short to tell, not that the "
        "paper is wrong; a mean that creeps from 0.0005 to 0.02 is still saturated."
    )
    result.details["fig2"] = saturation

    result.write_with(out, lambda p: _figures(p, cfg, fig2, sigmoid_trace,
                                              _histograms(cfg, probe, yt[:300])))
    return result
