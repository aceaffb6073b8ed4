"""The coordinate check (Yang et al. 2021, "Tensor Programs V", sec. 6 and the ``mup``
package's ``get_coord_data``): train the same model at several widths for a few steps
and watch the size of every layer's output. Under a parametrization that transfers
(muP) each layer's typical coordinate stays the same size at every width; under the
standard one the update of a layer grows with width (an Adam step moves every weight by
~lr, so a hidden layer's output changes ~ lr x fan_in), and some outputs blow up as the
model widens.

Measured per leaf module: l1 = mean |y| and rms = sqrt(mean y^2) of its output on a
fixed batch (a query projection's output without the 1/d_head the plan folded into it:
muP's coordinate), at init (step 0) and after each of ``steps`` updates, averaged over seeds;
then the least-squares slope of log2 l1 against log2 width per module and step: 0 means
width-independent, 0.5 grows as sqrt(width).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._inputs import as_inputs, classification_loss, main_output
from .._tabular import dataframe

#: |slope| above this after the first update is a verdict (the issue's bound: 0.1)
SLOPE_TOL = 0.1


@dataclass(frozen=True)
class CoordVerdict:
    module: str
    step: int
    slope: float
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class CoordCheck:
    """The coordinate check's measurements (``rows``: module, width, seed, step, l1,
    rms), the slope of log2 l1 on log2 width per (module, step), and the verdicts."""

    widths: list[int]
    steps: int
    parametrization: str
    rows: list[dict[str, Any]] = field(repr=False)
    slopes: dict[tuple[str, int], float] = field(repr=False)
    verdicts: list[CoordVerdict]

    def slope(self, module: str, step: int | None = None) -> float:
        """The slope of ``module``'s output size against width after ``step`` updates
        (default: the last)."""
        return self.slopes[module, self.steps if step is None else step]

    def to_dataframe(self) -> Any:
        return dataframe(self.rows, "CoordCheck.to_dataframe")

    def __str__(self) -> str:
        modules = list(dict.fromkeys(m for m, _ in self.slopes))
        head = "module".ljust(max(len(m) for m in [*modules, "module"]))
        lines = [f"coordinate check ({self.parametrization}), widths {self.widths}: "
                 "slope of log2 mean|y| on log2 width, per step",
                 head + "  " + "  ".join(f"step {t:<3d}" for t in range(self.steps + 1))]
        for m in modules:
            lines.append(m.ljust(len(head)) + "  " + "  ".join(
                f"{self.slopes[m, t]:+8.2f}" for t in range(self.steps + 1)))
        lines += [str(v) for v in self.verdicts] or ["no layer's size depends on width"]
        return "\n".join(lines)


def _slope(widths: Sequence[int], values: Sequence[float]) -> float:
    x = np.log2(np.asarray(widths, dtype=float))
    y = np.log2(np.maximum(np.asarray(values, dtype=float), 1e-300))
    if not np.all(np.isfinite(y)):
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if n and not any(m.children())]


def _unscaled(_: str) -> float:
    return 1.0


def _measure(model: nn.Module, batch: Any, scale: Callable[[str], float] = _unscaled
             ) -> dict[str, tuple[float, float]]:
    """l1 and rms of every leaf module's output on ``batch``, divided by ``scale(name)``
    (hooks removed after)."""
    out: dict[str, tuple[float, float]] = {}
    handles = []

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, args: Any, y: Any) -> None:
            t = y if isinstance(y, torch.Tensor) else next(
                (v for v in (y if isinstance(y, (tuple, list)) else ()) if
                 isinstance(v, torch.Tensor)), None)
            if t is not None and t.is_floating_point() and t.numel():
                d = t.detach().double() / scale(name)
                out[name] = (float(d.abs().mean()), float(d.pow(2).mean().sqrt()))
        return record

    try:
        for name, m in _leaves(model):
            handles.append(m.register_forward_hook(hook(name)))
        with torch.no_grad():
            as_inputs(batch, "batch").call(model)
    finally:
        for h in handles:
            h.remove()
    return out


def _loss(output: Any, target: Any) -> torch.Tensor:
    logits = main_output(output)
    if logits is None:
        raise ValueError("coord_check: the model's output has no floating-point tensor to "
                         "train on; pass loss_fn")
    if target is None:
        return logits.float().pow(2).mean()
    return classification_loss(logits, target)


def coord_check(model_fn: Callable[[int], nn.Module], widths: Sequence[int], *, base: int,
                batch: Any, target: Any = None, steps: int = 3, optimizer: str = "adam",
                lr: float = 1e-2, parametrization: str = "mup", scheme: str = "auto",
                seeds: Sequence[int] = (0, 1, 2), readout_zero: bool = False,
                loss_fn: Callable[[Any], torch.Tensor] | None = None) -> CoordCheck:
    """Train ``model_fn(width)`` for ``steps`` steps on ``batch`` at every width and
    measure each layer's output size; see the module docstring.

    Args:
        model_fn: builds the model at a width.
        widths: at least 3 widths.
        base: the base width (muP's; under "sp" only a label).
        batch: the model's input (a tensor, tuple or dict), the same at every step.
        target: class targets for cross-entropy (a language model's (B, T) tokens
            against (B, T, V) logits too); None trains on the mean square of the output.
        optimizer: "adam", "adamw" or "sgd".
        parametrization: "mup" (:func:`initscope.mup`) or "sp" (``scheme`` and one rate
            for every parameter).
        readout_zero: muP's readout starts at zero (:func:`initscope.mup`).
        loss_fn: the loss from the model's output, instead of the above.

    >>> from torch import nn
    >>> def mlp(d): return nn.Sequential(nn.Linear(8, d), nn.ReLU(), nn.Linear(d, d),
    ...                                  nn.ReLU(), nn.Linear(d, 4))
    >>> x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    >>> cc = coord_check(mlp, [64, 128, 256], base=64, batch=x, seeds=(0,))
    >>> abs(cc.slope("2")) < 0.1
    True
    """
    from ..model._mup import mup
    from ..model.apply import initialize

    widths = [int(w) for w in widths]
    if len(widths) < 3 or len(set(widths)) != len(widths):
        raise ValueError(f"widths {widths}: at least 3 different widths")
    if parametrization not in ("mup", "sp"):
        raise ValueError(f"parametrization {parametrization!r}: 'mup' or 'sp'")
    if optimizer not in ("adam", "adamw", "sgd"):
        raise ValueError(f"optimizer {optimizer!r}: one of adam, adamw, sgd")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    rows: list[dict[str, Any]] = []
    base_model = model_fn(base) if parametrization == "mup" else None  # mup() copies it
    tied_heads: set[str] = set()
    for seed in seeds:
        for width in widths:
            model = model_fn(width)
            scale: Callable[[str], float] = _unscaled
            if base_model is not None:
                plan = mup(model, base=base_model, optimizer=optimizer, scheme=scheme,
                           seed=seed, readout_zero=readout_zero, example_inputs=batch)
                groups = plan.param_groups(lr=lr)
                scale = plan.folded
                tied_heads.update(h for e in plan for h in e.hooked)
            else:
                initialize(model, scheme, seed=seed, example_inputs=batch)
                groups = [{"params": list(model.parameters()), "lr": lr}]
            opt = (torch.optim.SGD(groups) if optimizer == "sgd" else
                   torch.optim.AdamW(groups) if optimizer == "adamw" else torch.optim.Adam(groups))
            for step in range(steps + 1):
                for name, (l1, rms) in _measure(model, batch, scale).items():
                    rows.append({"module": name, "width": width, "seed": seed, "step": step,
                                 "l1": l1, "rms": rms})
                if step == steps:
                    break
                out = as_inputs(batch, "batch").call(model)
                loss = loss_fn(out) if loss_fn is not None else _loss(out, target)
                opt.zero_grad()
                torch.autograd.backward(loss)
                opt.step()
    sizes: dict[tuple[str, int, int], list[float]] = {}
    for r in rows:
        sizes.setdefault((r["module"], r["step"], r["width"]), []).append(r["l1"])
    slopes: dict[tuple[str, int], float] = {}
    for name in dict.fromkeys(r["module"] for r in rows):
        for step in range(steps + 1):
            slopes[name, step] = _slope(widths, [float(np.mean(sizes[name, step, w]))
                                                 for w in widths])
    verdicts = []
    for name in dict.fromkeys(m for m, _ in slopes):
        s0 = slopes[name, 0]
        for step in range(1, steps + 1):
            s = slopes[name, step]
            if math.isfinite(s) and abs(s) <= SLOPE_TOL:
                continue
            cause = ("not finite at some width: the update diverged" if not math.isfinite(s)
                     else "a readout tied to the input embedding: its logits keep muP's "
                     "vanishing terms W0 x/m and W0 dx/m (~ width^-1/2), which a zero start "
                     "would remove but a matrix that is also the embedding cannot have; "
                     "muP's own finite-width behaviour, smaller with more steps"
                     if name in tied_heads and s < 0 else
                     "at init it shrinks as muP's readout does (std 1/width) and the "
                     "updates have not caught up yet: more steps, a larger rate, or "
                     "readout_zero=True" if parametrization == "mup" and s0 < -SLOPE_TOL
                     and s < 0 else
                     "already at init: its init is not scaled with width"
                     if abs(s0) > SLOPE_TOL else
                     "not at init: the update grows with width (a learning rate not scaled "
                     "for width, here or upstream)" if s > 0 else
                     "not at init: the update shrinks with width (a learning rate scaled "
                     "down too far)")
            verdicts.append(CoordVerdict(name, step, s, (
                f"{name} output {'grows' if s > 0 else 'shrinks'} as width^{s:.2g} after "
                f"{step} step{'s' * (step > 1)} ({parametrization}, {optimizer}, lr {lr:g}): "
                f"{cause}")))
            break
    return CoordCheck(widths, steps, parametrization, rows, slopes, verdicts)
