"""Mean-field predictions for a real model: per layer, the second moment of its
pre-activations (forward) and the variance of their gradients relative to the last
layer's (backward), under a scheme.

The model is copied and initialized with the scheme; each layer's sigma_w2 is then read
off its actual weights (fan_in x Var[W], fan_out x Var[W] for the backward pass) and
sigma_b2 off its biases, and the q-map of the nonlinearity the graph found in front of
the layer carries the length forward. This is exact in the infinite-width limit for
chains of layers (MLPs, CNNs: Xiao et al. 2018 for convolutions); a layer reading a
residual sum, attention or an op the graph does not interpret is left unpredicted, and
a normalization resets the length to 1 (gamma = 1, beta = 0, as initialized).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .._core.activations import Activation, activation
from .._core.gain import mirrored, moment_slope
from .._tensor_moments import mean_square
from ..model.apply import initialize
from ..model.graph import LayerGraph, LayerInfo, layer_graph, weight_fans
from ..model.policies import Policy
from ..theory.meanfield import gaussian_moment as _moment


@dataclass(frozen=True)
class LayerPrediction:
    """One weight layer: what feeds it, its sigma_w2 / sigma_b2, and the predicted second
    moment of its input and output pre-activations; None where the chain theory does not
    reach."""

    name: str
    kind: str
    source: str
    activation: str
    sigma_w2: float
    sigma_w2_backward: float
    sigma_b2: float
    q_in: float | None
    q_out: float | None
    grad_ratio: float | None = None
    #: d q_out / d q_in at q_in: the factor by which this layer multiplies a small
    #: relative deviation of its input's second moment (> 1: the length map expands and
    #: finite-width deviations grow; GELU under "auto" 1.14). None without a q_in.
    slope: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: Reads the mean square of a weight or bias tensor.
SecondMoment = Callable[[torch.Tensor], float]


def _layer_sigmas(info: LayerInfo, second_moment: SecondMoment
                  ) -> tuple[float, float, float] | None:
    m = info.module
    weight = getattr(m, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2 or weight.numel() == 0:
        return None  # (a layer of zero units has no variance to propagate)
    f = weight_fans(info).of(tuple(weight.shape))
    var_w = second_moment(weight)  # second moment: the mean may be nonzero
    bias = getattr(m, "bias", None)
    sb2 = second_moment(bias) if isinstance(bias, torch.Tensor) and bias.numel() else 0.0
    return f.fan_in * var_w, f.fan_out * var_w, sb2


def predict(
    model: nn.Module,
    scheme: str | Policy | None = "auto",
    *,
    q0: float = 1.0,
    seed: int = 0,
    example_inputs: Any = None,
    graph: LayerGraph | None = None,
) -> list[LayerPrediction]:
    """Predicted per-layer forward second moments and backward gradient ratios of
    ``model`` initialized with ``scheme`` (on a copy: the model itself is not changed);
    ``scheme=None`` predicts for the weights the model has now.

    ``q0`` is the second moment of the model's input (1 for standardized data).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
    ...                           torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    >>> [round(p.q_out, 1) for p in predict(net, "he")][:2]   # He, ReLU: q_out = 2 q_in / 2
    [2.0, 2.0]
    """
    clone = copy.deepcopy(model) if scheme is not None else model
    # The graph gives structure (names, what feeds what); weights are read from the copy.
    if graph is None:
        graph = layer_graph(clone, example_inputs)
    elif clone is not model:
        graph.require_of(model, "predict")
        graph = graph.rebound(clone)
    if scheme is not None:
        initialize(clone, scheme, seed=seed, graph=graph)
    return predict_chain(clone, graph, q0)


def mirrored_halves(w: object, axis: int) -> bool:
    """Whether a weight's two halves along ``axis`` are opposite and not zero: how a
    looks-linear layer reads (axis 1) and writes (axis 0) mirrored pairs."""
    if not isinstance(w, torch.Tensor) or w.dim() < 2 or w.shape[axis] % 2:
        return False
    first, second = w.detach().chunk(2, dim=axis)
    return bool(torch.equal(first, -second)) and bool(first.any())


def predict_chain(model: nn.Module, graph: LayerGraph, q0: float,
                  second_moment: SecondMoment = mean_square) -> list[LayerPrediction]:
    """:func:`predict` for the weights ``model`` has now, its graph given;
    ``second_moment`` reads each weight's and bias's mean square (diagnose() passes
    the values it read while the weights were in cache)."""
    modules = dict(model.named_modules())
    out: list[LayerPrediction] = []
    acts: list[Activation] = []  # the nonlinearity in front of each predicted layer
    reads_pairs: list[bool] = []  # whether the layer reads mirrored pairs (looks-linear)
    q_last: float | None = None
    for info in sorted((i for i in graph if i.order >= 0), key=lambda i: i.order):
        if info.kind == "norm":
            q_last = 1.0  # what flows on from a normalization (gamma = 1, beta = 0)
            continue
        info = replace(info, module=modules[info.name])
        sig = _layer_sigmas(info, second_moment)
        if sig is None:
            q_last = None
            continue
        sw2, sw2_back, sb2 = sig
        act = info.input_activation if info.input_activation is not None else activation(
            "identity")
        pairs = info.input_activation is not None and info.activation_from is not None and \
            mirrored_halves(getattr(info.module, "weight", None), 1)
        # looks-linear: the layer reads psi = phi(z) - phi(-z) of each mirrored pair, with
        # its sigma_w2 spread over twice the inputs
        fwd_act, fwd_sw2 = (mirrored(act), 0.5 * sw2) if pairs else (act, sw2)
        if info.input_source == "input":
            q_in: float | None = q0
        elif info.input_source == "norm":
            q_in = 1.0  # normalized, gamma = 1 and beta = 0 as initialized
        elif info.input_source in ("activation", "gate", "layer"):
            q_in = q_last
        else:
            q_in = None  # residual sums, attention, unknown ops: beyond the chain theory
        # NaN or inf in the input or the weights (diagnose meets them): no prediction
        finite = q_in is not None and all(map(math.isfinite, (q_in, sw2, sb2)))
        q_out = fwd_sw2 * _moment(fwd_act, q_in) + sb2 if finite and q_in is not None \
            else None
        if q_out is not None and not math.isfinite(q_out):
            q_out = None
        slope = None
        if q_out is not None and q_in is not None:
            slope = fwd_sw2 * moment_slope(fwd_act, q_in)
        out.append(LayerPrediction(info.name, info.kind, info.input_source, fwd_act.name, sw2,
                                   sw2_back, sb2, q_in, q_out, slope=slope))
        acts.append(act)
        reads_pairs.append(pairs)
        q_last = q_out
    return _with_gradients(out, acts, reads_pairs)


def _with_gradients(layers: list[LayerPrediction], acts: list[Activation],
                    reads_pairs: list[bool]) -> list[LayerPrediction]:
    """Backward: Var[dL/dh_l] = sigma_w2_back(l+1) E[phi'(h_l)^2] Var[dL/dh_(l+1)], from
    the last layer down, along the chain. Where layer l+1 reads mirrored pairs and its
    own output is mirrored too (the middle of a looks-linear chain), its gradient comes
    in opposite pairs whose difference psi'(g) e carries the signal: the step is
    sigma_w2_back / 2 E[phi'(h_l)^2] E[psi'(g)^2] / E[phi'(g)^2], g its output."""
    result = list(layers)
    ratio: float | None = 1.0
    for i in range(len(layers) - 1, -1, -1):
        result[i] = LayerPrediction(**{**layers[i].__dict__, "grad_ratio": ratio})
        if i == 0:
            break
        nxt, cur = layers[i], layers[i - 1]
        if ratio is None or cur.q_out is None or nxt.source not in ("activation", "layer",
                                                                     "gate"):
            ratio = None
            continue
        ratio = ratio * nxt.sigma_w2_backward * _moment(acts[i], cur.q_out, derivative=True)
        if reads_pairs[i] and i + 1 < len(layers) and reads_pairs[i + 1] and \
                nxt.q_out is not None:
            odd = mirrored(acts[i + 1])
            ratio *= 0.5 * _moment(odd, nxt.q_out, derivative=True) / _moment(
                acts[i + 1], nxt.q_out, derivative=True)
        if not math.isfinite(ratio):
            ratio = None
    return result

