"""The traced form of a model: a small dataflow graph both tracers produce.

Nodes are model inputs, calls of leaf modules (by qualified name), calls of functions and
tensor methods (by normalized name), and the output. The analysis in ``graph.py`` reads
only this, so it does not care whether torch.fx or a dynamic trace made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NodeKind = Literal["input", "module", "call", "output"]


@dataclass
class Node:
    index: int
    kind: NodeKind
    target: str  # qualified module name, or normalized op name
    inputs: tuple[int, ...]  # indices of tensor-producing nodes among the arguments
    args: tuple[object, ...] = ()  # non-tensor positional arguments (activation params, chunks)
    kwargs: dict[str, object] = field(default_factory=dict)
    users: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ParamUse:
    """Where a parameter that no layer holds (one a container's forward uses itself:
    ViT's class token, a layer scale, stacked expert weights) meets the model's data:
    the op, the ops applied to the parameter alone before it (``exp``, ``expand``,
    ``getitem``), and the node that op made."""

    op: str
    via: tuple[str, ...]
    node: int


@dataclass
class Trace:
    nodes: list[Node]
    method: Literal["fx", "dynamic"]
    #: Nodes whose value the model returns as ``logits`` (a dict-like output's entry):
    #: class scores, whatever produced them.
    logits: tuple[int, ...] = ()
    #: Each such parameter's uses, by qualified name, in execution order.
    param_uses: dict[str, list[ParamUse]] = field(default_factory=dict)
    #: Module nodes whose output holds integer indices (a top-k selection: a router).
    selects: set[int] = field(default_factory=set)

    def add(
        self,
        kind: NodeKind,
        target: str,
        inputs: tuple[int, ...],
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> int:
        node = Node(len(self.nodes), kind, target, inputs, args, dict(kwargs or {}))
        self.nodes.append(node)
        for i in inputs:
            self.nodes[i].users.append(node.index)
        return node.index


_ALIASES = {
    "__add__": "add", "__radd__": "add", "__iadd__": "add", "iadd": "add", "add_": "add",
    "__mul__": "mul", "__rmul__": "mul", "__imul__": "mul", "imul": "mul", "mul_": "mul",
    "__getitem__": "getitem", "__truediv__": "div", "truediv": "div",
    "__sub__": "sub", "sub_": "sub", "__matmul__": "matmul",
}


def normalize_op(name: str) -> str:
    """``relu_`` -> ``relu``, ``__add__`` / ``iadd`` -> ``add``, ``__mul__`` -> ``mul``."""
    name = _ALIASES.get(name, name)
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    return name


#: Ops that are nonlinearities, with the registry name they map to.
ACTIVATION_OPS: dict[str, str] = {
    "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "elu": "elu", "selu": "selu",
    "celu": "celu", "gelu": "gelu", "silu": "silu", "mish": "mish", "softplus": "softplus",
    "tanh": "tanh", "sigmoid": "sigmoid", "hardtanh": "hardtanh", "hardsigmoid": "hardsigmoid",
    "hardswish": "hardswish", "softsign": "softsign", "erf": "erf",
}

#: Ops that move, drop or pool values without changing which nonlinearity they carry.
TRANSPARENT_OPS = frozenset({
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "flatten", "reshape", "view", "permute", "transpose", "contiguous", "squeeze", "unsqueeze",
    "clone", "to", "float", "type_as", "getitem", "split", "chunk", "unbind", "pad", "expand",
    "expand_as", "repeat", "tile", "narrow", "select", "index_select",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "mean",
})

#: Ops that mix a sequence with data-dependent weights (attention). A layer reading their
#: output sees a weighted average of values, not a nonlinearity: gain 1.
ATTENTION_OPS = frozenset({
    "scaled_dot_product_attention", "multi_head_attention_forward", "matmul", "bmm", "einsum",
    "baddbmm",
})

#: Normalizations as functions (modules are recognised by type).
NORM_OPS = frozenset({"layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm"})
