"""LSUV in one forward pass.

Mishkin & Matas 2016 ("All you need is a good init"): orthogonal pre-initialization,
then, layer after layer in order, rescale each layer's weight until its output on a
batch has unit variance. The ``lsuv`` package does this by re-running the whole network
for every layer and every attempt (L to ~12L forward passes).

Here each layer is calibrated *while the batch flows through it*, once: a forward hook
sees the layer's output ``y = A + b`` (``A`` linear in the weight, ``b`` the bias), and
because ``A`` scales exactly with the weight, the scale ``s`` that gives
``std(s A + b) = target`` is solved in closed form (a quadratic in ``s``); the hook
returns the corrected output, so every later layer is calibrated on calibrated
activations. One forward pass in all, plus elementwise work per layer.
With ``center=True`` each output unit's batch mean is first removed through its bias
(the mean-correcting variant).

Temporary state is always removed: hooks, dropout switched off during the pass, and
buffers (batch-norm running statistics) are restored; if anything fails, the weights
are restored too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._inputs import as_inputs
from .._state import buffers_kept
from .._tensor_moments import mean_square, rounding_floor
from ._layer_output import on_layer_output
from .apply import InitReport, initialize
from .graph import stores_in_out

_CALIBRATED = (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)


@dataclass(frozen=True)
class LSUVRecord:
    """One calibrated layer: its output std before and after, and what was applied."""

    name: str
    std_before: float
    std_after: float
    scale: float
    mean_removed: float = 0.0


@dataclass
class LSUVReport:
    records: list[LSUVRecord]
    init: InitReport | None = field(default=None, repr=False)

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r.__dict__) for r in self.records]

    def __str__(self) -> str:
        lines = [f"{'layer':<40} {'std before':>11} {'std after':>10} {'scale':>9}"]
        lines += [f"{r.name:<40} {r.std_before:>11.4g} {r.std_after:>10.4g} {r.scale:>9.4g}"
                  for r in self.records]
        return "\n".join(lines)


def _channel_dim(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvNd):
        return 1 if out.dim() > 1 else 0
    return out.dim() - 1  # Linear and attention: features last


def _weight_and_bias(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(module, nn.MultiheadAttention):
        return module.out_proj.weight, module.out_proj.bias
    return module.weight, module.bias  # type: ignore[return-value]


def _solve_scale(a: torch.Tensor, b: torch.Tensor, target: float) -> float:
    """s > 0 with std(s a + b) = target, both over all elements (a quadratic in s)."""
    a, b = a.double().flatten(), b.double().flatten()
    ac, bc = a - a.mean(), b - b.mean()
    n = a.numel()
    va, cab, vb = (ac @ ac) / (n - 1), (ac @ bc) / (n - 1), (bc @ bc) / (n - 1)
    disc = float(cab**2 - va * (vb - target**2))
    if va <= 0 or disc < 0:
        return 1.0 if va <= 0 else float(target / va.sqrt())
    return float((-cab + math.sqrt(disc)) / va)


def lsuv(
    model: nn.Module,
    batch: Any,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    center: bool = False,
    orthogonal_init: bool = True,
    seed: int | None = None,
    example_inputs: Any = None,
) -> LSUVReport:
    """Calibrate every Linear, Conv and MultiheadAttention layer's output to
    ``target_std`` on ``batch``, in one forward pass.

    Args:
        model: the model (its mode is kept; dropout is off during the pass).
        batch: a tensor, a tuple of positional inputs or a dict of keyword inputs.
        target_std: the output std each layer is scaled to.
        tol: accepted deviation of a layer's output std from ``target_std``; a layer
            whose output is constant (up to rounding) or holds NaN or inf cannot be
            calibrated and raises, leaving the model as it was.
        center: also remove each output unit's batch mean through its bias.
        orthogonal_init: first ``initialize(model, "orthogonal")`` (Mishkin & Matas).
        seed: seed of the orthogonal pre-initialization.
        example_inputs: for the layer graph of the pre-initialization, if torch.fx cannot
            trace the model (defaults to ``batch``).

    >>> import torch
    >>> net = torch.nn.Sequential(*[m for _ in range(5) for m in
    ...                             (torch.nn.Linear(32, 32), torch.nn.ReLU())])
    >>> x = torch.randn(256, 32)
    >>> report = lsuv(net, x, seed=0)
    >>> all(abs(r.std_after - 1) < 1e-4 for r in report.records)
    True
    """
    if not target_std > 0 or not math.isfinite(target_std):
        raise ValueError(f"target_std must be a positive finite number; got {target_std!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0; got {tol!r}")
    inputs = as_inputs(batch, "lsuv: batch")
    layers = [(n, m) for n, m in model.named_modules()
              if (isinstance(m, _CALIBRATED) or stores_in_out(m))  # (GPT-2's Conv1D)
              and not isinstance(m, nn.modules.linear.NonDynamicallyQuantizableLinear)]
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)
                and m.training]
    init_report = None
    records: list[LSUVRecord] = []
    handles = []
    try:
        if orthogonal_init:
            init_report = initialize(model, "orthogonal", seed=seed,
                                     example_inputs=example_inputs if example_inputs
                                     is not None else batch)
        calibrated: set[int] = set()  # weights scaled already (shared by two modules)
        for name, module in layers:
            handles.append(on_layer_output(
                module, _calibrating_hook(name, records, target_std, tol, center, calibrated)))
        for m in dropouts:
            m.eval()
        with torch.no_grad(), buffers_kept(model):
            inputs.call(model)
    except BaseException:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(weights[n])
        raise
    finally:
        for h in handles:
            h.remove()
        for m in dropouts:
            m.train()
    return LSUVReport(records, init_report)


def _calibrating_hook(
    name: str, records: list[LSUVRecord], target: float, tol: float, center: bool,
    calibrated: set[int],
) -> Any:
    done: set[int] = set()

    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        if id(module) in done:  # a module called twice is calibrated on its first call
            return None
        done.add(id(module))
        out = output[0] if isinstance(output, tuple) else output
        weight, bias = _weight_and_bias(module)
        if id(weight) in calibrated:  # tied to a module calibrated before: scaled once
            return None
        calibrated.add(id(weight))
        # NaN or inf exactly when a value is not finite (an empty output: nothing to check)
        ms = mean_square(out) if out.numel() else 0.0
        if not math.isfinite(ms):
            raise ValueError(
                f"lsuv: layer {name!r} produces NaN or inf on this batch (in the batch, in "
                "a weight, or by overflow): nothing can be calibrated on it; the model is "
                "left as it was")
        dim = _channel_dim(module, out)
        shape = [1] * out.dim()
        shape[dim] = -1
        before = float(out.std())
        floor = rounding_floor(out.dtype) * math.sqrt(ms)
        mean_removed = 0.0
        b = bias.view(shape).expand_as(out) if bias is not None else None
        a = out if b is None else out - b  # the part linear in the weight
        if center and bias is not None:
            # Scale the weight, then set the bias to cancel each unit's mean: the output
            # is s * (A - mean(A)), so s = target / std(A - mean(A)) exactly.
            reduce = [d for d in range(out.dim()) if d != dim]
            unit_mean = a.mean(dim=reduce)
            a = a - unit_mean.view(shape)
            std_a = float(a.std())
            if std_a <= floor:  # rows identical up to rounding: s would be 1 / noise
                raise _constant(name)
            s = target / std_a
            mean_removed = float(out.mean(dim=reduce).abs().mean())
            bias.copy_(-s * unit_mean)
            out, after = s * a, target
        elif b is None or not bool(bias.any()):  # type: ignore[union-attr]
            # The common case (biases zero after the pre-initialization): y = A exactly.
            if before <= floor:
                raise _constant(name)
            s = target / before
            out, after = out * s, target
        else:
            if float(a.std()) <= floor:
                raise _constant(name)
            s = _solve_scale(a, b, target)
            out = s * a + b
            after = float(out.std())
        weight.mul_(s)
        if abs(after - target) > tol:
            raise ValueError(
                f"lsuv: layer {name!r} reached output std {after:.4g}, outside target "
                f"{target} +- {tol}: its bias alone has std above the target"
            )
        records.append(LSUVRecord(name, before, after, s, mean_removed))
        if isinstance(output, tuple):
            return (out, *output[1:])
        return out

    return hook


def _constant(name: str) -> ValueError:
    return ValueError(
        f"lsuv: layer {name!r} produces a constant output on this batch (its values do not "
        "vary beyond rounding); its scale cannot be calibrated (identical or all-zero "
        "inputs, or zero weights?); the model is left as it was"
    )


def lsuv_dataloader(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    batches: int = 1,
    inputs_of: Any = None,
    **kwargs: Any,
) -> LSUVReport:
    """:func:`lsuv` on the first ``batches`` batches of a data loader, concatenated.

    ``inputs_of(batch)`` picks the model input from what the loader yields (default: the
    first element of a tuple or list, e.g. ``x`` of ``(x, y)``; the batch itself
    otherwise). Other keyword arguments go to :func:`lsuv`.
    """
    if batches < 1:
        raise ValueError(f"batches must be >= 1; got {batches!r}")
    pick = inputs_of or (lambda b: b[0] if isinstance(b, (tuple, list)) else b)
    taken = []
    for i, b in enumerate(loader):
        if i == batches:
            break
        taken.append(pick(b))
    if not taken:
        raise ValueError("lsuv_dataloader: the loader yielded no batch")
    return lsuv(model, torch.cat(taken), **kwargs)
