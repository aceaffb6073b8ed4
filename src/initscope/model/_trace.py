"""Two ways to turn a model into a :class:`Trace`.

- :func:`trace_fx`: symbolic tracing with torch.fx; needs no inputs, fails on Python
  control flow that depends on tensors (and on some torch.nn containers).
- :func:`trace_dynamic`: runs the model once on example inputs under a
  ``TorchFunctionMode`` that records every torch function and tensor method, with
  forward hooks marking leaf modules; follows any Python control flow. Hooks and the
  mode are always removed.

Leaf modules (recorded as one node, not traced into): modules without children,
``MultiheadAttention`` and the RNN family. Containers, including torch.nn's transformer
layers, are traced through, so their functional activations (``F.relu``) are seen.

A torch layer with children of its own (timm's ``BatchNormAct2d``: a ``BatchNorm2d``
whose forward calls ``F.batch_norm`` and then its ``act`` child) is traced through too,
and the call that uses its own weight is recorded as the layer: so the norm is seen,
and so is the activation after it.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import fx, nn
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from .._inputs import as_inputs
from .._state import buffers_kept
from ._ir import ParamUse, Trace, normalize_op

_OPAQUE = (nn.MultiheadAttention, nn.RNNBase)
#: torch layers whose parameters are the layer's (a subclass computes the layer with
#: them, whatever it adds around it)
_LAYERS = (nn.Linear, nn.modules.conv._ConvNd, nn.Embedding, nn.EmbeddingBag,
           nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def is_leaf(module: nn.Module) -> bool:
    """A module the graph sees as one layer: no children, an opaque torch container
    (attention, RNN), or a layer with parametrized tensors (weight norm: its child
    holds the originals, its forward is the layer's)."""
    return isinstance(module, _OPAQUE) or next(module.children(), None) is None or \
        parametrize.is_parametrized(module)


def layers_with_children(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The torch layers of ``model`` that have children of its own (so they are traced
    through), with their names."""
    for name, m in model.named_modules():
        if isinstance(m, _LAYERS) and not is_leaf(m):
            yield name, m


def loose_parameters(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    """Parameters that no layer holds: those of a module traced through (not a leaf,
    not a torch layer with children), which its forward uses itself (ViT's class token
    and positions, ConvNeXt's layer scale, Mixtral's stacked experts, CLIP's logit
    scale), by qualified name."""
    seen: set[int] = set()
    stack = [("", model)]
    while stack:  # the modules traced through: not inside a leaf
        name, m = stack.pop()
        if (is_leaf(m) and m is not model) or id(m) in seen:
            continue
        seen.add(id(m))
        if not isinstance(m, _LAYERS):
            for local, p in m.named_parameters(recurse=False):
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{name}.{local}" if name else local), p
        stack += [(f"{name}.{c}" if name else c, child) for c, child in m.named_children()]


def _fsdp_module(m: nn.Module) -> bool:
    """A module wrapped by FSDP2's ``fully_shard`` (only possible once it is imported)."""
    fsdp = sys.modules.get("torch.distributed.fsdp")
    return fsdp is not None and isinstance(m, fsdp.FSDPModule)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return is_leaf(m)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        # FSDP2's forward hooks all-gather and reshard parameters: data movement that a
        # symbolic trace neither needs nor can run (it would branch on proxies).
        if _fsdp_module(m):
            forward = m.forward
        return super().call_module(m, forward, args, kwargs)


def _scalars(values: Any) -> tuple[object, ...]:
    """The plain arguments of a call (numbers, names, and lists of ints such as split
    sections), tensors left out."""
    return tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in values
                 if isinstance(v, (int, float, str, bool)) or v is None or (
                     isinstance(v, (list, tuple)) and v and
                     all(isinstance(x, int) and not isinstance(x, bool) for x in v)))


def trace_fx(model: nn.Module) -> Trace:
    """Symbolically trace ``model`` (raises whatever torch.fx raises)."""
    graph = _Tracer().trace(model)
    trace = Trace([], "fx")
    index: dict[fx.Node, int] = {}
    owners = {f"{name}.{local}" if name else local: name
              for name, m in layers_with_children(model)
              for local, _ in m.named_parameters(recurse=False)}

    def args_of(node: fx.Node) -> list[fx.Node]:
        """The graph nodes among a node's arguments, in order."""
        found: list[fx.Node] = []

        def visit(n: fx.Node) -> fx.Node:
            found.append(n)
            return n

        fx.node.map_arg((node.args, node.kwargs), visit)
        return found

    def owner_of(node: fx.Node) -> str | None:
        """The layer whose own parameter a call reads (see layers_with_children)."""
        return next((owners[str(n.target)] for n in args_of(node)
                     if n.op == "get_attr" and str(n.target) in owners), None)

    def tensor_inputs(node: fx.Node) -> tuple[int, ...]:
        return tuple(dict.fromkeys(index[n] for n in args_of(node) if n in index))

    loose = {name for name, _ in loose_parameters(model)}
    derived: dict[fx.Node, tuple[str, tuple[str, ...]]] = {}  # see Trace.param_uses
    derived_at: set[int] = set()  # their trace nodes
    shapes_at: set[int] = set()  # nodes that compute sizes (t.shape[0])

    def from_params(node: fx.Node) -> list[tuple[str, tuple[str, ...]]]:
        return list(dict.fromkeys(derived[n] for n in args_of(node) if n in derived))

    for node in graph.nodes:
        if node.op == "placeholder":
            index[node] = trace.add("input", str(node.target), ())
        elif node.op == "get_attr" and str(node.target) in loose:
            derived[node] = (str(node.target), ())
        elif node.op == "call_module":
            index[node] = trace.add("module", str(node.target), tensor_inputs(node))
        elif node.op in ("call_function", "call_method") and (layer := owner_of(node)) is not None:
            index[node] = trace.add("module", layer, tensor_inputs(node))
        elif node.op in ("call_function", "call_method"):
            target = node.target
            name = target if isinstance(target, str) else getattr(target, "__name__", "")
            if target is operator.getitem:
                name = "getitem"
            op = normalize_op(name)
            inputs = tensor_inputs(node)
            index[node] = trace.add(
                "call", op, inputs, _scalars(node.args),
                {k: v for k, v in node.kwargs.items() if not isinstance(v, fx.Node)},
            )
            if op in ("getattr", "size", "dim", "numel") or (
                    inputs and all(i in shapes_at for i in inputs)):
                shapes_at.add(index[node])  # sizes read off the data are not data
            params = from_params(node)
            data = [i for i in inputs if i not in derived_at and i not in shapes_at]
            if params and not data:  # computed from the parameter alone: follow it
                derived[node] = (params[0][0], (*params[0][1], op))
                derived_at.add(index[node])
            for param, via in params if data else ():
                trace.param_uses.setdefault(param, []).append(ParamUse(op, via, index[node]))
        elif node.op == "output":
            trace.add("output", "output", tensor_inputs(node))
        # get_attr of other tensors (buffers, a layer's own) produce values no analysis follows
    return trace


def _plain_sequential(m: nn.Module) -> bool:
    """An ``nn.Sequential`` itself (no subclass, no forward of its own, no hooks): its
    forward is known without tracing."""
    return (type(m) is nn.Sequential and "forward" not in m.__dict__
            and not m._forward_hooks and not m._forward_pre_hooks)


def trace_sequential(model: nn.Module) -> Trace | None:
    """The trace torch.fx would give a chain of ``nn.Sequential`` containers whose
    members are leaf modules or such chains (the common MLP/CNN), built from the module
    list directly: fx's symbolic trace costs for a graph known in advance. None
    when the model is anything else."""
    if not _plain_sequential(model):
        return None
    leaves: list[str] = []

    def walk(seq: nn.Module, prefix: str) -> bool:
        for name, child in seq.named_children():
            qualified = f"{prefix}{name}"
            if is_leaf(child):
                leaves.append(qualified)
            elif not (_plain_sequential(child) and walk(child, f"{qualified}.")):
                return False
        return True

    if not walk(model, ""):
        return None
    trace = Trace([], "fx")
    last = trace.add("input", "input", ())
    for name in leaves:
        last = trace.add("module", name, (last,))
    trace.add("output", "output", (last,))
    return trace


_IGNORED = frozenset({"__get__", "__set__", "dim", "size", "numel", "__len__", "is_floating_point",
                      "requires_grad_", "__format__", "__repr__", "item", "tolist", "__bool__"})


class _Recorder(TorchFunctionMode):
    def __init__(self, trace: Trace, ids: dict[int, int], keep: list[torch.Tensor],
                 depth: list[int], owners: dict[int, str],
                 params: dict[int, tuple[str, tuple[str, ...]]]) -> None:
        super().__init__()
        self.trace, self.ids, self.keep, self.depth = trace, ids, keep, depth
        self.owners = owners  # id of a parameter -> its layer (see layers_with_children)
        # id of a parameter no layer holds, or of a tensor computed from it alone ->
        # (its name, the ops on the way): see Trace.param_uses
        self.params = params

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if self.depth[0] or name in _IGNORED:
            return out
        tensors = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        inputs = tuple(dict.fromkeys(self.ids[id(t)] for t in tensors if id(t) in self.ids))
        owner = next((self.owners[id(t)] for t in tensors if id(t) in self.owners), None) \
            if self.owners and inputs else None
        found = [self.params[id(t)] for t in tensors if id(t) in self.params] \
            if self.params else []
        op = normalize_op(name)
        if found and not inputs:  # computed from the parameter alone: follow it
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.params[id(t)] = (found[0][0], (*found[0][1], op))
                    self.keep.append(t)
            return out
        idx = None
        if owner is not None:
            idx = self.trace.add("module", owner, inputs)
            _register(out, idx, self.ids, self.keep)
        elif inputs:
            plain_kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)}
            idx = self.trace.add("call", op, inputs, _scalars(args), plain_kwargs)
            if op in ("split", "chunk", "unbind") and isinstance(out, (tuple, list)):
                # one getitem node per part, as torch.fx records them: which part went
                # where (a fused QKV's queries) stays readable
                for i, part in enumerate(out):
                    _register(part, self.trace.add("call", "getitem", (idx,), (i,)),
                              self.ids, self.keep)
            else:
                _register(out, idx, self.ids, self.keep)
        if idx is not None:
            for param, via in dict.fromkeys(found):
                self.trace.param_uses.setdefault(param, []).append(ParamUse(op, via, idx))
        return out


def _known(ids: dict[int, int], values: Any) -> tuple[int, ...]:
    found = [ids[id(t)] for t in tree_leaves(values) if isinstance(t, torch.Tensor)
             and id(t) in ids]
    return tuple(dict.fromkeys(found))


def _register(out: Any, idx: int, ids: dict[int, int], keep: list[torch.Tensor]) -> None:
    for t in tree_leaves(out):
        if isinstance(t, torch.Tensor):
            ids[id(t)] = idx
            keep.append(t)  # keeps ids unique while the trace lives


def _leaves(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    seen: set[int] = set()
    stack = [("", model)]
    while stack:
        name, m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        if is_leaf(m) and m is not model:
            yield name, m
            continue
        for child_name, child in m.named_children():
            stack.append((f"{name}.{child_name}" if name else child_name, child))


def trace_dynamic(model: nn.Module, example_inputs: Any) -> Trace:
    """Run the model once on ``example_inputs`` (a tensor, a tuple of positional inputs or
    a mapping of keyword inputs) under no_grad and record its dataflow; the model's
    buffers are left as they were."""
    trace = Trace([], "dynamic")
    ids: dict[int, int] = {}
    keep: list[torch.Tensor] = []
    depth = [0]
    inputs = as_inputs(example_inputs, "example_inputs")
    for i, t in enumerate(inputs.leaves()):
        if isinstance(t, torch.Tensor):
            _register(t, trace.add("input", f"input{i}", ()), ids, keep)

    def pre(module: nn.Module, args: Any) -> None:
        depth[0] += 1

    def post(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            depth[0] -= 1
            if depth[0] == 0:
                idx = trace.add("module", name, _known(ids, args))
                _register(output, idx, ids, keep)
                if any(isinstance(t, torch.Tensor) and not t.is_floating_point()
                       and t.dtype != torch.bool for t in tree_leaves(output)):
                    trace.selects.add(idx)
        return hook

    handles = []
    try:
        for name, m in _leaves(model):
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post(name)))
        owners = {id(p): name for name, m in layers_with_children(model)
                  for p in m.parameters(recurse=False)}
        loose: dict[int, tuple[str, tuple[str, ...]]] = {
            id(p): (name, ()) for name, p in loose_parameters(model)}
        with torch.no_grad(), buffers_kept(model), \
                _Recorder(trace, ids, keep, depth, owners, loose):
            output = inputs.call(model)
        trace.add("output", "output", _known(ids, output))
        if isinstance(output, Mapping) and isinstance(output.get("logits"), torch.Tensor):
            trace.logits = _known(ids, output["logits"])
    finally:
        for h in handles:
            h.remove()
    return trace
