"""muP without model surgery: width dimensions from a base model, each parameter's role
from the layer graph, the init written in place, and the per-parameter learning rates,
Adam eps and weight decay as optimizer parameter groups (the rules:
:mod:`initscope._core.mup`).

The ``mup`` package (Yang et al. 2021) needs ``MuReadout`` in place of the output layer
and an ``infshape`` attribute on every tensor, which FSDP and ``torch.compile`` drop.
Here the readout's 1/width multiplier is folded into its tensor (init, LR, eps), so the
model keeps its classes; only a readout tied to the input embedding needs a forward
multiplier, a hook the plan lists (and re-attaches after loading a checkpoint). An
attention's 1/d_head goes, in that order of preference, into a Hugging Face ``scaling``
attribute, a separate query projection (folded, like the readout), or a hook on a fused
QKV projection's query block; where none applies the plan says so per module.
Depth (CompleteP, Depth-muP) folds each residual branch's multiplier into the branch's
last layer. The width dimensions live in the plan (``state_dict``), never on tensors.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from .._core import mup as rules
from .._tabular import dataframe
from ..rng import canonical_name, is_dtensor
from .apply import InitReport, initialize
from .graph import LayerGraph, layer_graph, out_axis, role_of
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
    #: started at zero (``readout_zero``)
    zero: bool = False


@dataclass(frozen=True)
class MupAttention:
    """The 1/d_head of one attention: its query layer, head sizes here and at the base,
    the multiplier ``theta`` on its logits relative to the model's own scale
    (:func:`initscope._core.mup.attention_multiplier`) and ``how`` it is applied:
    "fold" (into the separate query projection's init, LR and eps), "scaling" (the
    module's ``scaling`` attribute, as Hugging Face attentions have), "hook" (a forward
    hook scaling the query block of a fused projection's output), "none" (theta is 1) or
    "not applied" (``note`` says why)."""

    module: str
    query: str
    d_head_base: int | None
    d_head: int | None
    theta: float
    how: str
    note: str = ""
    #: the module's own ``scaling`` (how == "scaling"), restored by ``detach``
    scaling: float | None = None
    #: the query block of a fused projection and the number of blocks (how == "hook")
    block: int | None = None
    splits: int = 1


@dataclass
class MupPlan:
    """What :func:`mup` did and what the optimizer needs: per parameter its role, width
    multiplier, init std and (lr, eps, weight decay) multipliers; the forward hooks it
    attached. ``param_groups(lr=...)`` is what ``torch.optim.Adam/AdamW/SGD`` take."""

    optimizer: str
    entries: list[MupEntry]
    #: the init's report (None for a plan restored from a checkpoint: nothing was drawn)
    report: InitReport | None = field(repr=False)
    model: nn.Module = field(repr=False)
    attention: list[MupAttention] = field(default_factory=list)
    #: depth: (L / L_base, alpha) when depth transfer is on
    depth: tuple[float, float] | None = None
    eps_scaling: bool = False
    #: what an option asked for and the model did not allow (e.g. a tied readout that
    #: readout_zero cannot zero)
    notes: list[str] = field(default_factory=list)
    _handles: list[Any] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[MupEntry]:
        return iter(self.entries)

    def folded(self, module: str) -> float:
        """The multiplier folded into ``module``'s output that is not muP's coordinate
        itself (an attention's 1/d_head folded into its query projection): a coordinate
        check divides it out."""
        return next((a.theta for a in self.attention if a.how == "fold" and
                     a.query == module), 1.0)

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
        for a in self.attention:
            if a.how == "scaling":
                modules[a.module].scaling = a.scaling * a.theta  # type: ignore[operator]
            elif a.how == "hook":
                layer = modules[a.query]
                width = int(layer.weight.shape[out_axis(layer)])  # global, if sharded
                self._handles.append(layer.register_forward_hook(
                    _scale_block(a.theta, a.block or 0, a.splits, width, a.query)))
        self.model = target
        return self

    def detach(self) -> None:
        """Remove the forward multipliers (the model is then the standard one)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        modules = dict(self.model.named_modules())
        for a in self.attention:
            if a.how == "scaling" and a.module in modules:
                modules[a.module].scaling = a.scaling

    def state_dict(self) -> dict[str, Any]:
        """What to save with a checkpoint: the optimizer kind and every parameter's base
        shape (the width dimensions); :func:`mup_from_state_dict` rebuilds the plan."""
        return {"optimizer": self.optimizer,
                "base_shapes": {e.name: list(e.base_shape) for e in self.entries},
                "attention": [{"module": a.module, "query": a.query,
                               "d_head_base": a.d_head_base, "d_head": a.d_head,
                               "theta": a.theta, "how": a.how, "note": a.note,
                               "scaling": a.scaling, "block": a.block, "splits": a.splits}
                              for a in self.attention],
                "depth": None if self.depth is None else list(self.depth),
                "eps_scaling": self.eps_scaling}

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
        hooks = sum(len(e.hooked) for e in self.entries) + \
            sum(a.how == "hook" for a in self.attention)
        attn = [f"attention {a.module or a.query}: d_head {a.d_head_base} -> {a.d_head}, "
                f"logits x{a.theta:.4g}: " + _how(a) for a in self.attention]
        depth = [] if self.depth is None else [
            f"depth x{self.depth[0]:.4g} (alpha {self.depth[1]:g}): each residual branch "
            f"x{self.depth[0] ** -self.depth[1]:.4g}, folded into its last layer"]
        return "\n".join([
            *lines, *attn, *depth, *self.notes, f"muP for {self.optimizer}: {len(self.entries)} "
            f"parameters, {sum(e.rule.kind == 'hidden' for e in self.entries)} hidden, "
            f"{sum(e.rule.kind == 'readout' for e in self.entries)} readout, "
            f"{hooks} forward multiplier(s) as hooks"])


def _how(a: MupAttention) -> str:
    if a.how == "fold":
        return f"folded into {a.query} (init, lr, eps)"
    if a.how == "scaling":
        return f"{a.module}.scaling {a.scaling:.4g} -> {a.scaling * a.theta:.4g}"  # type: ignore[operator]
    if a.how == "hook":
        return f"hook on {a.query}'s query block ({a.block} of {a.splits})"
    return a.note or a.how


def _scale_block(theta: float, block: int, splits: int, width: int, name: str) -> Any:
    """A forward hook multiplying one of ``splits`` equal blocks of the output's last
    dimension (a fused QKV projection's queries) by ``theta``; an output that is not the
    whole ``width`` (a tensor-parallel shard) is an error, not a wrong block scaled."""
    def hook(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
        if out.shape[-1] != width:
            raise RuntimeError(
                f"muP's attention hook on {name} got {out.shape[-1]} of its {width} output "
                "features (a tensor-parallel shard of a fused QKV): it cannot tell which "
                "are queries. Use separate q/k/v projections (the 1/d_head is folded into "
                "the query's) or an attention with a `scaling` attribute")
        n = out.shape[-1] // splits
        scale = torch.ones(out.shape[-1], dtype=out.dtype, device=out.device)
        scale[block * n:(block + 1) * n] = theta
        return out * scale

    return hook


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


_INDEX = re.compile(r"(?<=\.)\d+(?=\.)|^\d+(?=\.)")


def _pattern(name: str) -> str:
    """A parameter's name with its block indices as '*' (h.3.attn.c_attn.weight ->
    h.*.attn.c_attn.weight): the same parameter in every block of a stack."""
    return _INDEX.sub("*", name)


def base_shapes(model: nn.Module, base: nn.Module | Shapes, delta: nn.Module | Shapes | None
                = None, *, by_block: bool = False) -> dict[str, tuple[int | None, ...]]:
    """Per parameter of ``model``: the base size of each dimension that grows with width,
    None for one that does not. Without ``delta`` a dimension grows when ``model``'s size
    differs from ``base``'s (the ``mup`` package's rule: at width == base nothing grows);
    with ``delta`` (a model of another width) when ``delta``'s differs from ``base``'s.
    ``by_block``: a model of another depth; a parameter the base does not have is
    matched to the same parameter of another block (``h.7.mlp.c_fc.weight`` to
    ``h.0.mlp.c_fc.weight``)."""
    # names without the segments wrappers insert (torch.compile's _orig_mod, FSDP1's):
    # a compiled model against its plain base
    named = _shapes(model, "model")
    target = {canonical_name(n): s for n, s in named.items()}
    bs = {canonical_name(n): s for n, s in _shapes(base, "base").items()}
    ds = {canonical_name(n): s for n, s in _shapes(delta, "delta").items()} \
        if delta is not None else None
    for other, what in ((bs, "base"), (ds, "delta")):
        if other is None:
            continue
        if by_block:
            patterns: dict[str, tuple[int, ...]] = {}
            for n, shape in other.items():
                patterns.setdefault(_pattern(n), shape)
            for n in target:
                if n not in other and _pattern(n) in patterns:
                    other[n] = patterns[_pattern(n)]
            for n in [n for n in other if n not in target]:
                if _pattern(n) in {_pattern(t) for t in target}:
                    del other[n]
        missing, extra = sorted(set(target) - set(other)), sorted(set(other) - set(target))
        if missing or extra:
            raise ValueError(f"{what} does not have the model's parameters: missing "
                             f"{missing[:5]}, extra {extra[:5]}" + (
                                 "" if by_block else " (a model of another depth: pass "
                                 "depth_alpha)"))
        bad = [n for n in target if len(other[n]) != len(target[n])]
        if bad:
            raise ValueError(f"{what}: {bad[0]} has shape {other[bad[0]]}, the model "
                             f"{target[bad[0]]} (a different number of dimensions)")
    out = {}
    for full, shape in named.items():
        name = canonical_name(full)
        ref = ds[name] if ds is not None else shape
        out[full] = tuple(b if b != r else None for b, r in zip(bs[name], ref, strict=True))
    return out


def mup(model: nn.Module, base: nn.Module | Shapes, *, optimizer: str = "adam",
        scheme: str | Policy = "auto", seed: int | None = 0,
        delta: nn.Module | Shapes | None = None, readout_zero: bool = False,
        query_zero: bool = False, depth_alpha: float | None = None,
        eps_scaling: bool = False, attention_numerator: float | None = None,
        example_inputs: Any = None) -> MupPlan:
    """Initialize ``model`` in place under muP relative to ``base`` and return the plan
    whose ``param_groups`` the optimizer takes (Yang et al. 2021, "Tensor Programs V").

    ``scheme`` sets the base: every parameter gets the std ``scheme`` gives the base
    model, times its muP multiplier (:mod:`initscope._core.mup`): hidden weights
    1/sqrt(m_in), the readout 1/m (its 1/m output multiplier folded in; zero with
    ``readout_zero``), everything else constant in width. At width == base the model is
    exactly what ``initialize(model, scheme)`` makes and every multiplier is 1. A
    parameter whose std the scheme leaves to the model (a Hugging Face model's own init)
    is scaled from the std it was drawn with at the base.

    Attention logits get muP's 1/d_head in place of the model's 1/sqrt(d_head), relative
    to the base (x sqrt(d_head_base / d_head)); see :class:`MupAttention` for how.

    Args:
        model: the model to train (any width; any depth with ``depth_alpha``).
        base: the base model (any init; it is not changed) or a dict of its parameter
            shapes; with a dict, the base std is derived from the model's by the fan_in
            rule (exact for fan_in schemes: "auto", "he", "lecun", "torch_default"), a
            std the model's own init sets is taken as width-independent (as Hugging
            Face's ``initializer_range``), and the base's heads as the model's.
        optimizer: "adam", "adamw" or "sgd".
        scheme: the base scheme or recipe (:func:`initscope.initialize`'s).
        seed: as :func:`initscope.initialize`.
        delta: a model (or shapes) of another width, saying which dimensions grow.
        readout_zero: start the readout at zero (Yang et al. 2021, sec. 7).
        query_zero: start the queries at zero (Yang et al. 2021, sec. 7; "auto" does).
        depth_alpha: transfer across depth too (``base`` a module with fewer or more
            residual blocks): each residual branch x (L / L_base)^-alpha, folded into its
            last layer, with the LR and eps of :func:`initscope._core.mup.depth_rule`;
            1.0 is CompleteP (Dey et al. 2025), 0.5 Depth-muP (Yang et al. 2023).
        eps_scaling: Adam's eps x 1/m (Everett et al. 2024; off as in ``mup``).
        attention_numerator: logits c / d_head with this c at every width (``mup``'s
            attn_mult: 8.0); None keeps the base's own scale at the base.
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
    if attention_numerator is not None and not (
            math.isfinite(attention_numerator) and attention_numerator > 0):
        raise ValueError(f"attention_numerator {attention_numerator!r}: a finite number > 0 "
                         "(mup's attn_mult: 8.0), or None")
    # torch.compile's wrapper: plan the module it compiles (the same tensors; the hooks
    # sit on its submodules, which dynamo traces)
    model = _compiled_inner(model)
    if isinstance(base, nn.Module):
        base = _compiled_inner(base)
    if depth_alpha is not None:
        if not isinstance(base, nn.Module):
            raise ValueError("depth_alpha: base must be a model (its residual branches "
                             "give the base depth), not a dict of shapes")
        rules.check_depth_alpha(depth_alpha)
    dims = base_shapes(model, base, delta, by_block=depth_alpha is not None)
    ref = _reference(base, scheme, seed, example_inputs) if isinstance(base, nn.Module) \
        else None
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    modules = dict(model.named_modules())
    saved_scaling = {n: m.scaling for n, m in modules.items()
                     if isinstance(getattr(m, "scaling", None), float)}
    try:
        report = initialize(model, scheme, seed=seed, example_inputs=example_inputs)
        depth = None
        if depth_alpha is not None:
            assert ref is not None
            depth = (_depth_mult(report.graph, ref.graph), float(depth_alpha))
        attention = _attention(model, report.graph, dims, base if isinstance(base, nn.Module)
                               else None, attention_numerator)
        entries = _entries(model, report.records, report.graph, dims, ref, optimizer,
                           readout_zero, attention, depth, eps_scaling)
        params = dict(model.named_parameters())
        here = {r.name: r.target_std for r in report.records}
        with torch.no_grad():
            for e in entries:
                _rescale(params[e.name], e, here.get(e.name))
            if query_zero:
                _zero_queries(model, attention, report.graph)
        notes = []
        tied = [e.name for e in entries if e.hooked or "(tied)" in e.role]
        if readout_zero and tied and not any(e.zero for e in entries):
            notes.append(f"readout_zero: not applied: the readout is tied to the input "
                         f"embedding ({tied[0]}), which cannot start at zero")
        plan = MupPlan(optimizer, entries, report, model, attention, depth, eps_scaling,
                       notes)
        return plan.attach()
    except BaseException:
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(before[n])
        for n, v in saved_scaling.items():
            modules[n].scaling = v
        raise


def _compiled_inner(model: nn.Module) -> nn.Module:
    inner = getattr(model, "_orig_mod", None)
    return inner if type(model).__name__ == "OptimizedModule" and \
        isinstance(inner, nn.Module) else model


@dataclass
class _Reference:
    """The base model under the scheme (on a copy): the std the scheme set on each
    parameter (None where it left it to the model's own init), the std its tensor was
    drawn with, and the base's graph."""

    target_std: dict[str, float | None]
    drawn_std: dict[str, float]
    graph: LayerGraph


def _reference(base: nn.Module, scheme: str | Policy, seed: int | None,
               example_inputs: Any) -> _Reference:
    clone = copy.deepcopy(base)  # the user's base model is not changed
    report = initialize(clone, scheme, seed=seed, example_inputs=example_inputs)
    drawn = {canonical_name(n): _std(p) for n, p in clone.named_parameters()}
    return _Reference({canonical_name(r.name): r.target_std for r in report.records}, drawn,
                      report.graph)


def _std(p: torch.Tensor) -> float:
    """The root mean square of a tensor's values (of the whole tensor for a sharded
    DTensor: the same at every world size)."""
    t = p.detach()
    if is_dtensor(t):
        t = t.full_tensor()  # type: ignore[attr-defined]
    return float(t.double().pow(2).mean().sqrt()) if t.numel() else 0.0


def _depth_mult(graph: LayerGraph, base_graph: LayerGraph) -> float:
    here, there = graph.num_residual_branches, base_graph.num_residual_branches
    if not here or not there:
        raise ValueError(f"depth_alpha: the model has {here} residual branches and the "
                         f"base {there}; depth transfer scales residual branches")
    return here / there


_HEAD_DIM = ("head_dim", "head_size", "d_head", "attention_head_size")
_HEADS = ("num_heads", "n_head", "n_heads", "heads", "num_attention_heads")


def _owner(modules: dict[str, nn.Module], layer: str) -> str | None:
    """The nearest module above ``layer`` that says its head size or head count (or has
    a ``scaling``): the attention the query layer belongs to."""
    parts = layer.split(".")
    for i in range(len(parts) - 1, -1, -1):
        name = ".".join(parts[:i])
        m = modules.get(name)
        if m is not None and any(isinstance(getattr(m, a, None), int) for a in
                                 (*_HEAD_DIM, *_HEADS)):
            return name
    return None


def _head_dim(module: nn.Module | None, q_width: int) -> int | None:
    if module is None:
        return None
    for a in _HEAD_DIM:
        v = getattr(module, a, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    for a in _HEADS:
        v = getattr(module, a, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0 and q_width % v == 0:
            return q_width // v
    return None


def _attention(model: nn.Module, graph: LayerGraph, dims: dict[str, tuple[int | None, ...]],
               base: nn.Module | None, numerator: float | None = None) -> list[MupAttention]:
    """The 1/d_head of every attention whose query layer the graph found."""
    modules = dict(model.named_modules())
    base_modules = {canonical_name(n): m for n, m in base.named_modules()} \
        if base is not None else {}
    out: list[MupAttention] = []
    for info in graph:
        if info.kind == "attention":
            grows = any(b is not None for n, b2 in dims.items()
                        if n.startswith(info.name + ".") for b in b2)
            if grows:
                out.append(MupAttention(
                    info.name, info.name, None, None, 1.0, "not applied",
                    f"{type(info.module).__name__} scales its logits by 1/sqrt(d_head) "
                    "inside its forward, out of reach of a hook or a fold: they keep "
                    "the standard scale (use an attention with separate projections)"))
            continue
        block = next((b for part, b in info.attention if part == "query"), -1)
        if block == -1:
            continue
        w = dict(info.module.named_parameters(recurse=False)).get("weight")
        if w is None or w.dim() != 2:
            continue
        axis = out_axis(info.module)
        splits = info.splits if block is not None else 1
        q_width = w.shape[axis] // splits
        wbase = dims.get(f"{info.name}.weight", (None, None))[axis]
        q_width_base = q_width if wbase is None else wbase // splits
        owner = _owner(modules, info.name)
        d_head = _head_dim(modules.get(owner) if owner is not None else None, q_width)
        if d_head is None:
            out.append(MupAttention(owner or "", info.name, None, None, 1.0, "not applied",
                                    f"cannot tell the head size of {info.name} (no "
                                    "head_dim or num_heads attribute on the modules "
                                    "above it): its logits keep the model's scale"))
            continue
        scaling = getattr(modules[owner], "scaling", None) if owner is not None else None
        scaling = scaling if isinstance(scaling, float) else None
        bmod = base_modules.get(canonical_name(owner)) if owner is not None else None
        if bmod is not None:
            d_base = _head_dim(bmod, q_width_base)
            s_base = getattr(bmod, "scaling", None)
        else:  # shapes only: the base has the model's number of heads
            d_base = q_width_base * d_head // q_width if q_width else None
            s_base = None if scaling is None else scaling * math.sqrt(d_head / d_base) \
                if d_base else None
        if d_base is None:
            out.append(MupAttention(owner or "", info.name, None, d_head, 1.0,
                                    "not applied", "cannot tell the base's head size"))
            continue
        theta = rules.attention_multiplier(
            d_base, d_head, s_base if isinstance(s_base, float) else None, scaling,
            numerator)
        if theta == 1.0:
            out.append(MupAttention(owner or "", info.name, d_base, d_head, 1.0, "none",
                                    "the logits already have muP's scale"))
        elif scaling is not None:  # no tensor changes: the queries stay muP's coordinates
            out.append(MupAttention(owner or "", info.name, d_base, d_head, theta,
                                    "scaling", scaling=scaling))
        elif block is None:
            out.append(MupAttention(owner or "", info.name, d_base, d_head, theta, "fold"))
        else:
            out.append(MupAttention(owner or "", info.name, d_base, d_head, theta, "hook",
                                    block=block, splits=splits))
    return out


def _zero_queries(model: nn.Module, attention: list[MupAttention], graph: LayerGraph) -> None:
    modules = dict(model.named_modules())
    for a in attention:
        info = graph.layers[a.query]
        if info.kind == "attention":  # nn.MultiheadAttention: its queries are not apart
            continue
        layer = modules[a.query]
        block = next((b for part, b in info.attention if part == "query"), None)
        for local, p in layer.named_parameters(recurse=False):
            if block is None:
                p.zero_()
            elif local == "weight":
                p.chunk(info.splits, dim=out_axis(layer))[block].zero_()
            else:
                p.chunk(info.splits, dim=-1)[block].zero_()


@dataclass(frozen=True)
class _Record:
    """What the plan needs of a parameter's init record: its layer, role, target std."""

    name: str
    layer: str | None
    role: str | None
    target_std: float | None = None


def _records(model: nn.Module, graph: LayerGraph) -> list[_Record]:
    """Each parameter's layer and role from the graph alone (a restored plan: no init)."""
    names = {id(p): n for n, p in model.named_parameters()}
    out: dict[int, _Record] = {}
    for info in graph:
        for local, p in info.module.named_parameters(recurse=False):
            if id(p) in names and id(p) not in out:
                out[id(p)] = _Record(names[id(p)], info.name, role_of(info, local))
    return list(out.values())


def _entries(model: nn.Module, recs: list[Any], graph: LayerGraph,
             dims: dict[str, tuple[int | None, ...]], ref: _Reference | None, optimizer: str,
             readout_zero: bool, attention: list[MupAttention],
             depth: tuple[float, float] | None, eps_scaling: bool) -> list[MupEntry]:
    records = {r.name: r for r in recs}
    owners: dict[int, list[str]] = {}
    for mname, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if local == "weight":
                owners.setdefault(id(p), []).append(mname)
    modules = dict(model.named_modules())
    folded_q = {a.query: a.theta for a in attention if a.how == "fold"}
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
        elif info is not None and info.kind == "attention" and p.dim() == 2:
            fan_in_axis = 1  # nn.MultiheadAttention's in-projections: (out, in)
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
            rule = rules.rule(kind, optimizer, width_mult=m, eps_scaling=eps_scaling)
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
                                  fan_out_mult=mult[1 - fan_in_axis], eps_scaling=eps_scaling)
            elif kind == "readout":
                rule = rules.rule(kind, optimizer, fan_in_mult=mult[growing[0]],
                                  eps_scaling=eps_scaling)
            else:
                rule = rules.rule(kind, optimizer, width_mult=next(iter(mult.values()), 1.0),
                                  eps_scaling=eps_scaling)
            hooked = ()
        if layer in folded_q:  # 1/d_head folded into a separate query projection
            rule = rules.fold(rule, folded_q[layer], optimizer)
        if depth is not None and info is not None and info.residual_branches:
            rule = rules.depth_rule(rule, depth[0], depth[1], optimizer,
                                    branch_end=info.branch_end)
        zero = readout_zero and (rule.kind == "readout" or (
            not any(b is not None for b in base) and info is not None and not tied
            and info.output_consumer == "output" and fan_in_axis is not None))
        std = _target_std(rec.target_std if rec else None, rule, base, shape, fan_in_axis,
                          ref, name, p, zero)
        role = (rec.role or "") if rec is not None else ""
        entries.append(MupEntry(name, role, shape, base, rule, std, hooked, zero))
    return entries


def _target_std(std_here: float | None, rule: rules.MupRule, base: tuple[int | None, ...],
                shape: tuple[int, ...], fan_in_axis: int | None, ref: _Reference | None,
                name: str, p: torch.Tensor, readout_zero: bool) -> float | None:
    """The muP std of a parameter: the base's std times the rule's init multiplier. The
    base's std is the scheme's on the base model or, where the scheme left the values to
    the model's own init, the std the base's tensor was drawn with. Given only shapes:
    the scheme's std here taken back to the base fan-in by the fan_in rule, or a std the
    model's own init set, taken as width-independent."""
    if readout_zero:
        return 0.0
    if ref is not None:
        key = canonical_name(name)
        std_base = ref.target_std.get(key)
        if std_base is None:
            std_base = ref.drawn_std.get(key)
        return None if std_base is None else std_base * rule.init
    if std_here is None:  # only here is the tensor read (a DTensor: gathered)
        return _std(p) * rule.init
    fan_in_mult = 1.0
    if fan_in_axis is not None and base[fan_in_axis] is not None:
        fan_in_mult = shape[fan_in_axis] / base[fan_in_axis]  # type: ignore[operator]
    return rules.std_at_base(std_here, fan_in_mult) * rule.init


def _rescale(p: torch.Tensor, e: MupEntry, here: float | None) -> None:
    """Scale the scheme's values (std ``here``, or as drawn) to the entry's std (nothing
    when they already have it: then the tensor stays bit for bit the scheme's)."""
    if e.zero:
        p.zero_()
        return
    if here is None:
        here = _std(p)
    if e.init_std is None or here == 0.0:
        return
    factor = e.init_std / here
    if abs(factor - 1.0) > 1e-12:
        p.mul_(factor)


def mup_from_state_dict(model: nn.Module, state: Mapping[str, Any], *,
                        example_inputs: Any = None) -> MupPlan:
    """The plan of a model restored from a checkpoint (its weights already loaded): the
    same roles, multipliers and forward multipliers (hooks, ``scaling`` attributes), and
    no init."""
    model = _compiled_inner(model)
    params = dict(model.named_parameters())
    shapes = {n: tuple(int(d) if d is not None else int(p) for d, p in
                       zip(s, params[n].shape, strict=True))
              for n, s in state["base_shapes"].items()}
    # a fixed dimension (None) has the model's size: base_shapes() finds it does not grow
    attention = [MupAttention(**a) for a in state.get("attention", [])]
    depth = state.get("depth")
    eps_scaling = bool(state.get("eps_scaling", False))
    graph = layer_graph(model, example_inputs)  # the roles; no init is drawn
    dims = base_shapes(model, shapes)
    entries = _entries(model, _records(model, graph), graph, dims, None, state["optimizer"],
                       False, attention,
                       None if depth is None else (float(depth[0]), float(depth[1])),
                       eps_scaling)
    entries = [replace(e, init_std=None) for e in entries]
    plan = MupPlan(state["optimizer"], entries, None, model, attention,
                   None if depth is None else (float(depth[0]), float(depth[1])), eps_scaling)
    return plan.attach()
