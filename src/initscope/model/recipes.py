"""Recipes: published initializations of residual networks and transformers.

A recipe needs the whole graph (how many residual branches, which layer ends each), so
it is a function ``LayerGraph -> Policy``. Each reads as its paper's rule:

- ``"zero_last_bn"``: Goyal et al. 2017 (sec. 5.1): "auto", and the last BatchNorm of
  each residual branch gets gamma = 0, so every block starts as the identity.
- ``"skipinit"``: De & Smith 2020 (SkipInit), Bachlechner et al. 2020 (ReZero): every
  residual branch starts switched off; here by zeroing the last layer of each branch (a
  model with explicit scalar gates can claim them by name in ``overrides``).
- ``"fixup"``: Zhang et al. 2019, sec. 3: the last weight layer of each branch zero, the other
  m - 1 weight layers of a branch He-initialized and scaled by L^(-1/(2m-2)) (L branches),
  the classifier (the layer producing the output) zero.
- ``"gpt2"``: Radford et al. 2019 and nanoGPT: N(0, 0.02) weights and embeddings, the
  layer ending each residual branch N(0, 0.02 / sqrt(L)) (L = 2 * blocks branches).
- ``"t_fixup"``: Huang et al. 2020, Alg. 1 (encoder form): Xavier everywhere, input
  embeddings N(0, d^-1/2), the value, attention-output and feed-forward weights scaled by
  0.67 N^(-1/4) (N blocks = L / 2).
- ``"deepnorm"``: Wang et al. 2022 (DeepNet), encoder form: Xavier-normal with gain
  beta = (8N)^(-1/4) on the value, attention-output and feed-forward weights, gain 1 on
  queries and keys. (The residual scale alpha = (2N)^(1/4) is part of the model.)
- ``"small_embedding"``: Peng et al. 2023 (RWKV "SmallInit"): "auto", and embeddings
  U(-1e-4, 1e-4) (followed by a LayerNorm in the models it is meant for).

Where a recipe must tell a value projection from a query or key, it knows fused
projections (``splits == 3``: the third block) and ``nn.MultiheadAttention``.

A recipe whose rule finds nothing to act on in a model (zero_last_bn where no residual
branch ends in a norm, a transformer recipe where the graph finds no attention, any
residual recipe without residual branches) says so in a ``UserWarning`` naming what it
looked for, and what the model gets instead, rather than doing nothing in silence.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

import torch

from .._core import schemes as rules
from .._core.fans import Fans, FanSpec
from .._core.scaling import Draw
from .graph import LayerGraph, LayerInfo, out_axis, weight_fans
from .policies import (
    _ZERO,
    SCHEMES,
    ParamInit,
    Plan,
    Policy,
    RandomSource,
    _norm_plan,
    _own,
    _shape,
    _uniform,
    drawn,
    is_own_fill,
    normalize,
)

_WEIGHTED = ("linear", "conv", "conv_transpose", "attention")


def _auto(info: LayerInfo) -> Plan | None:
    return normalize(SCHEMES["auto"](info), info)


def _zeros_for(info: LayerInfo) -> Plan:
    return {n: _ZERO for n, _ in info.module.named_parameters()}


def _normal(std: float, label: str) -> ParamInit:
    return drawn(label, Draw("normal", std))


def _scaled(step: ParamInit, factor: float) -> ParamInit:
    def fill(t: torch.Tensor, g: RandomSource) -> object:
        step.fill(t, g)
        return t.mul_(factor)

    target = None if step.target_std is None else step.target_std * factor
    scaled = _own(fill) if is_own_fill(step.fill) else fill
    return ParamInit(f"{step.scheme} x {factor:.3g}", scaled, step.fans, step.gain, target,
                     elementwise=step.elementwise)


def _blocks(graph: LayerGraph) -> int:
    return max(1, graph.num_residual_branches // 2)


def _role(info: LayerInfo) -> str:
    """attention (nn.MultiheadAttention), qkv (fused), qk (separate query or key), v,
    attn_out, mlp or other: from the graph's attention parts, then where it reads and
    writes."""
    if info.kind == "attention":
        return "attention"
    if info.kind != "linear":
        return "other"
    parts = {p for p, _ in info.attention}
    if any(b is not None for _, b in info.attention) or (
            info.splits == 3 and info.output_consumer == "attention"):
        return "qkv"
    if "value" in parts:
        return "v"
    if parts:
        return "qk"
    if info.input_source == "attention":
        return "attn_out"
    if info.residual_branches:
        return "mlp"
    return "other"


def _value_block(info: LayerInfo) -> int:
    """The block of a fused projection that holds the values (the graph's, else the last)."""
    return next((b for p, b in info.attention if p == "value" and b is not None),
                info.splits - 1)


_PART = re.compile(r"(?:^|\.)(encoder|decoder)(?:\.|$)")


def _stack_of(name: str) -> str | None:
    """"encoder" or "decoder" when the layer's name places it in one (the last one named)."""
    found = _PART.findall(name)
    return found[-1] if found else None


def _encoder_decoder(graph: LayerGraph) -> tuple[int, int] | None:
    """(N encoder blocks, M decoder blocks) of an encoder-decoder model, from the layers
    that end residual branches (2 per encoder block, 3 per decoder block: self-attention,
    cross-attention, MLP; values reused across blocks, as T5's position bias, make the
    branch sets themselves overlap); None for a single stack."""
    ends = {"encoder": 0, "decoder": 0}
    for info in graph:
        stack = _stack_of(info.name)
        if stack is not None and info.branch_end:
            ends[stack] += 1
    if not ends["encoder"] or not ends["decoder"]:
        return None
    return max(1, ends["encoder"] // 2), max(1, ends["decoder"] // 3)


def _does_not_apply(recipe: str, why: str, instead: str) -> None:
    warnings.warn(f"initialize: recipe {recipe!r} does not apply to this model: {why}; "
                  f"{instead}", UserWarning, stacklevel=_callers_level())


def _callers_level() -> int:
    """The stacklevel of the first frame outside initscope (the user's call of
    initialize, mup, ...), seen from the caller of this function's caller."""
    package = str(Path(__file__).resolve().parents[1])
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _needs_branches(graph: LayerGraph, recipe: str, instead: str) -> None:
    if graph.num_residual_branches == 0:
        _does_not_apply(recipe, "the graph finds no residual branch (a sum of a layer's "
                        "output with its input)", instead)


def _needs_attention(graph: LayerGraph, recipe: str) -> None:
    if not any(info.attention or info.kind == "attention" for info in graph):
        _does_not_apply(recipe, "it is a transformer rule and the graph finds no attention "
                        "(no softmax-normalized product of queries and keys)",
                        "every linear layer gets its Xavier-normal rule (MLP layers in "
                        "residual branches scaled), every other layer 'auto'")


def zero_last_bn(graph: LayerGraph) -> Policy:
    if not any(info.kind == "norm" and info.branch_end for info in graph):
        _does_not_apply("zero_last_bn", "no residual branch ends in a norm (Goyal et al. "
                        "zero the last BatchNorm of each residual block; pre-norm "
                        "transformers end their branches in a linear layer)",
                        "it initializes as 'auto' (for switched-off branches use 'skipinit')")

    def policy(info: LayerInfo) -> Plan | None:
        plan = _auto(info)
        if plan is not None and info.kind == "norm" and info.branch_end and "weight" in plan:
            plan = {**plan, "weight": _ZERO}
        return plan

    return policy


def skipinit(graph: LayerGraph) -> Policy:
    _needs_branches(graph, "skipinit", "it initializes as 'auto'")

    def policy(info: LayerInfo) -> Plan | None:
        if info.branch_end and info.kind in (*_WEIGHTED, "norm"):
            if info.kind == "norm":
                return {**_norm_plan(info), "weight": _ZERO}
            return _zeros_for(info)
        return _auto(info)

    return policy


def fixup(graph: LayerGraph) -> Policy:
    _needs_branches(graph, "fixup", "only the classifier is zeroed, every other layer 'auto'")
    branches = graph.num_residual_branches
    per_branch: Counter[int] = Counter()
    last: dict[int, LayerInfo] = {}  # the last weight layer of each branch (before any norm)
    for info in graph:
        if info.kind in _WEIGHTED:
            for b in info.residual_branches:
                per_branch[b] += 1
                if b not in last or info.order > last[b].order:
                    last[b] = info
    last_names = {i.name for i in last.values()}
    classifier = max((i for i in graph if i.output_consumer == "output" and i.kind in _WEIGHTED),
                     key=lambda i: i.order, default=None)

    def policy(info: LayerInfo) -> Plan | None:
        if classifier is not None and info.name == classifier.name:
            return _zeros_for(info)
        if info.kind in _WEIGHTED and info.residual_branches:
            if info.name in last_names:
                return _zeros_for(info)
            m = max(per_branch[b] for b in info.residual_branches)
            factor = rules.fixup_factor(branches, m)
            plan = _auto(info)
            return None if plan is None else {
                n: (_scaled(p, factor) if n.endswith("weight") else p) for n, p in plan.items()}
        return _auto(info)

    return policy


def gpt2(graph: LayerGraph) -> Policy:
    _needs_branches(graph, "gpt2", "every weight gets N(0, 0.02), none the branch scale "
                    "1/sqrt(L)")
    std = 0.02
    branch_std = rules.gpt2_branch_std(graph.num_residual_branches, std)

    def policy(info: LayerInfo) -> Plan | None:
        if info.kind == "norm":
            return _norm_plan(info)
        if info.kind in ("linear", "conv", "embedding"):
            s = branch_std if info.branch_end else std
            label = f"N(0, {s:.3g})"
            plan = {"weight": _normal(s, label)}
            if getattr(info.module, "bias", None) is not None:
                plan["bias"] = _ZERO
            return plan
        if info.kind == "attention":
            plan = {n: _normal(std, "N(0, 0.02)") if "weight" in n else _ZERO
                    for n, _ in info.module.named_parameters()}
            if info.branch_end:
                plan["out_proj.weight"] = _normal(branch_std, f"N(0, {branch_std:.3g})")
            return plan
        return _auto(info)

    return policy


def _xavier_normal(info: LayerInfo, name: str, gain: float, splits: int = 1) -> ParamInit:
    shape = _shape(info, name)
    f = weight_fans(info).of(shape) if name == "weight" else None
    fans = f or Fans(shape[1], shape[0] // splits, 1)
    step = drawn(f"xavier_normal(gain={gain:.3g})",
                 rules.xavier(gain, "normal").draw(fans), f, gain)
    return step


def _value_scaled(step: ParamInit, factor: float, blocks: int = 3, dim: int = 0,
                  block: int = -1) -> ParamInit:
    """Scale only the value block of a fused projection (the last unless the graph says;
    blocks along ``dim``, the output axis: 1 for an (in, out) Conv1D)."""

    def fill(t: torch.Tensor, g: RandomSource) -> object:
        step.fill(t, g)
        t.chunk(blocks, dim=dim)[block].mul_(factor)
        return t

    return ParamInit(f"{step.scheme}, v x {factor:.3g}", fill, step.fans, step.gain, None)


def _transformer(factor_of: Callable[[LayerInfo], float],
                 embedding: Callable[[LayerInfo], Plan], label: str) -> Policy:
    """The papers' rule: Xavier-normal everywhere; the value, attention-output and MLP
    weights scaled by the layer's factor; queries and keys not."""

    def policy(info: LayerInfo) -> Plan | None:
        role = _role(info)
        if info.kind == "norm":
            return _norm_plan(info)
        if info.kind == "embedding":
            return embedding(info)
        if info.kind not in ("linear", "attention"):
            return _auto(info)
        factor = factor_of(info)
        plan: Plan = {n: _ZERO for n, _ in info.module.named_parameters() if "bias" in n}
        if role == "attention":
            plan["in_proj_weight"] = _value_scaled(
                _xavier_normal(info, "in_proj_weight", 1.0, splits=3), factor)
            plan["out_proj.weight"] = _scaled(_xavier_normal(info, "out_proj.weight", 1.0),
                                              factor)
        elif role == "qkv":
            plan["weight"] = _value_scaled(_xavier_normal(info, "weight", 1.0), factor,
                                           blocks=info.splits or 3,
                                           dim=out_axis(info.module), block=_value_block(info))
        elif role in ("v", "attn_out", "mlp"):
            plan["weight"] = _scaled(_xavier_normal(info, "weight", 1.0), factor)
        else:
            plan["weight"] = _xavier_normal(info, "weight", 1.0)
        return {n: replace(p, scheme=f"{label}: {p.scheme}") for n, p in plan.items()}

    return policy


def _per_stack(graph: LayerGraph, single: float,
               pair: Callable[[int, int], tuple[float, float]]) -> Callable[[LayerInfo], float]:
    """The factor of each layer: ``single`` in one stack; in an encoder-decoder model the
    encoder's or the decoder's from ``pair(N, M)``."""
    both = _encoder_decoder(graph)
    if both is None:
        return lambda info: single
    enc, dec = pair(*both)
    return lambda info: dec if _stack_of(info.name) == "decoder" else enc


def t_fixup(graph: LayerGraph) -> Policy:
    _needs_attention(graph, "t_fixup")
    n = _blocks(graph)

    def embedding(info: LayerInfo) -> Plan:
        d = _shape(info, "weight")[1]
        return {"weight": _normal(rules.embedding_std(d), "N(0, d^-1/2)")}

    factor = _per_stack(graph, rules.t_fixup_factor(n), rules.t_fixup_factors_encoder_decoder)
    return _transformer(factor, embedding, "t_fixup")


def deepnorm(graph: LayerGraph) -> Policy:
    _needs_attention(graph, "deepnorm")
    beta = rules.deepnorm_beta(_blocks(graph))
    # DeepNet scales by beta through the Xavier gain; the factor form is the same thing.
    factor = _per_stack(graph, beta, rules.deepnorm_betas_encoder_decoder)
    return _transformer(factor, lambda info: _auto(info) or {}, "deepnorm")


def small_embedding(graph: LayerGraph) -> Policy:
    if not any(info.kind == "embedding" for info in graph):
        _does_not_apply("small_embedding", "the model has no embedding layer",
                        "it initializes as 'auto'")
    tiny = _uniform(-1e-4, 1e-4)

    def policy(info: LayerInfo) -> Plan | None:
        if info.kind == "embedding":
            return {"weight": replace(tiny((), FanSpec(), 1.0),
                                      scheme="U(-1e-4, 1e-4)")}
        return _auto(info)

    return policy


RECIPES: dict[str, Callable[[LayerGraph], Policy]] = {
    "zero_last_bn": zero_last_bn,
    "skipinit": skipinit,
    "rezero": skipinit,
    "fixup": fixup,
    "gpt2": gpt2,
    "t_fixup": t_fixup,
    "deepnorm": deepnorm,
    "small_embedding": small_embedding,
}
