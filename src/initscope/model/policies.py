"""Policies: which initializer each parameter of a layer gets.

A policy is a plain function ``LayerInfo -> plan | None``. A plan maps a layer's local
parameter names (``"weight"``, ``"bias"``, ``"in_proj_weight"``, ``"weight_hh_l0"``) to
a :class:`ParamInit`; a policy may also return a single :class:`ParamInit` or a plain
``fill(tensor, generator)`` callable, meaning "this for the weight, zeros for the
bias". ``None`` leaves the layer to the next rule (and, if none claims it, the report
lists its parameters as not covered).

The built-in schemes, each a few lines below:

- ``"auto"``: uniform with variance gain^2 / fan_in, the forward gain of the nonlinearity that
  really feeds the layer (1 for the model input, a normalization, a residual sum or
  attention), fans from the real layout (transposed and grouped convolutions, fused QKV
  blocks, LSTM gate blocks), orthogonal recurrent weights, zero biases, unit norms. A
  plain chain of three or more layers (layer -> activation -> layer -> ...) is
  looks-linear instead (below) unless its activation is odd: no gain holds the signal of
  GELU, SiLU, Mish or Hardswish (their length map expands at its fixed point), and on
  deep plain networks looks-linear trained best for every activation that is not odd.
  Such a chain of an odd activation (tanh, hardtanh, softsign), whose mirrored pairs
  would carry nothing new, is orthogonal at its stable edge of chaos (Pennington et al.
  2017; biases N(0, sigma_b2)), where it kept the variance and trained best.
- ``"looks_linear"`` (Balduzzi et al. 2017): every plain chain link
  ``layer -> activation -> layer`` mirrored, so the chain is linear and orthogonal at
  init (:func:`initscope.init.looks_linear_`); other layers as "auto".
- ``"critical"`` (Schoenholz et al. 2017; Hayou et al. 2019): the edge of chaos on the
  stable branch of the length map, weights and random biases at
  :func:`initscope.theory.stable_critical_point` of the feeding nonlinearity.
- ``"xavier"`` (Glorot & Bengio 2010, uniform, gain 1), ``"he"`` (He et al. 2015, normal,
  ReLU gain sqrt 2 everywhere), ``"lecun"`` (LeCun 1998, N(0, 1 / fan_in)),
  ``"orthogonal"`` (Saxe et al. 2014, with the "auto" gain).
- The seed's teaching schemes: ``"zeros"``, ``"ones"``, ``"constant(v)"``,
  ``"uniform(-1,1)"`` (any ``uniform(a,b)``), ``"glorot_standard"``
  (U[-1/sqrt(fan_in), 1/sqrt(fan_in)]).
- ``"torch_default"``: what the layers' own ``reset_parameters`` do (weights
  U[-1/sqrt(fan_in), 1/sqrt(fan_in)], biases likewise, embeddings N(0, 1)), with real fans.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from .. import init
from .._core import schemes as rules
from .._core.activations import Activation
from .._core.fans import Fans, FanSpec
from .._core.gain import activation_property, is_odd, looks_linear_gain, variance_map_slope
from .._core.scaling import Draw, VarianceScaling
from .._torch_sampling import draw_for
from .graph import LayerInfo, input_gain, out_axis, weight_fans

#: The random source a fill gets: a counter-based :class:`initscope.rng.Stream` from
#: :func:`initialize`, or any ``generator=`` an :mod:`initscope.init` function accepts.
RandomSource = init.Generator | None
Fill = Callable[[torch.Tensor, RandomSource], object]


@dataclass(frozen=True)
class ParamInit:
    """How to fill one parameter, and what to report about it."""

    scheme: str
    fill: Fill
    fans: Fans | None = None
    gain: float | None = None
    target_std: float | None = None
    #: True when each element is drawn on its own (uniform, normal, constant, ...), so a
    #: shard can be filled without the rest of the parameter; False (the safe default)
    #: computes the whole parameter and keeps the shard.
    elementwise: bool = False
    #: Set when the values are not the scheme's rule but kept from elsewhere (the model's
    #: own initialization), saying why; the report shows it.
    kept: str | None = None


#: initscope's own fills: their values depend on nothing but the tensor's shape and the
#: generator they are given, so initialize() may draw several at once on helper
#: threads; a fill of your own runs on the calling thread, in parameter order. Kept
#: here rather than as a flag on ParamInit: scheduling is initialize()'s business.
_OWN_FILLS: weakref.WeakSet[Fill] = weakref.WeakSet()


def _own(fill: Fill) -> Fill:
    """Mark ``fill`` as one of initscope's own (see _OWN_FILLS)."""
    _OWN_FILLS.add(fill)
    return fill


def is_own_fill(fill: Fill) -> bool:
    """Whether ``fill`` is one of initscope's own fills (see _OWN_FILLS)."""
    return fill in _OWN_FILLS


Plan = dict[str, ParamInit]
PolicyResult = Plan | ParamInit | Fill | None
Policy = Callable[[LayerInfo], PolicyResult]
PlanPolicy = Callable[[LayerInfo], Plan | None]


def normalize(result: PolicyResult, info: LayerInfo) -> Plan | None:
    """A policy's answer as a full plan (a lone initializer is the weight's; biases zero)."""
    if result is None:
        return result
    if isinstance(result, dict):
        bad = {k: v for k, v in result.items() if not isinstance(v, ParamInit)}
        if bad:
            raise TypeError(
                f"the policy's plan for layer {info.name!r} maps {sorted(bad)} to "
                f"{[type(v).__name__ for v in bad.values()]}; a plan maps parameter names "
                "to ParamInit")
        return result
    if not (isinstance(result, ParamInit) or callable(result)):
        raise TypeError(
            f"the policy returned {result!r} (type {type(result).__name__}) for layer "
            f"{info.name!r}; a policy returns None, a fill (tensor, generator) -> tensor, "
            "a ParamInit or a dict of them")
    one = result if isinstance(result, ParamInit) else ParamInit("custom", result)
    plan: Plan = {"weight": one}
    if getattr(info.module, "bias", None) is not None:
        plan["bias"] = _ZERO
    return plan


# --- building blocks -----------------------------------------------------------------


def _zero(t: torch.Tensor, g: RandomSource) -> object:
    return init.zeros_(t)


def _one(t: torch.Tensor, g: RandomSource) -> object:
    return init.ones_(t)


#: He et al. 2015, eq. 10: Var = 2 / fan_in (the scale written out: sqrt(2)^2 is not 2).
_HE_RELU = VarianceScaling(2.0, "fan_in", "normal")

_ZERO = ParamInit("zeros", _own(_zero), target_std=0.0, elementwise=True)
_ONE = ParamInit("ones", _own(_one), target_std=0.0, elementwise=True)


def drawn(label: str, draw: Draw, fans: Fans | None = None,
          gain: float | None = None) -> ParamInit:
    """A :class:`ParamInit` that samples ``draw`` (a :class:`~initscope.VarianceScaling`'s
    answer, or a fixed-std :class:`~initscope.Draw`): every built-in random rule goes
    through here, so the std it reports is the std it samples."""
    if draw.distribution == "uniform":
        bound = draw.bound

        def fill(t: torch.Tensor, g: RandomSource) -> object:
            return init.uniform_(t, -bound, bound, g)
    elif draw.distribution == "normal":
        std = draw.std

        def fill(t: torch.Tensor, g: RandomSource) -> object:
            return init.normal_(t, 0.0, std, g)
    else:
        under, cut = draw.underlying_std, draw.bound

        def fill(t: torch.Tensor, g: RandomSource) -> object:
            return init.trunc_normal_(t, 0.0, under, -cut, cut, g)

    return ParamInit(label, _own(fill), fans, gain, draw.std, elementwise=True)


def scaled(label: str, rule: VarianceScaling, spec: FanSpec, shape: tuple[int, ...],
           gain: float | None) -> ParamInit:
    """``rule`` (the one variance-scaling formula) on a weight of ``shape`` read by ``spec``."""
    f = spec.of(shape)
    return drawn(label, draw_for(rule, f), f, gain)


def _auto_weight(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # He's condition fixes the variance only; uniform is what torch's own defaults sample
    # and is the cheaper draw on CPU.
    return scaled(f"U, var {gain:.3g}^2/fan_in", rules.he(gain, "fan_in", "uniform"), spec,
                  shape, gain)


def _orthogonal_blocks(gates: int, hidden: int, gain: float = 1.0) -> ParamInit:
    """Recurrent weights (gates * hidden, hidden): one orthogonal matrix per gate block
    (Saxe et al. 2014; Le et al. 2015 for RNNs)."""

    def fill(t: torch.Tensor, g: RandomSource) -> object:
        for block in t.chunk(gates, dim=0):
            init.orthogonal_(block, gain, g)
        return t

    return ParamInit(f"orthogonal per gate (x{gates})", fill, gain=gain,
                     target_std=rules.orthogonal_std(hidden, hidden, gain))


_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _shape(info: LayerInfo, name: str) -> tuple[int, ...]:
    obj: object = info.module
    for part in name.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, torch.Tensor):
        raise TypeError(f"{info.name}.{name} is not a tensor")
    return tuple(obj.shape)


def _attention_plan(info: LayerInfo, weight: Callable[[tuple[int, ...], FanSpec, float],
                                                          ParamInit]) -> Plan:
    """MultiheadAttention: q, k, v blocks of in_proj (or separate q/k/v weights) get the
    fans of one block; out_proj reads attention output (gain 1)."""
    m = info.module
    assert isinstance(m, nn.MultiheadAttention)
    plan: Plan = {}
    g = input_gain(info)
    if m.in_proj_weight is not None:
        plan["in_proj_weight"] = weight(_shape(info, "in_proj_weight"), FanSpec(splits=3), g)
    else:
        for n in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            plan[n] = weight(_shape(info, n), FanSpec(), g)
    plan["out_proj.weight"] = weight(_shape(info, "out_proj.weight"), FanSpec(), 1.0)
    for n, _ in m.named_parameters():
        if n.endswith("bias") or n.startswith("bias_"):
            plan[n] = _ZERO
    return plan


def _rnn_plan(info: LayerInfo, weight: Callable[[tuple[int, ...], FanSpec, float],
                                                    ParamInit]) -> Plan:
    m = info.module
    assert isinstance(m, nn.RNNBase)
    gates = _GATES.get(m.mode.split("_")[0], 1)
    plan: Plan = {}
    for n, _ in m.named_parameters():
        if n.startswith("weight_ih"):
            first = n.startswith("weight_ih_l0")
            g = input_gain(info) if first else 1.0
            plan[n] = weight(_shape(info, n), FanSpec(splits=gates), g)
        elif n.startswith("weight_hh"):
            plan[n] = _orthogonal_blocks(gates, _shape(info, n)[1])
        elif n.startswith("weight_hr"):  # LSTM projection
            plan[n] = weight(_shape(info, n), FanSpec(), 1.0)
        else:
            plan[n] = _ZERO
    return plan


def _norm_plan(info: LayerInfo) -> Plan:
    """Gains 1, shifts 0. A norm of a class torch does not know (recognised by what it
    computes) gets them only where it already holds them: its gain may be stored as
    1 + w (Gemma's RMSNorm), so other values are its own and kept."""
    plan: Plan = {}
    custom = not type(info.module).__module__.startswith("torch.")
    for n, p in info.module.named_parameters(recurse=False):
        step = _ONE if n == "weight" else _ZERO
        if custom and not bool((p.detach() == (1 if step is _ONE else 0)).all()):
            continue
        plan[n] = step
    return plan


def _weight_bias_plan(info: LayerInfo, weight: ParamInit) -> Plan:
    plan = {"weight": weight}
    if getattr(info.module, "bias", None) is not None:
        plan["bias"] = _ZERO
    return plan


def _standard(
    weight: Callable[[tuple[int, ...], FanSpec, float], ParamInit],
    gain_of_layer: Callable[[LayerInfo], float] = input_gain,
) -> PlanPolicy:
    """A policy from a weight rule ``(shape, fan spec, gain) -> ParamInit``: standard
    layers get it on their weight, attention and RNNs per block, norms 1 and 0."""

    def policy(info: LayerInfo) -> Plan | None:
        if info.kind == "norm":
            return _norm_plan(info)
        if info.kind == "attention":
            return _attention_plan(info, weight)
        if info.kind == "rnn":
            return _rnn_plan(info, weight)
        if info.kind in ("linear", "conv", "conv_transpose", "embedding"):
            g = 1.0 if info.kind == "embedding" else gain_of_layer(info)
            return _weight_bias_plan(info, weight(_shape(info, "weight"), weight_fans(info), g))
        return None

    return policy


# --- the named schemes ---------------------------------------------------------------


def _xavier(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # Glorot & Bengio 2010, eq. 16, gain 1 as in the paper.
    return scaled("xavier_uniform", rules.xavier(1.0, "uniform"), spec, shape, 1.0)


def _he(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # He et al. 2015, eq. 10: ReLU gain sqrt(2) on every layer, as torch users apply it.
    return scaled("he_normal", _HE_RELU, spec, shape, math.sqrt(2.0))


def _lecun(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # LeCun et al. 1998: Var = 1 / fan_in.
    return scaled("lecun_normal", rules.lecun("normal"), spec, shape, 1.0)


def _orthogonal(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # Saxe et al. 2014, with the forward gain of the feeding nonlinearity.
    f = spec.of(shape)
    blocks = spec.splits
    out = 1 if spec.layout == "jax" and len(shape) == 2 else 0  # (in, out): Conv1D

    def fill(t: torch.Tensor, g: RandomSource) -> object:
        for block in t.chunk(blocks, dim=out):
            init.orthogonal_(block, gain, g)
        return t

    rows, cols = shape[out] // blocks, math.prod(shape) // shape[out]
    return ParamInit("orthogonal", fill, f, gain, rules.orthogonal_std(rows, cols, gain))


def _constant(value: float) -> Callable[[tuple[int, ...], FanSpec, float], ParamInit]:
    def rule(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
        def fill(t: torch.Tensor, g: RandomSource) -> object:
            return init.constant_(t, value)

        return ParamInit(f"constant({value:g})", _own(fill), None, None, 0.0, elementwise=True)

    return rule


def _uniform(a: float, b: float) -> Callable[[tuple[int, ...], FanSpec, float], ParamInit]:
    def rule(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
        def fill(t: torch.Tensor, g: RandomSource) -> object:
            return init.uniform_(t, a, b, g)

        return ParamInit(f"uniform({a:g},{b:g})", _own(fill), None, None,
                         rules.uniform_std(a, b), elementwise=True)

    return rule


def _glorot_standard(shape: tuple[int, ...], spec: FanSpec, gain: float) -> ParamInit:
    # Glorot & Bengio 2010, eq. 1: U[-1/sqrt(fan_in), 1/sqrt(fan_in)].
    return scaled("glorot_standard", rules.glorot_standard(), spec, shape, None)


def _teaching(rule: Callable[[tuple[int, ...], FanSpec, float], ParamInit]) -> PlanPolicy:
    """The seed's schemes apply to every weight *and* bias: that is the experiment."""
    base = _standard(rule)

    def policy(info: LayerInfo) -> Plan | None:
        plan = base(info)
        if plan is None or info.kind == "norm":
            return plan
        shapes = dict(info.module.named_parameters())
        return {n: rule(tuple(shapes[n].shape), FanSpec(), 1.0) for n in plan}

    return policy


def _torch_default_policy(info: LayerInfo) -> Plan | None:
    """What each layer's own reset_parameters does, but with real fans (torch uses the
    swapped fan for ConvTranspose): U(+-1/sqrt(fan_in)) weights and biases, N(0, 1)
    embeddings, RNN weights U(+-1/sqrt(hidden)), MHA xavier in_proj and zero biases."""
    m = info.module
    if info.kind == "norm":
        return _norm_plan(info)
    if info.kind == "embedding":
        return {"weight": drawn("N(0,1)", Draw("normal", 1.0))}
    if info.kind == "rnn":
        assert isinstance(m, nn.RNNBase)
        # torch: every RNN parameter U(+-1/sqrt(hidden)), Glorot's standard rule on fan hidden
        one = rules.glorot_standard().draw(Fans(m.hidden_size, m.hidden_size, 1))
        return {n: drawn(f"uniform({-one.bound:g},{one.bound:g})", one)
                for n, _ in m.named_parameters()}
    if info.kind == "attention":
        assert isinstance(m, nn.MultiheadAttention)
        plan = _attention_plan(info, _xavier)
        plan["out_proj.weight"] = _glorot_standard(_shape(info, "out_proj.weight"), FanSpec(), 1)
        return plan
    if info.kind in ("linear", "conv", "conv_transpose"):
        w = _glorot_standard(_shape(info, "weight"), weight_fans(info), 1.0)
        plan = {"weight": w}
        if getattr(m, "bias", None) is not None and w.fans is not None:
            one = draw_for(rules.glorot_standard(), w.fans)
            plan["bias"] = drawn(f"uniform({-one.bound:g},{one.bound:g})", one)
        return plan
    return None


_AUTO_LAYERS = _standard(_auto_weight)


#: "auto" mirrors every plain chain of at least this many links (three layers) whose
#: activation is not odd. Measured on digits (benchmarks/results/design_measurements.md,
#: 3 seeds): from 2 links up looks-linear was never worse beyond the seed spread than
#: the variance-keeping rule, and from 5 links up better for every such activation (up
#: to 87 points: sigmoid and softplus at 50 layers); a transformer's MLP (one link)
#: keeps the variance-keeping rule. An odd activation (tanh) gains nothing from mirrored
#: pairs (phi(z) - phi(-z) = 2 phi(z)); its chains of as many links are orthogonal at
#: the stable edge of chaos instead (_orthogonal_critical: 50 tanh layers on digits,
#: 97.2% against 31% at the variance-keeping gain).
AUTO_MIN_LINKS = 2


def _expands(act: Activation | None, links: int) -> bool:
    """Whether a chain through ``act`` is one diagnose calls unstable
    (:func:`initscope._core.schemes.deviation_doubles`)."""
    if act is None:
        return False
    try:
        slope = variance_map_slope(act)
    except ValueError:
        return False
    return rules.deviation_doubles(slope, links)


def _auto_mirrors(act: Activation | None, links: int) -> bool:
    """Whether "auto" makes a chain link through ``act`` looks-linear (AUTO_MIN_LINKS)."""
    return act is not None and links >= AUTO_MIN_LINKS and not is_odd(act)


def _mirrors(info: LayerInfo, only_expanding: bool) -> tuple[bool, bool]:
    """Whether layer ``info`` reads mirrored pairs (its chain link in) and writes them
    (its link out). Both ends of a link decide alike: the same activation, the same
    width, the same chain."""
    w = getattr(info.module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2 or info.kind not in ("linear", "conv"):
        return False, False

    def wanted(act: Activation | None) -> bool:
        return not only_expanding or _auto_mirrors(act, info.chain_links)

    out_ok = bool(info.activation_to) and w.shape[0] % 2 == 0 and wanted(info.output_activation)
    in_ok = info.activation_from is not None and w.shape[1] % 2 == 0 and wanted(
        info.input_activation)
    return in_ok, out_ok


def _looks_linear_weight(info: LayerInfo, mirror_in: bool, mirror_out: bool) -> ParamInit:
    act = info.input_activation
    gain = looks_linear_gain(act) if mirror_in and act is not None else input_gain(info)
    sides = " and ".join(n for n, on in (("in", mirror_in), ("out", mirror_out)) if on)
    return _orthogonal_weight(info, gain, mirror_in, mirror_out,
                              f"looks_linear (mirrored {sides}), gain {gain:.3g}")


def _orthogonal_weight(info: LayerInfo, gain: float, mirror_in: bool, mirror_out: bool,
                       label: str) -> ParamInit:
    """The weight drawn by :func:`initscope.init.looks_linear_`: ``gain`` times an
    orthogonal block that keeps each unit's second moment (delta-orthogonal kernels),
    mirrored on the sides asked for; neither side mirrored is plain (delta-)orthogonal."""
    shape = _shape(info, "weight")
    half_in = shape[1] // 2 if mirror_in else shape[1]
    taps = math.prod(shape[2:])

    def fill(t: torch.Tensor, g: RandomSource) -> object:
        return init.looks_linear_(t, gain, mirror_in=mirror_in, mirror_out=mirror_out,
                                  generator=g)

    return ParamInit(label, _own(fill), weight_fans(info).of(shape), gain,
                     rules.looks_linear_std(half_in * taps, gain))


def _with_looks_linear(info: LayerInfo, plan: Plan | None, only_expanding: bool) -> Plan | None:
    mirror_in, mirror_out = _mirrors(info, only_expanding)
    if plan is None or "weight" not in plan:
        return plan
    if not (mirror_in or mirror_out):
        why = _why_not_mirrored(info) if only_expanding else None
        if why is None:
            return plan
        w = plan["weight"]
        return {**plan, "weight": replace(w, scheme=f"{w.scheme}; not looks-linear: {why}")}
    return {**plan, "weight": _looks_linear_weight(info, mirror_in, mirror_out)}


def _why_not_mirrored(info: LayerInfo) -> str | None:
    """Why a layer of a chain "auto" would mirror is not mirrored: its width is odd (the
    mirrored pairs need an even one); with the growth of deviations where the chain's
    map expands. None where no chain asks."""
    w = getattr(info.module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2:
        return None
    for act, linked, axis in ((info.input_activation, info.activation_from is not None, 1),
                              (info.output_activation, bool(info.activation_to), 0)):
        if linked and _auto_mirrors(act, info.chain_links) and w.shape[axis] % 2:
            why = f"odd width {w.shape[axis]} (the mirrored pairs need an even one)"
            if act is not None and _expands(act, info.chain_links):
                slope = variance_map_slope(act)
                why += f", so deviations grow x{slope:.3g} per layer along this chain"
            return why
    return None


def _odd_chain_activation(info: LayerInfo) -> Activation | None:
    """The odd activation of the deep plain chain layer ``info`` is a link end of (at
    least AUTO_MIN_LINKS links), which "auto" puts at the edge of chaos; None otherwise.
    The layer's input side decides first (the first layer of a chain reads the data)."""
    if info.kind not in ("linear", "conv") or info.chain_links < AUTO_MIN_LINKS:
        return None
    for act, linked in ((info.input_activation, info.activation_from is not None),
                        (info.output_activation, bool(info.activation_to))):
        if linked and act is not None and is_odd(act):
            return act
    return None


def _orthogonal_critical(info: LayerInfo, act: Activation, plan: Plan) -> Plan:
    """An odd activation's deep chain (tanh, hardtanh, softsign): orthogonal weights
    (delta-orthogonal for convolutions) at the edge of chaos on the stable branch,
    sigma_w2 and biases N(0, sigma_b2) at :func:`initscope.theory.stable_critical_point`
    (tanh: 1.761, 0.05). The variance-keeping gain puts such a chain in the chaotic
    phase (tanh: chi_1 = 1.59 at q = 1), which keeps the signal's size but not its
    correlations; at the edge of chaos (chi_1 = 1) both hold, and orthogonal weights
    make the input-output Jacobian well conditioned too (Pennington, Schoenholz & Ganguli
    2017, "Resurrecting the sigmoid in deep learning through dynamical isometry"; Xiao et
    al. 2018 for CNNs). Measured on a 50-layer tanh MLP on digits (3 seeds): 97.2% against
    Xavier's 95.5% and the variance-keeping gain's 31%, second moment 0.79 of the input's
    (benchmarks/results/design_measurements.md). A layer without a bias takes the
    zero-bias critical point (tanh: orthogonal, gain 1), where the signal's size decays
    slowly with depth; a layer whose output feeds no activation (the readout) a zero bias.
    Where the activation has no stable edge of chaos the layer keeps ``plan``'s rule,
    with the reason."""
    from ..theory.meanfield import critical_sigma_w2

    has_bias = getattr(info.module, "bias", None) is not None
    try:
        sw2, sb2 = _stable_critical(act)
        if not has_bias and sb2 > 0:
            sw2, sb2 = critical_sigma_w2(act, 0.0), 0.0
    except ValueError as e:
        w = plan["weight"]
        return {**plan, "weight": replace(w, scheme=f"{w.scheme}; not critical: {e}")}
    _, gain, bias_std = rules.critical(sw2, sb2)
    kernel = "delta-orthogonal" if len(_shape(info, "weight")) > 2 else "orthogonal"
    weight = _orthogonal_weight(
        info, gain, False, False,
        f"{kernel} at the edge of chaos ({act.name}: sigma_w2 {sw2:.4g}, sigma_b2 {sb2:g})")
    out = {**plan, "weight": weight}
    if has_bias:  # the biases that hold q* are those feeding the chain; others zero
        out["bias"] = drawn(f"N(0, {sb2:g})", Draw("normal", bias_std)) \
            if sb2 > 0 and info.output_activation is not None else _ZERO
    return out


def _critical(info: LayerInfo) -> Plan | None:
    """The edge of chaos on the stable branch (Schoenholz et al. 2017; Hayou et al. 2019):
    weights N(0, sigma_w2 / fan_in) and biases N(0, sigma_b2) at
    :func:`initscope.theory.stable_critical_point` of the nonlinearity feeding the layer
    (of the one it feeds, for the first layer); layers of other kinds, and activations
    without an edge of chaos, as "auto" (the label says why)."""
    if info.kind not in ("linear", "conv", "conv_transpose"):
        return _auto(info)
    act = info.input_activation or info.output_activation
    if act is None:
        return _auto(info)
    try:
        sw2, sb2 = _stable_critical(act)
    except ValueError as e:
        plan = _auto(info)
        if plan is not None and "weight" in plan:
            w = plan["weight"]
            plan = {**plan, "weight": replace(w, scheme=f"{w.scheme}; not critical: {e}")}
        return plan
    shape = _shape(info, "weight")
    rule, gain, bias_std = rules.critical(sw2, sb2)
    weight = scaled(f"critical N(0, {sw2:.4g}/fan_in) ({act.name}, sigma_b2 {sb2:g})",
                    rule, weight_fans(info), shape, gain)
    plan = {"weight": weight}
    if getattr(info.module, "bias", None) is not None:
        plan["bias"] = drawn(f"N(0, {sb2:g})", Draw("normal", bias_std)) if sb2 > 0 \
            else _ZERO
    return plan


def _stable_critical(act: Activation) -> tuple[float, float]:
    from ..theory.meanfield import stable_critical_point

    return activation_property(stable_critical_point, act)


def _looks_linear(info: LayerInfo) -> Plan | None:
    """Balduzzi et al. 2017: every chain link mirrored (any activation), the rest "auto"."""
    return _with_looks_linear(info, _auto(info), only_expanding=False)


def _auto(info: LayerInfo) -> Plan | None:
    """"auto": the variance-keeping rule for every layer; a language model's output head,
    the input embedding tied to it and the embeddings summed with that one get the
    readout's (logits without preference at init: :func:`initscope._core.schemes.readout`)."""
    r = info.readout
    if r is not None and info.kind in ("linear", "embedding"):
        spec = weight_fans(info)
        shape = _shape(info, "weight")
        # on the (V, d) embedding the head's fan_in d is the fan_out
        rule = rules.readout(r.vocab, r.input_gain, "fan_in" if info.kind == "linear"
                             else "fan_out")
        role = ("output head" if info.kind == "linear" else
                "embedding tied to the output head" if r.tied else "embedding summed with it")
        label = f"readout ({role}), var {rule.scale:.3g}/fan"
        return _weight_bias_plan(info, scaled(label, rule, spec, shape, r.input_gain))
    plan = _with_looks_linear(info, _AUTO_LAYERS(info), only_expanding=True)
    odd = _odd_chain_activation(info)
    if plan is not None and "weight" in plan and odd is not None and \
            _mirrors(info, only_expanding=True) == (False, False):
        plan = _orthogonal_critical(info, odd, plan)
    query = next((b for part, b in info.attention if part == "query"), -1)
    if plan is not None and "weight" in plan and query != -1:
        plan = {**plan, "weight": _query_zeroed(plan["weight"], query, info)}
    return plan


def _query_zeroed(step: ParamInit, block: int | None, info: LayerInfo) -> ParamInit:
    """Queries start at zero, so every attention starts uniform and its softmax in its
    most sensitive place (Yang et al. 2021, "Tensor Programs V", sec. 7 and the mup
    package: "initialize the query to zero"); the keys keep their rule, and the queries
    learn from the first step (their gradient reads the keys). A fused projection keeps
    its other blocks."""
    if block is None:
        return replace(_ZERO, scheme="zeros (query)")
    blocks, dim = info.splits, out_axis(info.module)

    def fill(t: torch.Tensor, g: RandomSource) -> object:
        step.fill(t, g)
        t.chunk(blocks, dim=dim)[block].zero_()
        return t

    # not elementwise: a shard's chunk is not the parameter's block
    return replace(step, scheme=f"{step.scheme}, query block zero",
                   fill=_own(fill) if is_own_fill(step.fill) else fill, target_std=None,
                   elementwise=False)


SCHEMES: dict[str, Policy] = {
    "auto": _auto,
    "xavier": _standard(_xavier),
    "he": _standard(_he),
    "lecun": _standard(_lecun),
    "orthogonal": _standard(_orthogonal),
    "looks_linear": _looks_linear,
    "critical": _critical,
    "zeros": _teaching(_constant(0.0)),
    "ones": _teaching(_constant(1.0)),
    "glorot_standard": _standard(_glorot_standard),
    "torch_default": _torch_default_policy,
}

_UNIFORM = re.compile(r"^uniform\(\s*([-+.\deE]+)\s*,\s*([-+.\deE]+)\s*\)$")
_CONSTANT = re.compile(r"^constant\(\s*([-+.\deE]+)\s*\)$")


def named_policy(name: str) -> Policy | None:
    """The policy of a scheme name (``SCHEMES``, ``"uniform(a,b)"`` with any a < b,
    ``"constant(v)"``), or None when ``name`` is none of them. Every name, recipes
    included, is resolved in one place: :func:`initscope.model.schemes.resolve`."""
    key = name.strip().lower().replace(" ", "")
    if key in SCHEMES:
        return SCHEMES[key]
    match = _CONSTANT.match(key)
    if match:
        return _teaching(_constant(float(match.group(1))))
    match = _UNIFORM.match(key)
    if match:
        a, b = float(match.group(1)), float(match.group(2))
        if not a < b:
            raise ValueError(f"scheme {name!r}: need a < b in uniform(a,b)")
        return _teaching(_uniform(a, b))
    return None
