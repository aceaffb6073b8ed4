"""Verdicts: what is wrong with a network at initialization, why, and what to do.

Each rule reads the per-layer statistics of :func:`~initscope.diagnostics.diagnose` and,
when it fires, names the evidence (layers and numbers), the reason in one sentence and
the fix. Verdicts have a severity: a "failure" (the network will not train well as it
is) above a "warning" (a problem in the making: a fifth of the units saturated, gains
off by more than 2x, a signal that shrinks 30x with depth). A network is healthy only when neither
fires. Thresholds are module constants.

NaN and inf come first: statistics past the first layer that produces them mean
nothing, so the other rules read only the layers before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._core import schemes as rules
from .records import Severity, Verdict

if TYPE_CHECKING:
    from .records import LayerStats

#: A layer whose units are identical copies (zeros / ones / constant init) beyond this.
SYMMETRIC = 0.9
#: Saturated or dead fraction that fires: a failure above the first, a warning above
#: the second.
SATURATED, DEAD = 0.5, 0.5
#: (Deep ReLU stacks under He init reach ~30% dead units at batch 256 and depth 30 by
#: the growing correlation of their units: the warning sits above that.)
SATURATED_WARN, DEAD_WARN = 0.2, 0.4
#: Ratio of the last to the first layer (forward) or first to last (gradients): a
#: failure outside [VANISH, EXPLODE]; the forward ratio warns outside [VANISH_WARN,
#: EXPLODE_WARN]. The gradient ratio has no warning band: per-value gradient variances
#: change with resolution and normalization (ResNet-18 at init: x41 from its last block
#: to its stem), so only the failure band separates a problem from the architecture.
VANISH, EXPLODE = 1e-2, 1e2
VANISH_WARN, EXPLODE_WARN = 1 / 30, 30.0
#: A hidden layer's gain off from the one its input's nonlinearity needs by more than
#: this factor (either way) is mismatched; a warning when most hidden layers are.
GAIN_OFF = 2.0
#: Effective rank below this fraction of the units (after the first layer).
RANK = 0.05
_WEIGHTED = ("linear", "conv", "conv_transpose", "attention", "rnn", "other")
#: An input is standardized when its mean is within INPUT_MEAN standard deviations of 0
#: and its standard deviation within a factor INPUT_STD of 1.
INPUT_MEAN, INPUT_STD = 0.5, 2.0


@dataclass(frozen=True)
class InputScale:
    """Mean and standard deviation of every floating-point value of the input batch."""

    mean: float
    std: float

    @property
    def standardized(self) -> bool:
        return abs(self.mean) <= INPUT_MEAN * self.std and \
            1 / INPUT_STD <= self.std <= INPUT_STD


#: The advice's opening where the weights already carry "auto"'s gains.
_AT_AUTO = "the weights already have the scale initscope.initialize(model, 'auto') gives them"


def _gains_off(layers: list[LayerStats]) -> list[LayerStats]:
    """The layers whose gain is more than 25% from the one "auto" gives them."""
    return [s for s in layers if s.gain_used and s.gain_auto
            and abs(math.log(s.gain_used / s.gain_auto)) > math.log(1.25)]


def _at_auto(layers: list[LayerStats]) -> bool:
    """Every layer with a known gain (weights fed by a known nonlinearity) is within
    25% of the gain "auto" gives it, and there is at least one."""
    return any(s.gain_used and s.gain_auto for s in layers) and not _gains_off(layers)


def _scale_fix(layers: list[LayerStats], scale: InputScale | None) -> str | None:
    """Advice for a network whose weights already carry the gains "auto" gives them:
    the input's scale, when it is not standardized; None where the weights are off, or
    their gains unknown, or the input standardized."""
    if not _at_auto(layers) or scale is None or scale.standardized:
        return None
    return (f"{_AT_AUTO}; the input is not standardized (mean {scale.mean:.3g}, std "
            f"{scale.std:.3g}): standardize it, (x - mean) / std per feature or channel")


def _dead_fix(layers: list[LayerStats], scale: InputScale | None) -> str:
    found = _scale_fix(layers, scale)
    if found is not None:
        return found
    if _at_auto(layers):
        return (f"{_AT_AUTO}: units zero for every sample of a batch also come from inputs "
                "that the layers below map to similar values (deep ReLU stacks, small "
                "batches): measure on a larger batch, or center each layer's output on data "
                "with initscope.lsuv(model, batch, center=True)")
    return "zero biases and a variance-preserving init: initscope.initialize(model, 'auto')"


def _gain_hint(layers: list[LayerStats], backward: bool = False) -> str:
    off = _gains_off(layers)
    if not off and backward:
        return ("the weights already carry the forward gain, which for this activation "
                "differs from the backward one (tanh: 1.59 vs 1.47): gradients then grow or "
                "shrink by chi_1 per layer. Use an initialization at the edge of chaos "
                "(initscope.theory.critical_sigma_w2, init.critical_), or calibrate on data "
                "with initscope.lsuv(model, batch)")
    if not off:
        return "initscope.initialize(model, 'auto') or initscope.lsuv(model, batch)"
    s = off[len(off) // 2]
    return (f"layers such as {s.name} carry gain {s.gain_used:.3g} but the nonlinearity "
            f"feeding them needs {s.gain_auto:.3g}: initscope.initialize(model, 'auto')")


def _trend(ratio: float, what: str, evidence: str, subject: str, fix: str) -> list[Verdict]:
    """A vanishing or exploding verdict when ``ratio`` leaves [VANISH, EXPLODE], a warning
    when a forward ratio leaves [VANISH_WARN, EXPLODE_WARN]."""
    low, high = (VANISH_WARN, EXPLODE_WARN) if what == "forward" else (VANISH, EXPLODE)
    if ratio < low:
        kind, reason = f"vanishing_{what}", f"Each layer shrinks {subject}; deep in the chain " \
            "almost nothing is left."
        severity = "failure" if ratio < VANISH else "warning"
    elif ratio > high:
        kind, reason = f"exploding_{what}", f"Each layer amplifies {subject}."
        severity = "failure" if ratio > EXPLODE else "warning"
    else:
        return []
    return [Verdict(kind, evidence, reason, fix, severity)]  # type: ignore[arg-type]


def _graded(value: float, failure: float, warning: float) -> Severity | None:
    return "failure" if value > failure else "warning" if value > warning else None


def first_nonfinite(layers: list[LayerStats]) -> int | None:
    """Where NaN or inf first appear: the first layer of the forward pass whose
    activations hold one, else the first layer the backward pass reaches (the last in
    order) whose gradient does; None when every value is finite."""
    forward = next((k for k, s in enumerate(layers) if s.nonfinite), None)
    if forward is not None:
        return forward
    return next((k for k in range(len(layers) - 1, -1, -1) if layers[k].grad_nonfinite), None)


def _nonfinite(layers: list[LayerStats]) -> tuple[list[Verdict], int]:
    """The non-finite verdict and how many layers (from the first) are finite forward."""
    k = first_nonfinite(layers)
    if k is None:
        return [], len(layers)
    s = layers[k]
    where, first = ("activations", "forward") if s.nonfinite else ("gradients", "backward")
    cause = s.nonfinite_cause or "overflow"
    if cause == "input":
        reason, fix = ("The input batch holds NaN or inf.",
                       "clean the data (torch.isfinite(x).all(), torch.nan_to_num)")
    elif cause.startswith("parameter:"):
        name = cause.split(":", 1)[1]
        reason, fix = (f"The parameter {name} holds NaN or inf.",
                       "re-initialize it, e.g. initscope.initialize(model, 'auto')")
    else:
        reason = (f"The input and every parameter are finite: the {where} outgrew the "
                  "dtype's range (overflow) at or before this layer.")
        rated = [t for t in layers[: k + 1] if t.gain_used is not None and t.gain_auto]
        big = max(rated, key=lambda t: t.gain_used or 0.0, default=None)
        fix = "smaller weights: initscope.initialize(model, 'auto')"
        if big is not None:
            fix = (f"{big.name} carries the largest gain, {big.gain_used:.3g}, where its "
                   f"input needs {big.gain_auto:.3g}; " + fix)
    return [Verdict(
        "non_finite",
        f"non-finite {where} at layer {s.name} ({s.nonfinite or s.grad_nonfinite:.0%} of "
        f"its values are NaN or inf; the first layer of the {first} pass where they appear)",
        reason + " Every statistic past it is meaningless.", fix,
    )], (k if s.nonfinite else len(layers))


def _like_with_like(hidden: list[LayerStats]) -> tuple[LayerStats, LayerStats]:
    """The two layers a depth trend compares. In a network of repeated blocks, the first
    and last layer of the role that repeats most (the same place in each block:
    "h.#.mlp.c_proj"), so that a query projection is never held against a classifier
    or a layer-scaled branch end against a stem; otherwise the first and last hidden
    layer (Glorot & Bengio 2010 compare hidden layers)."""
    groups: dict[str, list[LayerStats]] = {}
    for s in hidden:
        groups.setdefault(s.role_key or s.name, []).append(s)
    repeated = [g for g in groups.values() if len(g) >= 2]
    if len(repeated) > 1 or (repeated and len(repeated[0]) < len(hidden)):
        # the most repeated role; of those, the last in a block (what writes the block's
        # output)
        group = max(repeated, key=lambda g: (len(g), hidden.index(g[0])))
        return group[0], group[-1]
    return hidden[0], hidden[-1]


def _zero_start(s: LayerStats) -> bool:
    """All-zero weights whose gradients already tell the units apart."""
    return s.zero_start_grad_identical is not None and s.zero_start_grad_identical < SYMMETRIC


def _gain_mismatch(hidden: list[LayerStats]) -> list[Verdict]:
    """A warning when most hidden layers carry a gain more than GAIN_OFF away from the
    one their input's nonlinearity needs (forward criterion, "auto"). Layers inside
    residual branches are not rated: the stream around them carries the signal, and
    branches that start small (GPT-2's 0.02, Fixup, SkipInit) are a design; nor layers
    whose output a normalization rescales."""
    rated = [s for s in hidden if s.gain_used is not None and s.gain_auto
             and math.isfinite(s.gain_used) and not s.in_residual_branch
             and not s.before_norm]
    off = [s for s in rated if s.gain_used is not None and s.gain_auto and
           abs(math.log(max(s.gain_used, 1e-300) / s.gain_auto)) > math.log(GAIN_OFF)]
    # a drift with depth needs depth: three rated layers at least
    if len(rated) < 3 or 2 * len(off) <= len(rated):
        return []
    s = off[len(off) // 2]
    return [Verdict(
        "gain_mismatch",
        f"{len(off)} of {len(rated)} layers carry a gain more than {GAIN_OFF:g}x from the "
        f"one their input needs (e.g. {s.name}: {s.gain_used:.3g} where its input"
        f"{' from ' + s.input_activation if s.input_activation else ''} needs "
        f"{s.gain_auto:.3g})",
        "The weights' scale does not compensate the nonlinearity feeding each layer "
        "(forward criterion, He et al. 2015): the signal drifts away from unit size with "
        "depth.",
        "initscope.initialize(model, 'auto')", "warning")]


def _worst(layers: list[LayerStats], fraction: str) -> LayerStats | None:
    """The layer with the largest measured ``fraction`` ("saturated" or "dead"); None when
    no layer measures it."""
    measured = [s for s in layers if getattr(s, fraction) is not None]
    return max(measured, key=lambda s: getattr(s, fraction), default=None)


def judge(layers: list[LayerStats], scale: InputScale | None = None) -> list[Verdict]:
    """All verdicts that fire, in a fixed order (non-finite values first, then symmetry:
    each explains what follows). ``scale``: the input batch's, for the advice (a network
    already at "auto"'s gains fed an input that is not standardized is told so)."""
    out, finite = _nonfinite(layers)
    broken = bool(out)  # NaN/inf somewhere: no gradient trend is meaningful
    layers = layers[:finite]
    weighted = [s for s in layers if s.kind in _WEIGHTED]
    if not weighted:
        return out
    # Identical units whose activations are exactly 0 while their weights differ are a
    # signal that vanished (underflow), not symmetry: the trend rule reports them.
    # A layer started at zero on purpose (muP's queries, SkipInit's branch ends) has
    # identical units whose gradients differ: the first step tells them apart.
    sym = [s for s in weighted if s.identical_units >= SYMMETRIC and s.units > 1
           and not (s.act_second_moment == 0 and (s.identical_weights or 0) < SYMMETRIC)
           and not (s.zero_start_grad_identical is not None
                    and s.zero_start_grad_identical < SYMMETRIC)]
    if sym:
        out.append(Verdict(
            "symmetry",
            f"{len(sym)} of {len(weighted)} layers have identical units "
            f"(e.g. {sym[0].name}: {sym[0].identical_units:.0%})",
            "Units with identical incoming weights compute the same value and receive the "
            "same gradient, so training never tells them apart.",
            "a random initialization, e.g. initscope.initialize(model, 'auto')",
        ))
    sat = _worst(layers, "saturated")
    grade = _graded(sat.saturated or 0.0, SATURATED, SATURATED_WARN) if sat else None
    if sat is not None and grade is not None:
        out.append(Verdict(
            "saturation", f"{sat.saturated:.0%} of {sat.name}'s {sat.activation} units saturated",
            "Saturated units pass almost no gradient (their derivative is ~0).",
            _scale_fix(layers, scale) or _gain_hint(layers) + " (smaller weights)", grade,
        ))
    dead = _worst(layers, "dead")
    grade = _graded(dead.dead or 0.0, DEAD, DEAD_WARN) if dead else None
    if dead is not None and grade is not None:
        out.append(Verdict(
            "dead_units", f"{dead.dead:.0%} of {dead.name}'s units are zero for the whole batch",
            "A ReLU unit that never activates gets no gradient and stays dead.",
            _dead_fix(layers, scale), grade,
        ))
    # Depth trends compare hidden layers: the output layer's gradient is the loss's own and
    # its width (the classes) is not the network's (Glorot & Bengio compare hidden layers).
    hidden = [s for s in weighted if not s.is_output] if len(weighted) > 3 else weighted
    # Layers started at zero on purpose carry no signal yet: no trend reads them.
    hidden = [s for s in hidden if not _zero_start(s)] or hidden
    first, last = _like_with_like(hidden)
    # The forward trend reads what reaches the stream: not a branch end's output that a
    # layer scale multiplies first (its gradient, gamma times the stream's, is like with
    # like across blocks and stays in the backward trend).
    streamed = [s for s in hidden if not s.layer_scaled] or hidden
    f_first, f_last = _like_with_like(streamed)
    if len(hidden) >= 3 and not sym and first is not last:
        if f_first is not f_last:
            fwd = f_last.act_second_moment / f_first.act_second_moment \
                if f_first.act_second_moment else 0.0
            zero = " (exactly 0: the signal underflowed)" if f_last.act_second_moment == 0 \
                else ""
            moments = (f"the activations' second moment goes from "
                       f"{f_first.act_second_moment:.3g} ({f_first.name}) to "
                       f"{f_last.act_second_moment:.3g} ({f_last.name}){zero}: x{fwd:.2g}")
            out += _trend(fwd, "forward", moments, "the signal",
                          _scale_fix(layers, scale) or _gain_hint(layers))
        if not broken and last.grad_pre_var > 0 and math.isfinite(first.grad_pre_var):
            bwd = first.grad_pre_var / last.grad_pre_var
            grads = f"{first.name} receives x{bwd:.2g} of {last.name}'s gradient variance"
            out += _trend(bwd, "gradients", grads, "gradients on the way back",
                          _gain_hint(layers, backward=True))
    # Inside a residual branch the stream around it keeps the rank (a uniform attention
    # at init gives every position the same mean of the values: low rank, and harmless).
    collapsed = [s for s in weighted[1:] if s.max_rank >= 8 and not s.in_residual_branch
                 and not _zero_start(s)
                 and s.effective_rank < RANK * s.max_rank and not math.isnan(s.effective_rank)]
    if collapsed and not sym:
        s = collapsed[-1]
        flat = " (no variation across the batch beyond rounding)" if s.effective_rank == 0 \
            else ""
        out.append(Verdict(
            "rank_collapse",
            f"{s.name}'s activations have effective rank {s.effective_rank:.2g} of at most "
            f"{s.max_rank}{flat}",
            "All inputs are mapped to nearly the same direction; the network cannot tell "
            "them apart (Saxe et al. 2014; Pennington et al. 2017).",
            "orthogonal or critical initialization: initscope.initialize(model, 'orthogonal')",
        ))
    if not sym:
        out += _gain_mismatch(hidden)
    return out


@dataclass(frozen=True)
class Chain:
    """A plain chain of layers joined through one activation each (the graph's links),
    as :func:`unstable_chains` reads it."""

    activation: str
    slope: float
    links: int
    first: str
    last: str
    mirrored: bool


def unstable_chains(chains: list[Chain]) -> list[Verdict]:
    """A warning per chain whose activation's length map expands at its fixed point
    (slope > 1) enough to double a deviation along it (slope^links >= 2), unless its
    weights are mirrored (looks-linear: then the chain is linear at init and the map
    never acts)."""
    out = []
    for c in chains:
        if c.mirrored or not rules.deviation_doubles(c.slope, c.links):
            continue
        out.append(Verdict(
            "unstable_variance_map",
            f"{c.activation} chain of {c.links + 1} layers ({c.first} .. {c.last}): the "
            f"length map's slope at its fixed point is {c.slope:.3g}, so deviations grow "
            f"x{c.slope:.3g} per layer (x{rules.chain_growth(c.slope, c.links):.3g} along the "
            "chain)",
            f"The second moment of {c.activation} pre-activations has an unstable fixed "
            "point: E[phi(sqrt(q) z)^2] / q rises with q, so no gain holds it, and the "
            "deviations finite width makes grow geometrically with depth (a 100-layer GELU "
            "MLP under a variance-keeping init ends 1e5x from where it started).",
            "initscope.initialize(model, 'auto') makes such a chain looks-linear (mirrored "
            "orthogonal weights, Balduzzi et al. 2017: exactly linear at init), or "
            "initialize(model, 'looks_linear') for every chain",
            severity="warning",
        ))
    return out
