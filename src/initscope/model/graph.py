"""The layer graph: for every module that owns parameters, what feeds it and what follows.

A layer's gain compensates the nonlinearity applied to its *input* (He et al. 2015:
Var[y_l] = n_l Var[w_l] E[x_l^2], x_l = phi(y_{l-1})), so the graph records, per layer,
the source of its input (the model's input, an activation, a normalization, another
layer, a residual sum, a gate) and what consumes its output. It also finds residual
branches (an add whose operands are a block's input and a value computed from it),
the last layer or normalization of each branch (for zero-init and depth-scaling
recipes), and fused projections whose output is split in equal parts (QKV).

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))
>>> g = layer_graph(net)
>>> g["0"].input_source, g["2"].input_source, g["2"].input_activation.name
('input', 'activation', 'tanh')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._core.activations import Activation, activation
from .._core.fans import FanSpec
from .._core.gain import gain_of
from .._torch_activation import from_torch, known_module
from ._ir import (
    ACTIVATION_OPS,
    ATTENTION_OPS,
    NORM_OPS,
    TRANSPARENT_OPS,
    Node,
    ParamUse,
    Trace,
)
from ._trace import is_leaf, trace_dynamic, trace_fx, trace_sequential

Source = Literal[
    "input", "activation", "gate", "norm", "layer", "residual", "attention", "unknown", "unused"
]
Kind = Literal[
    "linear", "conv", "conv_transpose", "embedding", "attention", "rnn", "norm", "other"
]

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
_TRANSPARENT_MODULES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity,
    nn.Flatten, nn.Unflatten, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
)


def stores_in_out(module: nn.Module) -> bool:
    """A dense layer whose weight is stored (in_features, out_features): Hugging Face's
    ``transformers.pytorch_utils.Conv1D`` (GPT-2, and models copied from it), which
    computes ``x @ weight + bias``. Recognised by what it holds, not by importing it."""
    w = getattr(module, "weight", None)
    return (type(module).__name__ == "Conv1D" and isinstance(w, torch.Tensor) and w.dim() == 2
            and getattr(module, "nf", None) == w.shape[1])


def out_axis(module: nn.Module) -> int:
    """The axis of a layer's weight that holds its output units (0 in torch's layout)."""
    if stores_in_out(module) or isinstance(module, nn.modules.conv._ConvTransposeNd):
        return 1
    return 0


def layer_kind(module: nn.Module) -> Kind:
    """What a parameter-owning module is, for fans and policies."""
    if stores_in_out(module):
        return "linear"
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "conv_transpose"
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    if isinstance(module, nn.RNNBase):
        return "rnn"
    if isinstance(module, _NORMS):
        return "norm"
    return "other"


@dataclass(frozen=True)
class Readout:
    """A layer's part in producing logits over a vocabulary: an output head whose
    classes are the input embedding's tokens (a language model's), or the input
    embedding whose matrix that head shares (``tied``).

    Attributes:
        vocab: the number of classes (the embedding's rows).
        input_gain: the forward gain of what feeds the head (1 after a norm).
        tied: the other layer sharing the matrix, if any.
        tokens: the classes are an input embedding's tokens (a language model's head,
            and the embeddings on its side); False for a head whose scores the model
            returns as ``logits`` over classes of its own (an image classifier's).
    """

    vocab: int
    input_gain: float = 1.0
    tied: str | None = None
    tokens: bool = True


@dataclass(frozen=True)
class LayerInfo:
    """One parameter-owning module as the graph sees it.

    Attributes:
        name: qualified name in the model.
        kind: linear, conv, conv_transpose, embedding, attention, rnn, norm or other.
        input_source: where its input comes from: the model ``input``, an ``activation``,
            a ``gate`` (GLU-style product), a ``norm``, another ``layer`` directly, a
            ``residual`` sum, ``unknown`` (an op the graph does not interpret) or
            ``unused`` (never called).
        input_activation: the nonlinearity applied to its input (for ``activation`` and
            ``gate`` sources), else None.
        output_consumer: what consumes its output (same vocabulary, plus ``output``).
        output_activation: the nonlinearity that follows it, if that is what consumes it.
        splits: equal blocks its output is split into (3 for a fused QKV projection).
        residual_branches: indices of the residual branches it belongs to.
        branch_end: it is the last layer or norm of a residual branch.
        order: position in execution order (-1 if unused).
        readout: set on a language model's output head and on the embedding it shares
            its matrix with (see :class:`Readout`); on the embeddings summed with that
            embedding (positions, token types) ``Readout(vocab, tied=None)`` too, so that
            they start at its scale.
        attention: what the layer produces for an attention, read off the graph (the
            operands of ``scaled_dot_product_attention``, or of the matmul whose product
            a softmax normalizes and of the one that takes its weights):
            ``("query", None)``, ``("key", None)``, ``("value", None)``, or with the
            block of a fused projection (``("query", 0)`` of a QKV).
        activation_from: the layer whose output, through one elementwise activation and
            nothing else, is this layer's whole input, with nothing else reading that
            output or the activation's (a plain chain link ``P -> phi -> this``; both
            layers of the same kind: linear, or conv of one dimensionality, groups 1).
            Looks-linear initialization mirrors the link's units in pairs.
        activation_to: the layers whose ``activation_from`` is this one.
        chain_links: how many such links the chain this layer is in has (a plain
            L-layer MLP: L - 1 on every layer; 0 outside chains).
        param_roles: what the graph read off the use of a parameter, by local name,
            where the layer's kind does not say it: a router's weight (its output holds
            the indices of a top-k choice), a GLU's gate and the projection it multiplies,
            and the parameters a module's own code uses (a class token joined to the
            sequence, added positions, a branch's layer scale, a skip gain, stacked expert
            weights, a logit scale used as exp(p)).
        layer_scaled: its output is multiplied by a layer scale before the residual sum
            (ConvNeXt's gamma, 1e-6 at init): its own output's size is not the stream's.
    """

    name: str
    module: nn.Module = field(repr=False, compare=False)
    kind: Kind
    input_source: Source
    input_activation: Activation | None = None
    output_consumer: str = "unknown"
    output_activation: Activation | None = None
    splits: int = 1
    residual_branches: tuple[int, ...] = ()
    branch_end: bool = False
    order: int = -1
    readout: Readout | None = None
    attention: tuple[tuple[str, int | None], ...] = ()
    activation_from: str | None = None
    activation_to: tuple[str, ...] = ()
    chain_links: int = 0
    param_roles: tuple[tuple[str, str], ...] = ()
    layer_scaled: bool = False

    @property
    def is_first(self) -> bool:
        """It reads the model's raw input (gain 1: data is assumed standardized)."""
        return self.input_source == "input"


@dataclass
class LayerGraph:
    """Every parameter-owning module of a model, in execution order, with how the graph
    was obtained and what it could not resolve."""

    layers: dict[str, LayerInfo]
    method: Literal["fx", "dynamic"]
    num_residual_branches: int = 0
    unresolved: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> LayerInfo:
        return self.layers[name]

    def __iter__(self) -> Iterator[LayerInfo]:
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)

    def rebound(self, model: nn.Module) -> LayerGraph:
        """The same graph with each layer's module looked up by name in ``model`` (a copy
        of the model this graph was built for)."""
        modules = dict(model.named_modules())
        missing = [n for n in self.layers if n not in modules]
        if missing:
            raise ValueError(f"graph.rebound: the model has no modules {missing[:3]}")
        layers = {n: replace(i, module=modules[n]) for n, i in self.layers.items()}
        return replace(self, layers=layers)

    def require_of(self, model: nn.Module, caller: str) -> None:
        """Raise unless every layer of this graph is a module of ``model`` (a graph
        passed in by the caller must have been built for this very model)."""
        modules = {id(m) for m in model.modules()}
        stray = [i.name for i in self if id(i.module) not in modules]
        if stray:
            raise ValueError(
                f"{caller}: graph= was not built for this model: its layers "
                f"{', '.join(stray[:3])}{' ...' if len(stray) > 3 else ''} are not modules "
                "of it; pass layer_graph(model) of this model, or leave graph out")


# --- classification of trace nodes -------------------------------------------------


@dataclass
class _Role:
    role: Literal["input", "layer", "norm", "activation", "transparent", "add", "gate",
                  "split", "attention", "output", "other"]
    act: Activation | None = None


def _op_activation(node: Node) -> Activation | None:
    name = ACTIVATION_OPS[node.target]
    args, kw = node.args, node.kwargs
    if name == "gelu":
        return activation("gelu_tanh" if kw.get("approximate") == "tanh" else "gelu")
    param_key = {"leaky_relu": "negative_slope", "elu": "alpha", "celu": "alpha",
                 "softplus": "beta"}.get(name)
    if param_key is not None:
        value = kw.get(param_key, args[0] if args and isinstance(args[0], float) else None)
        return activation(name, float(value) if isinstance(value, (int, float)) else None)
    if name == "hardtanh":
        lo = kw.get("min_val", args[0] if args else -1.0)
        hi = kw.get("max_val", args[1] if len(args) > 1 else 1.0)
        return activation("hardtanh") if (lo, hi) == (-1.0, 1.0) else None
    return activation(name)


def _module_activation(module: nn.Module) -> Activation | None:
    known = known_module(module)
    if known is not None:
        return known
    if type(module).__module__.startswith("torch."):
        return None
    # A user's parameter-free leaf module: read as an elementwise function if it is one.
    try:
        return from_torch(module, name=type(module).__name__)
    except Exception:
        return None


def normalizes(module: nn.Module) -> bool:
    """Whether a module of a class torch does not know is a normalization, by what it
    computes: it holds only vectors of one size d (a gain, maybe a shift), no submodules,
    and its output does not change when its input is scaled (x and 3x give the same
    values), over the last axis (LayerNorm, RMSNorm) or the channel axis (ConvNeXt's
    channels-first LayerNorm). The probe runs on a fixed random batch without gradients,
    the module's buffers kept."""
    params = list(module.parameters(recurse=False))
    if not params or next(module.children(), None) is not None or \
            type(module).__module__.startswith("torch."):
        return False
    d = params[0].shape[0] if params[0].dim() == 1 else -1
    if d < 2 or any(p.dim() != 1 or p.shape[0] != d or not p.is_floating_point()
                    for p in params):
        return False
    from .._state import buffers_kept

    g = torch.Generator().manual_seed(0)
    p0 = params[0]
    for shape in ((4, 5, d), (4, d, 3, 3)):
        x = torch.randn(shape, generator=g).to(dtype=p0.dtype, device=p0.device)
        try:
            with torch.no_grad(), buffers_kept(module):
                a, b = module(x), module(3.0 * x)
        except Exception:
            continue
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and \
                a.shape == x.shape and bool(torch.isfinite(a).all()) and \
                float(a.abs().max()) > 0 and \
                float((a - b).abs().max()) <= 1e-3 * float(a.abs().max()):
            return True
    return False


def _roles(trace: Trace, modules: dict[str, nn.Module],
           custom_norms: frozenset[str] = frozenset()) -> list[_Role]:
    roles = []
    for node in trace.nodes:
        if node.kind in ("input", "output"):
            roles.append(_Role(node.kind))
        elif node.kind == "module":
            m = modules[node.target]
            if isinstance(m, _NORMS) or node.target in custom_norms:
                roles.append(_Role("norm"))
            elif next(m.parameters(recurse=False), None) is not None:
                roles.append(_Role("layer"))
            elif isinstance(m, _TRANSPARENT_MODULES):
                roles.append(_Role("transparent"))
            else:
                act = _module_activation(m)
                roles.append(_Role("activation", act) if act else _Role("other"))
        elif node.target in ACTIVATION_OPS:
            act = _op_activation(node)
            roles.append(_Role("activation", act) if act else _Role("other"))
        elif node.target in NORM_OPS:
            roles.append(_Role("norm"))
        elif node.target in ATTENTION_OPS:
            roles.append(_Role("attention"))
        elif node.target in ("split", "chunk"):
            roles.append(_Role("split"))
        elif node.target in TRANSPARENT_OPS or (
            node.target in ("add", "sub", "mul", "div") and len(node.inputs) == 1
        ):
            roles.append(_Role("transparent"))
        elif node.target == "add" and len(node.inputs) == 2:
            roles.append(_Role("add"))
        elif node.target == "mul" and len(node.inputs) == 2:
            roles.append(_Role("gate"))
        else:
            roles.append(_Role("other"))
    return roles


# --- the analysis ------------------------------------------------------------------


def _source(trace: Trace, roles: list[_Role], start: int) -> tuple[Source, Activation | None]:
    i = start
    for _ in range(len(trace.nodes)):
        r = roles[i]
        if r.role in ("transparent", "split"):
            i = trace.nodes[i].inputs[0]
            continue
        if r.role == "input":
            return "input", None
        if r.role == "activation":
            return "activation", r.act
        if r.role == "gate":
            # GLU-style a * phi(b): E[(a phi(b))^2] = E[a^2] E[phi(b)^2], so the layer
            # after it sees phi's second moment.
            for j in trace.nodes[i].inputs:
                kind, act = _source(trace, roles, j)
                if kind == "activation":
                    return "gate", act
            return "unknown", None
        if r.role in ("norm", "layer", "attention"):
            return r.role, None
        if r.role == "add":
            return "residual", None
        return "unknown", None
    return "unknown", None


def _consumer(
    trace: Trace, roles: list[_Role], start: int, module: nn.Module
) -> tuple[str, Activation | None, int]:
    """First non-transparent consumer of a node's output; and the split count met."""
    frontier, seen, splits = list(trace.nodes[start].users), set(), 1
    found: list[tuple[str, Activation | None]] = []
    while frontier:
        i = frontier.pop(0)
        if i in seen:
            continue
        seen.add(i)
        r = roles[i]
        if r.role == "split":
            node = trace.nodes[i]
            n = _split_count(node, module, trace)
            splits = n or splits
            frontier.extend(node.users)
        elif r.role == "transparent":
            frontier.extend(trace.nodes[i].users)
        else:
            found.append((r.role, r.act))
    for role, act in found:
        if role == "activation":
            return "activation", act, splits
    if not found:
        return "unknown", None, splits
    return found[0][0], None, splits


def _split_count(node: Node, module: nn.Module, trace: Trace) -> int | None:
    """chunk(n) splits in n; split(size) of a layer with out_features d splits in d / size;
    split([s, s, s]) in 3 equal parts (unequal sections are no fused projection);
    otherwise (a size fx only knows symbolically) count the distinct parts taken."""
    first = node.args[0] if node.args else None
    if isinstance(first, tuple):
        return len(first) if len(set(first)) == 1 and len(first) > 1 else None
    arg = first if isinstance(first, int) and not isinstance(first, bool) else None
    if node.target == "chunk" and arg:
        return arg
    weight = getattr(module, "weight", None)
    total = weight.shape[out_axis(module)] if isinstance(weight, torch.Tensor) and \
        weight.dim() > out_axis(module) else None
    if arg and total is not None:
        return total // arg if total % arg == 0 else None
    parts = {u.args[0] for u in (trace.nodes[i] for i in node.users)
             if u.target == "getitem" and u.args and isinstance(u.args[0], int)}
    if len(parts) > 1 and (total is None or total % len(parts) == 0):
        return len(parts)
    return None


def _ancestors(trace: Trace, start: int) -> set[int]:
    seen, stack = set(), [start]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(trace.nodes[i].inputs)
    return seen


def _residuals(trace: Trace, roles: list[_Role]) -> tuple[dict[int, list[int]], set[int], int]:
    """Branch membership per layer node, the branch-end nodes, and the branch count."""
    member: dict[int, list[int]] = {}
    ends: set[int] = set()
    count = 0
    for node in trace.nodes:
        if roles[node.index].role != "add":
            continue
        a, b = node.inputs
        anc_a, anc_b = _ancestors(trace, a), _ancestors(trace, b)
        if a in anc_b:
            short, branch = anc_a, anc_b
        elif b in anc_a:
            short, branch = anc_b, anc_a
        elif any(roles[i].role != "input" for i in anc_a & anc_b):
            # Both sides computed from a common value (a projection shortcut): the branch
            # is the side with more layers. (A common raw input alone, as in token +
            # position embeddings, is no residual.)
            la = sum(roles[i].role == "layer" for i in anc_a - anc_b)
            lb = sum(roles[i].role == "layer" for i in anc_b - anc_a)
            short, branch = (anc_a, anc_b) if lb >= la else (anc_b, anc_a)
        else:
            continue  # two independent inputs (token + position embedding): not residual
        own = branch - short
        layers = [i for i in own if roles[i].role in ("layer", "norm")]
        if not any(roles[i].role == "layer" for i in layers):
            continue
        for i in layers:
            member.setdefault(i, []).append(count)
        end = _branch_end(trace, roles, max(own))
        if end is not None:
            ends.add(end)
        count += 1
    return member, ends, count


def _branch_end(trace: Trace, roles: list[_Role], i: int) -> int | None:
    """The layer or norm that produces a branch's value (through dropout, reshapes)."""
    for _ in range(len(trace.nodes)):
        role = roles[i].role
        if role in ("layer", "norm"):
            return i
        if role not in ("transparent", "split") or not trace.nodes[i].inputs:
            return None
        i = trace.nodes[i].inputs[0]
    return None


def analyze(trace: Trace, model: nn.Module) -> LayerGraph:
    """Read a :class:`Trace` of ``model`` into a :class:`LayerGraph`."""
    modules = dict(model.named_modules())
    custom_norms = frozenset(n for n, m in modules.items() if normalizes(m))
    roles = _roles(trace, modules, custom_norms)

    def kind_of(name: str, m: nn.Module) -> Kind:
        return "norm" if name in custom_norms else layer_kind(m)

    member, ends, n_branches = _residuals(trace, roles)
    layers: dict[str, LayerInfo] = {}
    unresolved: dict[str, str] = {}
    order = 0
    for node in trace.nodes:
        if node.kind != "module" or roles[node.index].role not in ("layer", "norm"):
            continue
        if node.target in layers:
            continue  # a module called twice (weight sharing): its first call decides
        m = modules[node.target]
        source, act = (_source(trace, roles, node.inputs[0]) if node.inputs
                       else ("unknown", None))
        consumer, out_act, splits = _consumer(trace, roles, node.index, m)
        if source == "unknown" and kind_of(node.target, m) != "embedding":  # (reads indices)
            unresolved[node.target] = "its input comes from an op initscope does not read"
        layers[node.target] = LayerInfo(
            node.target, m, kind_of(node.target, m), source, act, consumer, out_act, splits,
            tuple(member.get(node.index, ())), node.index in ends, order,
        )
        order += 1
    opaque = [n for n, m in modules.items() if isinstance(m, (nn.MultiheadAttention, nn.RNNBase))]
    for name, m in modules.items():
        inside_opaque = any(name.startswith(f"{o}.") for o in opaque)  # owned by the parent
        if name not in layers and not inside_opaque and next(
            m.parameters(recurse=False), None
        ) is not None:
            layers[name] = LayerInfo(name, m, kind_of(name, m), "unused")
    for name, r in _readouts(layers, trace, roles).items():
        layers[name] = replace(layers[name], readout=r)
    for name, parts in _attention_parts(trace, roles, layers).items():
        layers[name] = replace(layers[name], attention=tuple(sorted(parts, key=str)))
    links = _activation_links(trace, roles, layers, modules)
    for producer, consumers in links.items():
        layers[producer] = replace(layers[producer], activation_to=consumers)
        for c in consumers:
            layers[c] = replace(layers[c], activation_from=producer)
    for name, count in _chain_sizes(links).items():
        layers[name] = replace(layers[name], chain_links=count)
    found, scaled = _param_roles(trace, roles, layers, model)
    for name, named in found.items():
        layers[name] = replace(layers[name], param_roles=tuple(sorted(named.items())))
    for name in scaled:
        layers[name] = replace(layers[name], layer_scaled=True)
    return LayerGraph(layers, trace.method, n_branches, unresolved)


#: The role of a per-channel gain on a residual branch's output (ConvNeXt's gamma).
LAYER_SCALE = "layer scale (a residual branch's per-channel gain)"


#: Ops that multiply their input by a weight matrix.
_MATMUL_OPS = frozenset({"linear", "matmul", "mm", "bmm", "baddbmm", "addmm", "einsum",
                         "_grouped_mm", "grouped_mm", "conv1d", "conv2d", "conv3d"})
#: Ops that write a value into chosen positions of the data.
_WRITE_OPS = frozenset({"__setitem__", "setitem", "index_put", "masked_fill", "masked_scatter",
                        "where"})


def _param_roles(trace: Trace, roles: list[_Role], layers: dict[str, LayerInfo],
                 model: nn.Module) -> tuple[dict[str, dict[str, str]], set[str]]:
    """LayerInfo.param_roles, by layer name: routers and GLU projections among the
    layers, and the parameters a module's own code uses (read off their first use); and
    the layers a layer scale multiplies (LayerInfo.layer_scaled)."""
    found: dict[str, dict[str, str]] = {}
    scaled: set[str] = set()
    index = {node.target: node.index for node in trace.nodes if node.kind == "module"}
    for name, info in layers.items():
        i = index.get(name)
        if i is None or info.kind == "norm" or info.readout is not None:
            continue
        if info.kind == "embedding":
            role = _embedding_role(trace, roles, info, i)
        elif info.attention:
            continue
        elif _routes(trace, roles, i):
            role = "router (its output holds a top-k choice of experts)"
        else:
            role = _glu_part(trace, roles, i) or (
                "MLP in" if _feeds_branch_end(trace, roles, layers, i) else None)
        if role is not None:
            found.setdefault(name, {})["weight"] = role
    params = dict(model.named_parameters(remove_duplicate=False))
    for qualified, uses in trace.param_uses.items():
        owner, _, local = qualified.rpartition(".")
        if owner in layers and qualified in params:
            role = _use_role(trace, roles, uses[0], params[qualified])
            found.setdefault(owner, {})[local] = role
            data = _data_input(trace, uses[0].node) if role == LAYER_SCALE else None
            if data is not None:
                source = trace.nodes[_through(trace, roles, data)]
                if source.kind == "module" and source.target in layers:
                    scaled.add(source.target)
    for name, info in layers.items():  # a module's own parameters its forward never used
        if info.input_source != "unused" or info.kind != "other":
            continue
        if isinstance(info.module, parametrize.ParametrizationList):
            weight_norm = type(info.module[0]).__name__ == "_WeightNorm" and \
                len(info.module) == 1
            for local, _ in info.module.named_parameters(recurse=False):
                found.setdefault(name, {})[local] = (
                    {"original0": "weight norm: magnitude g",
                     "original1": "weight norm: direction v"}.get(local, "parametrized")
                    if weight_norm else f"parametrized weight's {local}")
            continue
        for local, _ in info.module.named_parameters(recurse=False):
            found.setdefault(name, {}).setdefault(local, "not used on this batch")
    return found, scaled


def _feeds_branch_end(trace: Trace, roles: list[_Role], layers: dict[str, LayerInfo],
                      i: int) -> bool:
    """Through one activation, the whole input of a residual branch's last layer: the
    first layer of a transformer's (or a ConvNeXt block's) MLP."""
    for j in _users(trace, roles, i):
        if roles[j].role == "activation":
            for k in _users(trace, roles, j):
                node = trace.nodes[k]
                info = layers.get(node.target) if node.kind == "module" else None
                if info is not None and info.branch_end:
                    return True
    return False


def _embedding_role(trace: Trace, roles: list[_Role], info: LayerInfo, i: int) -> str | None:
    """An embedding whose rows are added to attention scores (T5's relative position
    bias), or whose indices the model computes (positions), else None."""
    for j in _users(trace, roles, i):
        if roles[j].role == "add":
            other = next((k for k in trace.nodes[j].inputs if k != i and
                          i not in _ancestors(trace, k)), None)
            if other is not None and any(trace.nodes[a].target in ATTENTION_OPS
                                         for a in _ancestors(trace, other)):
                return "relative position bias (added to attention scores)"
    if info.input_source != "input":
        return "position embedding (indices the model computes)"
    return None


def _after(trace: Trace, roles: list[_Role], start: int,
           through: tuple[str, ...] = ("transparent", "split"),
           keeps: Callable[[int], bool] | None = None) -> list[int] | None:
    """The nodes that consume ``start``'s value through ops of the roles ``through``
    (breadth first); None when ``keeps`` says one of those ops may not be passed."""
    frontier, seen, out = list(trace.nodes[start].users), set(), []
    while frontier:
        i = frontier.pop(0)
        if i in seen:
            continue
        seen.add(i)
        if roles[i].role in through:
            if keeps is not None and not keeps(i):
                return None
            frontier.extend(trace.nodes[i].users)
        else:
            out.append(i)
    return out


def _users(trace: Trace, roles: list[_Role], start: int) -> list[int]:
    """:func:`_after` through transparent ops and splits."""
    return _after(trace, roles, start) or []


def _routes(trace: Trace, roles: list[_Role], i: int) -> bool:
    """A layer whose output holds integer indices, or whose scores (through a softmax)
    a top-k reads: a mixture of experts' router."""
    if i in trace.selects:
        return True
    for j in _users(trace, roles, i):
        if trace.nodes[j].target == "topk" or (
                trace.nodes[j].target in ("softmax", "sigmoid") and
                any(trace.nodes[k].target == "topk" for k in _users(trace, roles, j))):
            return True
    return False


def _glu_part(trace: Trace, roles: list[_Role], i: int) -> str | None:
    """A gated unit's gate (its output, through the activation, multiplies another
    projection's) or that projection, else None."""
    def gates_a_layer(j: int) -> bool:  # a GLU's product feeds a layer
        return any(roles[k].role == "layer" for k in _users(trace, roles, j))

    for j in _users(trace, roles, i):
        if roles[j].role == "gate" and gates_a_layer(j):
            return "MLP up (multiplied by the gate)"
        if roles[j].role == "activation" and any(
                roles[k].role == "gate" and gates_a_layer(k) for k in _users(trace, roles, j)):
            return "MLP gate"
    return None


def _use_role(trace: Trace, roles: list[_Role], use: ParamUse, p: torch.Tensor) -> str:
    """What a parameter used by a module's own code is for, from its first use."""
    op, via = use.op, use.via
    if op == "cat":
        return "class token (joined to the sequence)"
    if op in _WRITE_OPS:
        return "mask embedding (written where the input is masked)"
    if op in _MATMUL_OPS:
        return "stacked expert weights" if p.dim() == 3 else f"weight (used by {op})"
    if op == "add":
        return "position embedding (added to the sequence)" if p.dim() >= 2 else "shift"
    if op in ("mul", "div"):
        if "exp" in via:
            if "neg" in via:
                return "decay rate, used as -exp(p) (a state-space model's A)"
            return "logit scale, used as exp(p)" if p.numel() == 1 else "gain, used as exp(p)"
        if p.numel() == 1:
            return "scalar gain"
        return _gain_side(trace, roles, use.node)
    return f"used in {op}"


def _gain_side(trace: Trace, roles: list[_Role], i: int) -> str:
    """A per-channel gain: on a residual branch's output (a layer scale) or on the
    shortcut around it (a skip gain), read off the sum it feeds."""
    data = _data_input(trace, i)
    for j in _users(trace, roles, i):
        if roles[j].role == "add" and data is not None:
            a, b = trace.nodes[j].inputs
            mine = a if i == a or i in _ancestors(trace, a) else b
            other = _through(trace, roles, b if mine == a else a)  # (timm's Identity shortcut)
            if data in _ancestors(trace, other):  # what it scales also feeds the sum's other side
                return "per-channel skip gain (on the shortcut)"
            if other in _ancestors(trace, mine):  # it scales what was computed from the other
                return LAYER_SCALE
    return "per-channel gain"


def _data_input(trace: Trace, i: int) -> int | None:
    """Of a node's inputs, the one with the longest history: the data a parameter's op
    acts on (the parameter's own side, computed from it alone, has none)."""
    return max(trace.nodes[i].inputs, key=lambda k: len(_ancestors(trace, k)), default=None)


def _chain_sizes(links: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """For each layer in a chain of links, the number of links of its chain."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p, cs in links.items():
        for c in cs:
            parent[root(c)] = root(p)
    edges: dict[str, int] = {}
    for p, cs in links.items():
        edges[root(p)] = edges.get(root(p), 0) + len(cs)
    return {x: edges[root(x)] for x in parent}


def _link_family(info: LayerInfo) -> tuple[str, int] | None:
    """Layers a chain link may join: linear, or conv of one dimensionality with groups 1
    (a mirrored pair of channels must meet the same kernel), and not transposed."""
    m = info.module
    if info.kind == "linear" and not stores_in_out(m):
        return ("linear", 2)
    if info.kind == "conv" and isinstance(m, nn.modules.conv._ConvNd) and m.groups == 1:
        return ("conv", m.weight.dim())
    return None


def _keeps_layout(node: Node, modules: dict[str, nn.Module]) -> bool:
    if node.kind == "module":
        return isinstance(modules.get(node.target), (nn.Identity, nn.modules.dropout._DropoutNd))
    return node.target in _LAYOUT_KEEPING


def _through(trace: Trace, roles: list[_Role], i: int) -> int:
    """The node whose value ``i`` passes on unchanged (through transparent ops)."""
    for _ in range(len(trace.nodes)):
        if roles[i].role != "transparent" or not trace.nodes[i].inputs:
            return i
        i = trace.nodes[i].inputs[0]
    return i


def _plain_users(trace: Trace, roles: list[_Role], start: int,
                 modules: dict[str, nn.Module]) -> list[int] | None:
    """The non-transparent nodes reading ``start``'s value through transparent ops only
    (casts, dropout, contiguous), or None where one of those ops changes the layout of
    the features (a reshape, a permute, a split: the halves would not stay halves)."""
    return _after(trace, roles, start, ("transparent",),
                  lambda i: _keeps_layout(trace.nodes[i], modules))


#: Transparent ops after which a unit is still the same unit at the same index.
_LAYOUT_KEEPING = frozenset({"dropout", "contiguous", "to", "float", "type", "type_as",
                             "clone", "detach", "alpha_dropout", "feature_alpha_dropout",
                             "dropout1d", "dropout2d", "dropout3d"})


def _activation_links(trace: Trace, roles: list[_Role], layers: dict[str, LayerInfo],
                      modules: dict[str, nn.Module]) -> dict[str, tuple[str, ...]]:
    """Plain chain links producer -> elementwise activation -> consumers (see
    ``LayerInfo.activation_from``)."""
    first: dict[str, int] = {}
    for node in trace.nodes:
        if node.kind == "module" and roles[node.index].role == "layer" and \
                node.target in layers:
            first.setdefault(node.target, node.index)
    calls = Counter(node.target for node in trace.nodes if node.kind == "module")
    links: dict[str, tuple[str, ...]] = {}
    for name, index in first.items():
        family = _link_family(layers[name])
        if family is None or calls[name] != 1:
            continue
        users = _plain_users(trace, roles, index, modules)
        if users is None or len(users) != 1 or roles[users[0]].role != "activation":
            continue
        act_node = trace.nodes[users[0]]
        if len(act_node.inputs) != 1:
            continue
        readers = _plain_users(trace, roles, act_node.index, modules)
        if not readers:
            continue
        consumers: list[str] = []
        for r in readers:
            node = trace.nodes[r]
            target = node.target if node.kind == "module" else None
            if target is None or target not in layers or calls.get(target) != 1 or \
                    layers[target].readout is not None or \
                    _link_family(layers[target]) != family or \
                    not _reads_through(trace, node, act_node.index, modules):
                consumers = []
                break
            consumers.append(target)
        if consumers:
            links[name] = tuple(consumers)
    return links


def _reads_through(trace: Trace, node: Node, source: int,
                   modules: dict[str, nn.Module]) -> bool:
    """Whether ``node``'s first input is ``source`` through layout-keeping ops."""
    if not node.inputs:
        return False
    i = node.inputs[0]
    for _ in range(len(trace.nodes)):
        if i == source:
            return True
        n = trace.nodes[i]
        if not _keeps_layout(n, modules) or not n.inputs:
            return False
        i = n.inputs[0]
    return False


def _out_features(info: LayerInfo) -> int | None:
    w = getattr(info.module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        return None
    return int(w.shape[out_axis(info.module)]) if info.kind == "linear" else None


def _readouts(layers: dict[str, LayerInfo], trace: Trace,
              roles: list[_Role]) -> dict[str, Readout]:
    """Output heads over the vocabulary of an input embedding, the embedding tied to one,
    and the embeddings summed with that embedding (see :class:`Readout`)."""
    embeds = [i for i in layers.values() if i.kind == "embedding" and i.order >= 0
              and isinstance(getattr(i.module, "weight", None), torch.Tensor)]
    found: dict[str, Readout] = {}
    scores = _logit_producers(trace, roles)
    for head in layers.values():
        if head.output_consumer != "output" or head.kind != "linear" or head.order < 0:
            continue
        w = getattr(head.module, "weight", None)
        tied = next((e for e in embeds if e.module.weight is w), None)
        vocab = _out_features(head)
        token = tied or next((e for e in embeds if _rows(e) == vocab), None)
        # over an input embedding's tokens, or returned as the model's `logits`
        if vocab is None or vocab < 2 or (token is None and head.name not in scores):
            continue
        g = input_gain(head)
        found[head.name] = Readout(vocab, g, tied.name if tied else None, token is not None)
        if tied is not None:
            found[tied.name] = Readout(vocab, g, head.name)
            # Positions and token types added to it start at its scale, or they would
            # drown the token's identity (std 1 against its ~0.05).
            node = _consumer_node(trace, roles, tied.name)
            for e in embeds:
                if e is not tied and node is not None and \
                        _consumer_node(trace, roles, e.name) == node:
                    found[e.name] = Readout(vocab, g, None)
    return found


_SCORE_OPS = frozenset({"matmul", "bmm", "baddbmm", "einsum"})
_SCALING_OPS = frozenset({"mul", "div", "add", "sub", "masked_fill", "to", "float"})


def _attention_parts(trace: Trace, roles: list[_Role],
                     layers: dict[str, LayerInfo]) -> dict[str, set[tuple[str, int | None]]]:
    """Which layers make queries, keys and values (see ``LayerInfo.attention``)."""
    found: dict[str, set[tuple[str, int | None]]] = {}

    def mark(start: int, part: str) -> None:
        for name, block in _producers(trace, start, roles):
            if name in layers and layers[name].kind == "linear":
                found.setdefault(name, set()).add((part, block))

    for node in trace.nodes:
        operands: tuple[int, ...] = ()
        if node.target == "scaled_dot_product_attention" and len(node.inputs) >= 2:
            operands = node.inputs[:2]
        elif node.target == "softmax" and node.inputs:
            i = node.inputs[0]
            for _ in range(16):  # scale, mask, casts between the scores and the softmax
                n = trace.nodes[i]
                if n.target in _SCORE_OPS:
                    operands = n.inputs[:2] if len(n.inputs) >= 2 else ()
                    break
                if n.target not in _SCALING_OPS and roles[i].role != "transparent":
                    break
                if not n.inputs:
                    break
                i = n.inputs[0]
        if len(operands) == 2:
            mark(operands[0], "query")
            mark(operands[1], "key")
        if node.target == "scaled_dot_product_attention" and len(node.inputs) >= 3:
            mark(node.inputs[2], "value")
        elif node.target == "softmax":
            value = _weighted_operand(trace, roles, node.index)
            if value is not None:
                mark(value, "value")
    return found


def _weighted_operand(trace: Trace, roles: list[_Role], softmax: int) -> int | None:
    """The values a softmax's weights average: the other operand of the matmul that
    takes the weights (through dropout and casts)."""
    frontier, seen = [softmax], set()
    while frontier:
        i = frontier.pop(0)
        if i in seen:
            continue
        seen.add(i)
        for u in trace.nodes[i].users:
            n = trace.nodes[u]
            if n.target in _SCORE_OPS and len(n.inputs) >= 2 and n.inputs[0] == i:
                return n.inputs[1]
            if roles[u].role == "transparent" or n.target in ("to", "float", "type", "type_as"):
                frontier.append(u)
    return None


def _producers(trace: Trace, start: int,
               roles: list[_Role]) -> set[tuple[str, int | None]]:
    """The modules a value is computed from, stopping at each module met (positional
    rotations and reshapes pass, and so do the modules that pass a value on unchanged:
    timm's q_norm / k_norm, an Identity between the fused QKV and the attention), with
    the part taken of a split output."""
    out: set[tuple[str, int | None]] = set()
    stack: list[tuple[int, int | None]] = [(start, None)]
    seen: set[int] = set()
    while stack:
        i, block = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        node = trace.nodes[i]
        if node.kind == "module" and roles[i].role == "transparent" and node.inputs:
            stack.extend((j, block) for j in node.inputs)
            continue
        if node.kind == "module":
            out.add((node.target, block))
            continue
        if node.kind != "call":
            continue
        if node.target == "getitem" and node.inputs and \
                trace.nodes[node.inputs[0]].target in ("split", "chunk", "unbind") and \
                node.args and isinstance(node.args[0], int):
            stack.append((node.inputs[0], node.args[0]))
            continue
        stack.extend((j, block) for j in node.inputs)
    return out


def _logit_producers(trace: Trace, roles: list[_Role]) -> set[str]:
    """The modules whose output the model returns as ``logits`` (through transparent ops)."""
    found: set[str] = set()
    frontier = list(trace.logits)
    seen: set[int] = set()
    while frontier:
        i = frontier.pop()
        if i in seen:
            continue
        seen.add(i)
        node = trace.nodes[i]
        if node.kind == "module":
            found.add(node.target)
        elif roles[i].role in ("transparent", "split") and node.inputs:
            frontier.append(node.inputs[0])
    return found


def _rows(info: LayerInfo) -> int:
    w = getattr(info.module, "weight", None)
    return int(w.shape[0]) if isinstance(w, torch.Tensor) else -1


def _consumer_node(trace: Trace, roles: list[_Role], module_name: str) -> int | None:
    """The first node past transparent ops that reads the output of module ``module_name``."""
    start = next((n.index for n in trace.nodes if n.kind == "module"
                  and n.target == module_name), None)
    if start is None:
        return None
    frontier = list(trace.nodes[start].users)
    while frontier:
        i = frontier.pop(0)
        if roles[i].role in ("transparent", "split"):
            frontier.extend(trace.nodes[i].users)
            continue
        return i
    return None


def layer_graph(model: nn.Module, example_inputs: Any = None) -> LayerGraph:
    """The :class:`LayerGraph` of ``model``.

    Traces with torch.fx when it can. When fx fails (tensor-dependent control flow,
    some torch.nn containers) and ``example_inputs`` are given, it runs the model once on
    them under a recording mode instead (hooks removed afterwards); the graph's ``notes``
    say so. ``example_inputs``: a tensor, a tuple of positional inputs or a dict of keyword inputs.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    note = None
    if is_leaf(model):
        # A single layer (nn.LSTM, nn.Linear) is its own graph: input -> it -> output.
        trace = Trace([], "fx")
        trace.add("output", "output", (trace.add("module", "", (trace.add("input", "x", ()),)),))
        return analyze(trace, model)
    try:
        trace = trace_sequential(model) or trace_fx(model)
    except Exception as e:
        if example_inputs is None:
            raise ValueError(
                f"torch.fx could not trace {type(model).__name__} ({type(e).__name__}: {e}); "
                "pass example_inputs= so initscope can trace it by running it once"
            ) from e
        trace = trace_dynamic(model, example_inputs)
        note = f"torch.fx could not trace the model ({type(e).__name__}); traced by running it"
    graph = analyze(trace, model)
    if note:
        graph.notes.append(note)
    return graph


# --- what a layer asks of its weights -------------------------------------------------


def input_gain(info: LayerInfo) -> float:
    """Forward gain of the nonlinearity feeding the layer; 1 when none does."""
    if info.input_activation is None:
        return 1.0
    return gain_of(info.input_activation, "forward")


def weight_fans(info: LayerInfo, name: str = "weight") -> FanSpec:
    """The fan spec of a layer's weight, from what the graph knows about it."""
    m = info.module
    groups = int(getattr(m, "groups", 1))
    if info.kind == "conv_transpose":
        return FanSpec("torch_conv_transpose", groups=groups)
    if info.kind == "embedding":
        return FanSpec("embedding")
    if stores_in_out(m):  # (in, out): the dense layout of jax and Keras
        return FanSpec("jax", splits=info.splits)
    return FanSpec("torch", groups=groups, splits=info.splits)


def role_of(info: LayerInfo, local: str) -> str:
    """What parameter ``local`` of layer ``info`` is for, in words, from the graph."""
    for name, role in info.param_roles:
        if name == local:
            return role
    leaf = local.rpartition(".")[2]
    if info.kind == "norm":
        return "norm gain" if leaf == "weight" else "norm shift" if leaf == "bias" else "norm"
    if leaf.startswith("bias"):
        return "bias"
    r = info.readout
    if r is not None:
        if info.kind != "embedding":
            return "output head (tied)" if r.tied else "output head"
        return "input embedding + output head (tied)" if r.tied else \
            "embedding summed with the input embedding"
    if info.kind == "embedding":
        return "input embedding" if info.input_source == "input" else "embedding"
    order = ("query", "key", "value")
    parts = sorted({p for p, _ in info.attention},
                   key=lambda p: (order.index(p) if p in order else len(order), p))
    if parts:
        fused = " (fused)" if any(b is not None for _, b in info.attention) else ""
        return "+".join(parts) + fused
    if info.branch_end:
        return "residual branch end"
    if info.output_consumer == "output":
        return "output layer"
    if info.kind == "other":
        return f"other ({type(info.module).__name__})"
    return "hidden"
