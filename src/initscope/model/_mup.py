"""muP without model surgery: width dimensions from a base model, each parameter's role
from the layer graph, the init written in place, and the per-parameter learning rates,
Adam eps and weight decay as optimizer parameter groups (the rules:
:mod:`initscope._core.mup`).

The ``mup`` package (Yang et al. 2021) needs ``MuReadout`` in place of the output layer
and an ``infshape`` attribute on every tensor, which FSDP and ``torch.compile`` drop.
Here the readout's 1/width multiplier is folded into its tensor (init, LR, eps), so the
model keeps its classes; only a readout tied to the input embedding needs a forward
multiplier, a hook the plan lists (and re-attaches after loading a checkpoint). The
width dimensions live in the plan (``state_dict``), never on tensors.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from .._core import mup as rules
from .._tabular import dataframe
from .apply import InitReport, initialize
from .graph import out_axis
from .policies import Policy

Shapes = Mapping[str, tuple[int, ...] | torch.Size]


@dataclass(frozen=True)
class MupEntry:
    """One parameter of the plan: its role, which dimensions grow (``base_shape`` holds
    the base size of a growing dimension and None for a fixed one), its multipliers."""

    name: str
    role: str
    shape: tuple[int, ...]
    base_shape: tuple[int | None, ...]
    rule: rules.MupRule
    init_std: float | None
    #: modules whose input the forward multiplier ``rule.forward`` scales (a hook)
    hooked: tuple[str, ...] = ()


@dataclass
class MupPlan:
    """What :func:`mup` did and what the optimizer needs: per parameter its role, width
    multiplier, init std and (lr, eps, weight decay) multipliers; the forward hooks it
    attached. ``param_groups(lr=...)`` is what ``torch.optim.Adam/AdamW/SGD`` take."""

    optimizer: str
    entries: list[MupEntry]
    report: InitReport = field(repr=False)
    model: nn.Module = field(repr=False)
    _handles: list[Any] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[MupEntry]:
        return iter(self.entries)

    def param_groups(self, lr: float, weight_decay: float = 0.0, eps: float = 1e-8,
                     **options: Any) -> list[dict[str, Any]]:
        """Optimizer parameter groups: every parameter once, its group's ``lr``,
        ``weight_decay`` (and ``eps`` for Adam) the base values times its multipliers;
        ``options`` (betas, momentum, ...) go to every group unchanged."""
        params = dict(self.model.named_parameters())
        groups: dict[tuple[float, float, float], dict[str, Any]] = {}
        for e in self.entries:
            r = e.rule
            key = (r.lr, r.weight_decay, r.eps)
            if key not in groups:
                group: dict[str, Any] = {"params": [], "lr": lr * r.lr,
                                         "weight_decay": weight_decay * r.weight_decay,
                                         **options}
                if self.optimizer != "sgd":
                    group["eps"] = eps * r.eps
                groups[key] = group
            groups[key]["params"].append(params[e.name])
        return list(groups.values())

    def attach(self, model: nn.Module | None = None) -> MupPlan:
        """(Re-)attach the forward multipliers to ``model`` (default: the plan's), e.g.
        after loading a checkpoint into a freshly built model; idempotent."""
        self.detach()
        target = self.model if model is None else model
        modules = dict(target.named_modules())
        for e in self.entries:
            for name in e.hooked:
                self._handles.append(modules[name].register_forward_pre_hook(
                    _scale_input(e.rule.forward)))
        self.model = target
        return self

    def detach(self) -> None:
        """Remove the forward multipliers (the model is then the standard one)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def state_dict(self) -> dict[str, Any]:
        """What to save with a checkpoint: the optimizer kind and every parameter's base
        shape (the width dimensions); :func:`mup_from_state_dict` rebuilds the plan."""
        return {"optimizer": self.optimizer,
                "base_shapes": {e.name: list(e.base_shape) for e in self.entries}}

    def to_records(self) -> list[dict[str, Any]]:
        return [{"name": e.name, "role": e.role, "kind": e.rule.kind,
                 "shape": e.shape, "base_shape": e.base_shape,
                 "width_mult": e.rule.width_mult, "init_std": e.init_std,
                 "lr_mult": e.rule.lr, "eps_mult": e.rule.eps,
                 "weight_decay_mult": e.rule.weight_decay,
                 "forward_mult": e.rule.forward, "hooks": ",".join(e.hooked)}
                for e in self.entries]

    def to_dataframe(self) -> Any:
        return dataframe(self.to_records(), "MupPlan.to_dataframe")

    def __str__(self) -> str:
        head = ("parameter", "role", "kind", "width_mult", "init std", "lr", "eps", "wd",
                "forward")
        rows = [head] + [
            (e.name, e.role, e.rule.kind, f"{e.rule.width_mult:g}",
             "-" if e.init_std is None else f"{e.init_std:.4g}", f"x{e.rule.lr:.4g}",
             f"x{e.rule.eps:.4g}" if self.optimizer != "sgd" else "-",
             f"x{e.rule.weight_decay:.4g}",
             f"x{e.rule.forward:.4g} (hook: {', '.join(e.hooked)})" if e.hooked else "-")
            for e in self.entries]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        hooks = sum(len(e.hooked) for e in self.entries)
        return "\n".join([
            *lines, f"muP for {self.optimizer}: {len(self.entries)} parameters, "
            f"{sum(e.rule.kind == 'hidden' for e in self.entries)} hidden, "
            f"{sum(e.rule.kind == 'readout' for e in self.entries)} readout, "
            f"{hooks} forward multiplier(s) as hooks"])


def _scale_input(theta: float) -> Any:
    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0] * theta, *args[1:])

    return hook


def _shapes(x: nn.Module | Shapes, what: str) -> dict[str, tuple[int, ...]]:
    if isinstance(x, nn.Module):
        return {n: tuple(p.shape) for n, p in x.named_parameters()}
    if isinstance(x, Mapping):
        return {str(n): tuple(int(d) for d in s) for n, s in x.items()}
    raise TypeError(f"{what}: an nn.Module or a dict of parameter shapes; got "
                    f"{type(x).__name__}")


def base_shapes(model: nn.Module, base: nn.Module | Shapes, delta: nn.Module | Shapes | None
                = None) -> dict[str, tuple[int | None, ...]]:
    """Per parameter of ``model``: the base size of each dimension that grows with width,
    None for one that does not. Without ``delta`` a dimension grows when ``model``'s size
    differs from ``base``'s (the ``mup`` package's rule: at width == base nothing grows);
    with ``delta`` (a model of another width) when ``delta``'s differs from ``base``'s."""
    target = _shapes(model, "model")
    bs = _shapes(base, "base")
    ds = _shapes(delta, "delta") if delta is not None else None
    for other, what in ((bs, "base"), (ds, "delta")):
        if other is None:
            continue
        missing, extra = sorted(set(target) - set(other)), sorted(set(other) - set(target))
        if missing or extra:
            raise ValueError(f"{what} does not have the model's parameters: missing "
                             f"{missing[:5]}, extra {extra[:5]}")
        bad = [n for n in target if len(other[n]) != len(target[n])]
        if bad:
            raise ValueError(f"{what}: {bad[0]} has shape {other[bad[0]]}, the model "
                             f"{target[bad[0]]} (a different number of dimensions)")
    out = {}
    for name, shape in target.items():
        ref = ds[name] if ds is not None else shape
        out[name] = tuple(b if b != r else None for b, r in zip(bs[name], ref, strict=True))
    return out


def mup(model: nn.Module, base: nn.Module | Shapes, *, optimizer: str = "adam",
        scheme: str | Policy = "auto", seed: int | None = 0,
        delta: nn.Module | Shapes | None = None, readout_zero: bool = False,
        example_inputs: Any = None) -> MupPlan:
    """Initialize ``model`` in place under muP relative to ``base`` and return the plan
    whose ``param_groups`` the optimizer takes (Yang et al. 2021, "Tensor Programs V").

    ``scheme`` sets the base: every parameter gets the std ``scheme`` gives the base
    model, times its muP multiplier (:mod:`initscope._core.mup`): hidden weights
    1/sqrt(m_in), the readout 1/m (its 1/m output multiplier folded in; zero with
    ``readout_zero``), everything else constant in width. At width == base the model is
    exactly what ``initialize(model, scheme)`` makes and every multiplier is 1.

    Args:
        model: the model to train (any width).
        base: the base model (any init; it is not changed) or a dict of its parameter
            shapes; with a dict, the base std is derived from the model's by the fan_in
            rule (exact for fan_in schemes: "auto", "he", "lecun", "torch_default").
        optimizer: "adam", "adamw" or "sgd".
        scheme: the base scheme or recipe (:func:`initscope.initialize`'s).
        seed: as :func:`initscope.initialize`.
        delta: a model (or shapes) of another width, saying which dimensions grow.
        readout_zero: start the readout at zero (Yang et al. 2021, sec. 7).
        example_inputs: for models torch.fx cannot trace.

    >>> from torch import nn
    >>> def mlp(d): return nn.Sequential(nn.Linear(8, d), nn.ReLU(), nn.Linear(d, d),
    ...                                  nn.ReLU(), nn.Linear(d, 3))
    >>> plan = mup(mlp(256), base=mlp(64), optimizer="adam")
    >>> kinds = {e.name: (e.rule.kind, e.rule.lr) for e in plan}
    >>> kinds["2.weight"], kinds["2.bias"], kinds["4.weight"]
    (('hidden', 0.25), ('vector', 1.0), ('readout', 0.25))
    >>> opt = torch.optim.Adam(plan.param_groups(lr=1e-3))
    """
    if optimizer not in rules.OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer!r}: one of {', '.join(rules.OPTIMIZERS)}")
    dims = base_shapes(model, base, delta)
    base_std = _base_stds(base, scheme, seed, example_inputs) if isinstance(base, nn.Module) \
        else None
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    try:
        report = initialize(model, scheme, seed=seed, example_inputs=example_inputs)
        entries = _entries(model, report, dims, base_std, optimizer, readout_zero)
        params = dict(model.named_parameters())
        here = {r.name: r.target_std for r in report.records}
        with torch.no_grad():
            for e in entries:
                _rescale(params[e.name], e, here.get(e.name), readout_zero)
    except BaseException:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(before[n])
        raise
    plan = MupPlan(optimizer, entries, report, model)
    return plan.attach()


def _base_stds(base: nn.Module, scheme: str | Policy, seed: int | None,
               example_inputs: Any) -> dict[str, float | None]:
    """The std ``scheme`` gives each parameter of ``base`` (on a copy: the user's base
    model is not changed)."""
    clone = copy.deepcopy(base)
    report = initialize(clone, scheme, seed=seed, example_inputs=example_inputs)
    return {r.name: r.target_std for r in report.records}


def _entries(model: nn.Module, report: InitReport, dims: dict[str, tuple[int | None, ...]],
             base_std: dict[str, float | None] | None, optimizer: str,
             readout_zero: bool) -> list[MupEntry]:
    records = {r.name: r for r in report.records}
    graph = report.graph
    owners: dict[int, list[str]] = {}
    for mname, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if local == "weight":
                owners.setdefault(id(p), []).append(mname)
    modules = dict(model.named_modules())
    entries = []
    for name, p in model.named_parameters():
        base = dims[name]
        shape = tuple(p.shape)
        rec = records.get(name)
        layer = rec.layer if rec is not None else None
        info = graph.layers.get(layer) if layer is not None else None
        fan_in_axis = None
        if info is not None and info.kind in ("linear", "conv") and p.dim() >= 2 and \
                name.rpartition(".")[2] == "weight":
            fan_in_axis = 1 - out_axis(info.module)
        # a tied head: the same tensor is the weight of an embedding and of a Linear
        heads = [m for m in owners.get(id(p), []) if isinstance(modules[m], nn.Linear)]
        tied = bool(heads) and any(isinstance(modules[m], nn.Embedding)
                                   for m in owners.get(id(p), []))
        if tied:
            d_axis = 1  # (V, d): the head's fan_in is the embedding's dimension
            d_base = base[d_axis]
            grows = d_base is not None
            kind = rules.kind_of(base, p.dim(), False)
            m = shape[d_axis] / d_base if d_base else 1.0
            rule = rules.rule(kind, optimizer, width_mult=m)
            if grows:
                rule = replace(rule, forward=1 / m)
            hooked = tuple(heads) if grows else ()
        else:
            growing = [i for i, b in enumerate(base) if b is not None]
            readout_in = fan_in_axis is not None and growing == [fan_in_axis]
            kind = rules.kind_of(base, p.dim(), readout_in)
            mult = {i: shape[i] / b for i, b in enumerate(base) if b is not None}
            if kind == "hidden":
                if fan_in_axis is None:
                    raise ValueError(f"{name}: two dimensions grow with width but initscope "
                                     "cannot tell which is the fan-in (a layer of kind "
                                     f"{info.kind if info else 'unknown'})")
                rule = rules.rule(kind, optimizer, fan_in_mult=mult[fan_in_axis],
                                  fan_out_mult=mult[1 - fan_in_axis])
            elif kind == "readout":
                rule = rules.rule(kind, optimizer, fan_in_mult=mult[growing[0]])
            else:
                rule = rules.rule(kind, optimizer,
                                  width_mult=next(iter(mult.values()), 1.0))
            hooked = ()
        std = _target_std(rec.target_std if rec else None, rule, base, shape, fan_in_axis,
                          None if base_std is None else base_std.get(name), readout_zero)
        role = (rec.role or "") if rec is not None else ""
        entries.append(MupEntry(name, role, shape, base, rule, std, hooked))
    return entries


def _target_std(std_here: float | None, rule: rules.MupRule, base: tuple[int | None, ...],
                shape: tuple[int, ...], fan_in_axis: int | None, std_base: float | None,
                readout_zero: bool) -> float | None:
    """The muP std of a parameter: the base's std times the rule's init multiplier. The
    base's std is the scheme's on the base model, or (given only shapes) the scheme's
    std here taken back to the base fan-in by the fan_in rule."""
    if rule.kind == "readout" and readout_zero:
        return 0.0
    if std_here is None:
        return None
    if std_base is None:
        fan_in_mult = 1.0
        if fan_in_axis is not None and base[fan_in_axis] is not None:
            fan_in_mult = shape[fan_in_axis] / base[fan_in_axis]  # type: ignore[operator]
        std_base = rules.std_at_base(std_here, fan_in_mult)
    return std_base * rule.init


def _rescale(p: torch.Tensor, e: MupEntry, here: float | None, readout_zero: bool) -> None:
    """Scale the scheme's values (std ``here``) to the entry's std (nothing when they
    already have it: then the tensor stays bit for bit the scheme's)."""
    if e.rule.kind == "readout" and readout_zero:
        p.zero_()
        return
    if e.init_std is None or here is None or here == 0.0:
        return
    factor = e.init_std / here
    if abs(factor - 1.0) > 1e-12:
        p.mul_(factor)


def mup_from_state_dict(model: nn.Module, state: Mapping[str, Any], *,
                        example_inputs: Any = None) -> MupPlan:
    """The plan of a model restored from a checkpoint (its weights already loaded): the
    same roles, multipliers and forward hooks, and no init."""
    shapes = {n: tuple(int(d) if d is not None else int(p) for d, p in
                       zip(s, dict(model.named_parameters())[n].shape, strict=True))
              for n, s in state["base_shapes"].items()}
    fixed = {n: [d is None for d in s] for n, s in state["base_shapes"].items()}
    # a fixed dimension (None) has the model's size: base_shapes() finds it does not grow
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    try:
        plan = mup(model, shapes, optimizer=state["optimizer"], seed=0,
                   example_inputs=example_inputs)
    finally:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(saved[n])
    for e in plan.entries:
        assert [d is None for d in e.base_shape] == fixed[e.name], e.name
    plan.entries = [MupEntry(e.name, e.role, e.shape, e.base_shape, e.rule, None, e.hooked)
                    for e in plan.entries]
    return plan
