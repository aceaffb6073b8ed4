"""diagnose(): one forward and one backward pass, per-layer statistics streamed by hooks.

For every layer of the layer graph (weight layers and normalizations) it records, from
hooks on that layer only (no activation tensor is kept, so memory stays O(layers)):
the mean and second moment of its output (the pre-activation), of the nonlinearity
applied to it when the graph knows which (the activation), the fraction of saturated
(tanh, sigmoid) or dead (ReLU) units, the fraction of units that are identical copies of
another, the effective rank of the activations, the variance of the gradient of the loss
with respect to the pre-activation and to the weight, the gain the weights carry
(sqrt(fan_in Var[W])) and the gain "auto" would give. Then :mod:`.verdicts` reads them.

Everything temporary is undone: hooks removed, parameters' ``.grad`` restored, the
model's mode untouched, its buffers (batch-norm running statistics) as they were.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .._inputs import Inputs, as_inputs, classification_loss, float_tensors, main_output
from .._state import buffers_kept
from .._tensor_moments import mean_square, moments, nonfinite_fraction, variance
from .._torch_activation import torch_function
from .._torch_sampling import check_seed
from ..model._layer_output import on_layer_output
from ..model.graph import (
    LayerGraph,
    LayerInfo,
    input_gain,
    layer_graph,
    out_axis,
    role_of,
    weight_fans,
)
from . import _stats
from .layer_jacobian import linear_jacobian_singular_values
from .records import Diagnosis, LayerStats
from .verdicts import SYMMETRIC, Chain, InputScale, first_nonfinite, judge, unstable_chains

if TYPE_CHECKING:
    from .predict import LayerPrediction, SecondMoment



def _channel_dim(info: LayerInfo, t: torch.Tensor) -> int:
    if info.kind in ("conv", "conv_transpose") or (
        info.kind == "norm" and isinstance(info.module, nn.modules.batchnorm._NormBase)
    ) or isinstance(info.module, nn.GroupNorm):
        return 1 if t.dim() > 1 else 0
    return t.dim() - 1


def _input_scale(args: Inputs) -> InputScale | None:
    """Mean and std of every floating-point input value (None without any, or where
    they are not finite: that verdict comes first)."""
    floats = [t.detach() for t in args.tensors() if t.is_floating_point() and t.numel()]
    if not floats:
        return None
    n = sum(t.numel() for t in floats)
    parts = [moments(t) for t in floats]
    mean = sum(m * t.numel() for (m, _), t in zip(parts, floats, strict=True)) / n
    square = sum(q * t.numel() for (_, q), t in zip(parts, floats, strict=True)) / n
    if not (math.isfinite(mean) and math.isfinite(square)):
        return None
    return InputScale(mean, math.sqrt(max(square - mean * mean, 0.0)))


def _leaf(t: Any, grad: bool) -> Any:
    if not isinstance(t, torch.Tensor):
        return t
    if t.requires_grad or (grad and t.is_floating_point()):
        return t.detach().requires_grad_(True)
    return t


def _default_loss(output: Any, target: Any, generator: torch.Generator) -> torch.Tensor:
    tensors = float_tensors(output)
    if not tensors:
        raise ValueError("diagnose: the model returned no floating-point tensor to take a loss of")
    if target is not None:
        out = main_output(output)
        assert out is not None
        if not target.is_floating_point() and out.dim() >= 2:
            return classification_loss(out, target)
        return nn.functional.mse_loss(out, target.to(out.dtype))
    # sum of squares of a fixed random projection: dL/d output ~ N(0, 1) entrywise
    total = torch.zeros(())
    for t in tensors:
        r = torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)
        total = total + (t * r).sum()
    return total


def diagnose(
    model: nn.Module,
    inputs: Any,
    target: torch.Tensor | None = None,
    *,
    loss_fn: Any = None,
    example_inputs: Any = None,
    seed: int = 0,
    graph: LayerGraph | None = None,
    jacobian_samples: int = 0,
) -> Diagnosis:
    """Measure signal propagation through ``model`` on ``inputs`` and say what is wrong.

    Args:
        model: any ``nn.Module``.
        inputs: a tensor, a tuple of positional inputs, or a dict of keyword inputs
            (``{"input_ids": ids}``, a Hugging Face ``BatchEncoding``).
        target: if given, the loss is cross-entropy (integer targets; logits (B, T, V)
            against targets (B, T) too) or mean squared error of the output (a dict-like
            output's ``logits``); otherwise the sum of the outputs times a fixed random projection.
        loss_fn: ``loss_fn(output, target) -> scalar`` instead of the default.
        example_inputs: for the layer graph if torch.fx cannot trace (default: inputs).
        seed: seed of the random projection and of the sample and unit subsamples.
        graph: this model's layer graph (``layer_graph(model)``, or ``.graph`` of an
            earlier diagnosis of it) to skip tracing when diagnosing the same model again,
            e.g. during training.
        jacobian_samples: if positive, for each linear layer the mean singular value of
            its Jacobian from input to activation, diag(phi'(s)) W, at this many samples
            (Glorot & Bengio 2010 sec. 4.2.1: ~0.8 normalized vs ~0.5 standard init);
            one SVD of an out x in matrix per sample, so off by default.

    Examples:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.Tanh(),
        ...                           torch.nn.Linear(32, 4))
        >>> for p in net.parameters():  # every unit of each layer a copy of the others
        ...     _ = torch.nn.init.constant_(p, 0.1)
        >>> d = diagnose(net, torch.randn(64, 32))
        >>> [v.kind for v in d.verdicts]
        ['symmetry']
    """
    if isinstance(jacobian_samples, bool) or not isinstance(jacobian_samples, int) or \
            jacobian_samples < 0:
        raise ValueError(f"jacobian_samples must be an int >= 0; got {jacobian_samples!r}")
    seed = check_seed("diagnose", seed)
    if not isinstance(model, nn.Module):
        raise TypeError(f"diagnose: model must be a torch.nn.Module; got {type(model).__name__}")
    args = as_inputs(inputs, "diagnose: inputs")
    empty = [tuple(t.shape) for t in args.tensors() if t.numel() == 0]
    if empty:
        raise ValueError(f"diagnose: the inputs hold no values (shape {empty[0]}): statistics "
                         "need a batch of at least one sample")
    # Inputs enter as fresh leaves: a user's tensor that requires grad gets no .grad
    # from diagnose, and a model whose parameters are all frozen still has a graph to
    # take the activations' gradients from.
    frozen = not any(p.requires_grad for p in model.parameters())
    args = args.map(lambda t: _leaf(t, frozen))
    if graph is not None:
        graph.require_of(model, "diagnose")
    else:
        graph = layer_graph(model, example_inputs if example_inputs is not None else args)
    gen = torch.Generator().manual_seed(seed)  # the subsamples
    loss_gen = torch.Generator().manual_seed(seed)  # the projection: shape-independent
    layers = [i for i in sorted(graph, key=lambda i: i.order) if i.order >= 0
              and i.kind != "embedding"]
    stats = {i.name: _static(i) for i in layers}
    _tell_kinds_apart(stats, dict(model.named_modules()))
    params = list(model.parameters())
    saved_grads = [p.grad for p in params]
    handles = []
    grams: dict[str, _stats.UnitGram | None] = {}
    weight_moments: dict[int, float] = {}  # id(weight or bias) -> mean square

    def forward_hook(info: LayerInfo) -> Any:
        done: list[bool] = []

        def hook(module: nn.Module, hook_args: Any, output: Any) -> None:
            if done:
                return  # a module called twice is measured on its first call
            done.append(True)
            out = output[0] if isinstance(output, tuple) else output
            if not isinstance(out, torch.Tensor) or not out.is_floating_point():
                return
            cdim = _channel_dim(info, out)
            if out.numel() == 0:  # a layer of zero units: nothing to measure
                stats[info.name].units = int(out.shape[cdim]) if out.dim() else 0
                return
            index = _stats.row_index(out.shape, cdim, gen)  # the same samples both ways
            grams[info.name] = _measure(stats[info.name], info, out, cdim, index, gen)
            for param in (getattr(module, "weight", None), getattr(module, "bias", None)):
                # read now, while the layer has just streamed them through the cache
                if isinstance(param, torch.Tensor) and param.numel():
                    weight_moments[id(param)] = mean_square(param)
            if jacobian_samples and info.kind == "linear":
                _jacobian(stats[info.name], info, out, cdim, index, jacobian_samples)
            if out.requires_grad:
                s = stats[info.name]

                def grad_hook(g: torch.Tensor, s: LayerStats = s, cdim: int = cdim,
                              index: torch.Tensor | None = index) -> None:
                    s.grad_pre_var = variance(g)
                    if not math.isfinite(s.grad_pre_var):
                        s.grad_nonfinite = nonfinite_fraction(g)
                    rows = _stats.take_rows(g, cdim, index)
                    s.grad_hist = _stats.histogram(_hist_rows(rows),
                                                   mean_square=s.grad_pre_var)

                out.register_hook(grad_hook)  # type: ignore[no-untyped-call]

        return hook

    readers: dict[int, list[LayerStats]] = {}  # weight -> the layers that use it
    for info in layers:
        w = getattr(info.module, "weight", None)
        if isinstance(w, torch.Tensor):
            readers.setdefault(id(w), []).append(stats[info.name])

    # Layers whose weights are all zero: whether their gradient tells the units apart
    zero_start: dict[int, LayerInfo] = {}
    for info in layers:
        w = getattr(info.module, "weight", None)
        if isinstance(w, torch.Tensor) and w.dim() >= 2 and w.numel() > 1 and \
                not bool(w.detach().any()):
            zero_start[id(w)] = info

    def grad_ready(p: torch.Tensor) -> None:
        # Read each gradient as autograd finishes it (still in cache) and drop it at
        # once: the next layer's gradient reuses its memory. Keeping all of them while
        # the caller's own .grad are set aside took fresh pages for every gradient, and
        # twice the gradient memory.
        if p.grad is not None:
            for s in readers.get(id(p), ()):
                s.grad_weight_var = variance(p.grad)
            zero = zero_start.get(id(p))
            if zero is not None:
                stats[zero.name].zero_start_grad_identical = _stats.identical_fraction(
                    _by_unit(p.grad.detach(), zero).float(), gen)
        p.grad = None

    try:
        for info in layers:
            handles.append(on_layer_output(info.module, forward_hook(info)))
        for p in params:
            p.grad = None
            if p.requires_grad:
                handles.append(p.register_post_accumulate_grad_hook(  # type: ignore[no-untyped-call]
                    grad_ready))
        with torch.enable_grad(), buffers_kept(model):
            output = args.call(model)
            loss = loss_fn(output, target) if loss_fn is not None else _default_loss(
                output, target, loss_gen)
            if loss.requires_grad:  # (no graph: frozen weights on token inputs)
                loss.backward()
    finally:
        for h in handles:
            h.remove()
        for p, g in zip(params, saved_grads, strict=True):
            p.grad = g
    ordered = [stats[i.name] for i in layers]
    names, unit_grams = list(grams), list(grams.values())
    for n, same, rank in zip(names, _stats.identical_fractions(unit_grams),
                             _stats.effective_ranks(unit_grams), strict=True):
        if grams[n] is not None:
            stats[n].identical_units, stats[n].effective_rank = same, rank
    for info in layers:  # identical units: copies by their weights, or a zero signal?
        s = stats[info.name]
        w = getattr(info.module, "weight", None)
        if s.identical_units >= SYMMETRIC and s.act_second_moment == 0 and \
                isinstance(w, torch.Tensor) and w.dim() >= 2:
            # units are rows (out, ...); their incoming weights are the samples
            s.identical_weights = _stats.identical_fraction(_by_unit(w.detach(), info), gen)

    def second_moment(t: torch.Tensor) -> float:  # what the hooks read, else a pass
        seen = weight_moments.get(id(t))
        return seen if seen is not None else mean_square(t)

    bad = first_nonfinite(ordered)
    if bad is not None:
        ordered[bad].nonfinite_cause = _nonfinite_cause(model, args, layers[bad])
    _beside_theory(model, graph, args, stats, second_moment)
    for info in layers:  # the gains the theory did not read off (token inputs, ...)
        if stats[info.name].gain_auto is not None and stats[info.name].gain_used is None:
            stats[info.name].gain_used = _gain_used(info, second_moment)
    verdicts = judge(ordered, _input_scale(args))
    if not any(v.kind == "non_finite" for v in verdicts):
        verdicts += unstable_chains(_chains(graph))
    return Diagnosis(ordered, verdicts, graph, float(loss.detach()))


def _chains(graph: LayerGraph) -> list[Chain]:
    """The graph's plain chains of links, one record per (chain, activation): its
    activation's length-map slope and whether its weights are mirrored (looks-linear)."""
    from .._core.gain import variance_map_slope
    from .predict import mirrored_halves

    found: dict[tuple[int, str], list[LayerInfo]] = {}
    heads: dict[str, int] = {}
    for info in sorted((i for i in graph if i.activation_to), key=lambda i: i.order):
        key = heads.get(info.activation_from or "", len(heads))
        heads[info.name] = key
        act = info.output_activation
        if act is None:
            continue
        found.setdefault((key, act.name), []).append(info)
    out = []
    for (_, _), producers in found.items():
        act = producers[0].output_activation
        assert act is not None
        try:
            slope = variance_map_slope(act)
        except ValueError:
            continue
        last = graph.layers[producers[-1].activation_to[-1]]
        out.append(Chain(act.name, slope, len(producers), producers[0].name, last.name,
                         all(mirrored_halves(getattr(p.module, "weight", None), 0)
                             for p in producers)))
    return out


def _nonfinite_cause(model: nn.Module, args: Inputs, info: LayerInfo) -> str:
    """Where the first NaN or inf (at layer ``info``) comes from: "input" (the batch),
    "parameter:NAME" (a parameter of the layer, else any of the model's, holding one), or
    "overflow" (every input and parameter finite: the values outgrew the dtype)."""
    if any(isinstance(t, torch.Tensor) and t.is_floating_point()
           and not bool(torch.isfinite(t).all()) for t in args.leaves()):
        return "input"
    own = {f"{info.name}.{n}" if info.name else n: p
           for n, p in info.module.named_parameters()}
    for name, p in [*own.items(), *model.named_parameters()]:
        if p.is_floating_point() and not bool(torch.isfinite(p.detach()).all()):
            return f"parameter:{name}"
    return "overflow"


#: Measured / predicted second moment outside [1 / THEORY_OFF, THEORY_OFF] is flagged.
THEORY_OFF = 1.5


def _beside_theory(model: nn.Module, graph: LayerGraph, args: Inputs,
                   stats: dict[str, LayerStats], second_moment: SecondMoment) -> None:
    """Put the mean-field prediction for the model's current weights next to each
    measured pre-activation second moment, and say where they part. ``second_moment``
    reads a weight's or bias's mean square."""
    from .predict import predict_chain

    first = next((t for t in args.leaves() if isinstance(t, torch.Tensor)
                  and t.is_floating_point()), None)
    if first is None:
        return  # token inputs: the chain theory's input length is undefined
    q0 = float(first.detach().float().pow(2).mean())
    order = list(stats)
    chain = predict_chain(model, graph, q0, second_moment)
    for p in chain:
        s = stats.get(p.name)
        if s is None:
            continue
        if s.gain_auto is not None:  # the same fans and weights: no second pass over W
            s.gain_used = math.sqrt(p.sigma_w2)
        if p.q_out is None:
            continue
        s.predicted_pre_second_moment = p.q_out
        ratio = s.pre_second_moment / p.q_out if p.q_out > 0 else math.inf
        if not 1 / THEORY_OFF <= ratio <= THEORY_OFF:
            k = order.index(p.name)
            before = stats[order[k - 1]] if k > 0 else None
            reasons = _why_theory_differs(graph.layers.get(p.name), before)
            s.theory_note = (f"measured {ratio:.3g}x the mean-field prediction: "
                             + "; ".join(reasons))
    _anchor_gradients(chain, stats)


def _anchor_gradients(chain: list[LayerPrediction], stats: dict[str, LayerStats]) -> None:
    """The chain predicts gradient variances relative to its last layer
    (``grad_ratio``); scaled by that layer's measured value they sit beside the
    measurement."""
    last = stats.get(chain[-1].name) if chain else None
    if last is None or not math.isfinite(last.grad_pre_var) or last.grad_pre_var <= 0:
        return
    for p in chain:
        s = stats.get(p.name)
        if s is not None and p.grad_ratio is not None:
            s.predicted_grad_pre_var = p.grad_ratio * last.grad_pre_var


#: Below this fan-in the mean-field (infinite-width) limit is a rough guide only.
NARROW = 100


def _why_theory_differs(info: LayerInfo | None, before: LayerStats | None) -> list[str]:
    """The assumptions of the mean-field chain this layer's situation breaks, most
    specific first; the generic list when none is visible."""
    reasons = []
    if info is not None and info.input_source == "norm":
        reasons.append("its input comes from a normalization, whose output length the "
                       "theory takes as 1 (gamma = 1, beta = 0, as initialized)")
    if info is not None and info.input_source == "residual":
        reasons.append("its input is a residual sum, whose branches the theory takes as "
                       "independent")
    if before is not None and before.max_rank and (
        before.effective_rank < 0.5 * before.max_rank
    ):
        reasons.append(f"the units feeding it are correlated (effective rank "
                       f"{before.effective_rank:.3g} of {before.max_rank}); the theory "
                       "assumes independent units")
    w = getattr(info.module, "weight", None) if info is not None else None
    if info is not None and isinstance(w, torch.Tensor) and w.dim() >= 2:
        fan_in = weight_fans(info).of(tuple(w.shape)).fan_in
        if fan_in < NARROW:
            reasons.append(f"finite width: fan-in {fan_in}, where the theory is the "
                           "infinite-width limit")
    if before is not None and before.theory_note and not reasons:
        reasons.append(f"it inherits the departure of layer {before.name}")
    if info is not None and info.input_source == "input" and not reasons:
        reasons.append("the model input is not Gaussian or its units are correlated")
    return reasons or ["finite width, non-Gaussian inputs or correlated units"]


_INDEX = re.compile(r"(?<=\.)\d+(?=\.)|^\d+(?=\.)|(?<=\.)\d+$|^\d+$")


def _role_key(name: str) -> str:
    """The layer's place in its block: container indices replaced by "#", all but the
    last when there are several ("h.#.mlp.c_proj"; "stages.#.layers.#.layer.2.conv":
    the last index of a nested name is the place inside the block)."""
    spans = [m.span() for m in _INDEX.finditer(name)]
    if len(spans) > 1:
        spans = spans[:-1]
    for a, b in reversed(spans):
        name = name[:a] + "#" + name[b:]
    return name


def _holders(name: str, modules: dict[str, nn.Module]) -> str:
    """The classes of the modules that hold a layer, outermost first."""
    parts = name.split(".")
    found = (modules.get(".".join(parts[:i])) for i in range(len(parts)))
    return "/".join(type(m).__name__ for m in found if m is not None)


def _tell_kinds_apart(stats: dict[str, LayerStats], modules: dict[str, nn.Module]) -> None:
    """Where one place name is held by blocks of two kinds, the role key names the
    classes too: the same name in two kinds of block is two roles (EfficientNet's first
    block is a DepthwiseSeparableConv, whose conv_pw projects and whose squeeze-excite
    reads its own resolution; the others are InvertedResidual)."""
    holders = {name: _holders(name, modules) for name in stats}
    chains: dict[str, set[str]] = {}
    for name, s in stats.items():
        chains.setdefault(s.role_key, set()).add(holders[name])
    for name, s in stats.items():
        if len(chains[s.role_key]) > 1:
            s.role_key = f"{s.role_key} in {holders[name]}"


def _block(name: str) -> str:
    """The repeated block a layer sits in: its name up to the index that
    :func:`_role_key` replaces last ("transformer.h.3.attn.c_attn" -> "transformer.h.3";
    "stages.1.layers.0.layer.2.conv" -> "stages.1.layers.0"); "" for a layer outside
    one (a stem, a head, the layers of a plain ``nn.Sequential``)."""
    spans = [m.span() for m in _INDEX.finditer(name)]
    if len(spans) > 1:
        spans = spans[:-1]
    elif spans and spans[0][1] == len(name):
        return ""  # "features.3", "0": the index names the layer itself
    return name[:spans[-1][1]] if spans else ""


def _by_unit(t: torch.Tensor, info: LayerInfo) -> torch.Tensor:
    """A layer's weight (or its gradient) as (incoming values, units): one column per
    output unit, whatever axis the layout keeps them on."""
    units = t.movedim(out_axis(info.module), 0)
    return units.reshape(units.shape[0], -1).T


def _static(info: LayerInfo) -> LayerStats:
    act = info.output_activation
    s = LayerStats(info.name, info.kind, act.name if act is not None else None,
                   is_output=info.output_consumer == "output",
                   input_activation=(info.input_activation.name
                                     if info.input_activation is not None else None),
                   in_residual_branch=bool(info.residual_branches),
                   before_norm=info.output_consumer == "norm",
                   layer_scaled=info.layer_scaled,
                   role_key=_role_key(info.name), block=_block(info.name),
                   role=role_of(info, "weight"))
    w = getattr(info.module, "weight", None)
    if isinstance(w, torch.Tensor) and w.dim() >= 2 and w.numel() and info.kind != "norm":
        s.gain_auto = input_gain(info)  # gain_used: after the pass, with the theory
    return s


def _gain_used(info: LayerInfo, second_moment: SecondMoment) -> float:
    """sqrt(fan_in Var[W]) (second moment: the mean may be nonzero)."""
    w = info.module.weight
    assert isinstance(w, torch.Tensor)
    return math.sqrt(weight_fans(info).of(tuple(w.shape)).fan_in * second_moment(w))


def _jacobian(s: LayerStats, info: LayerInfo, out: torch.Tensor, cdim: int,
              index: torch.Tensor | None, samples: int) -> None:
    w = getattr(info.module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        return
    pre = _stats.take_rows(out, cdim, index)[:samples]
    fn = torch_function(info.output_activation) if info.output_activation else None
    s.jacobian_sv_mean = float(linear_jacobian_singular_values(pre, w, fn).mean())


def _hist_rows(rows: torch.Tensor) -> torch.Tensor:
    """Whole samples of a (samples, units) matrix, at most HIST_VALUES values."""
    return rows[: max(1, _stats.HIST_VALUES // max(1, rows.shape[1]))]


def _measure(s: LayerStats, info: LayerInfo, out: torch.Tensor, cdim: int,
             index: torch.Tensor | None, gen: torch.Generator) -> _stats.UnitGram | None:
    """Fill the forward statistics of ``s`` from ``out`` (units along ``cdim``; the
    samples ``index`` for the subsampled ones); returns what symmetry and the effective
    rank need, which diagnose() finishes for all layers at once."""
    with torch.no_grad():
        t = out.detach()
        s.pre_mean, s.pre_second_moment = moments(t)
        fn = torch_function(info.output_activation) if info.output_activation else None
        a = fn(t) if fn is not None else t
        s.act_mean, s.act_second_moment = moments(a)
        if not all(map(math.isfinite, (s.pre_mean, s.pre_second_moment, s.act_mean,
                                       s.act_second_moment))):
            s.nonfinite = max(nonfinite_fraction(t), nonfinite_fraction(a))
        spec = info.output_activation
        s.saturated = _stats.saturated_fraction(a, spec)
        s.dead = _stats.dead_fraction(a, spec, cdim)
        rows = _stats.take_rows(a, cdim, index)
        s.units = int(rows.shape[1])
        s.max_rank = min(s.units, _stats.MAX_UNITS, rows.shape[0] - 1)
        s.act_hist = _stats.histogram(_hist_rows(rows), spec, s.act_second_moment)
        return _stats.unit_gram(rows, gen, a.dtype)
