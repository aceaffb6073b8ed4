"""Verdicts: what is wrong with a network at initialization, why, and what to do.

Each rule reads the per-layer statistics of :func:`~initscope.diagnostics.diagnose` and,
when it fires, names the evidence (layers and numbers), the reason in one sentence and
the fix. Thresholds are module constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ._diagnose import LayerStats

Kind = Literal[
    "symmetry", "saturation", "dead_units", "vanishing_forward", "exploding_forward",
    "vanishing_gradients", "exploding_gradients", "rank_collapse",
]

#: A layer whose units are identical copies (zeros / ones / constant init) beyond this.
SYMMETRIC = 0.9
#: Saturated or dead fraction that fires.
SATURATED, DEAD = 0.5, 0.5
#: Ratio of the last to the first layer (forward) or first to last (gradients).
VANISH, EXPLODE = 1e-2, 1e2
#: Effective rank below this fraction of the units (after the first layer).
RANK = 0.05
_WEIGHTED = ("linear", "conv", "conv_transpose", "attention", "rnn", "other")


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    evidence: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.evidence}. {self.reason} Fix: {self.fix}"


def _gain_hint(layers: list[LayerStats], backward: bool = False) -> str:
    off = [s for s in layers if s.gain_used and s.gain_auto
           and abs(math.log(s.gain_used / s.gain_auto)) > math.log(1.25)]
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
    """A vanishing or exploding verdict when ``ratio`` leaves [VANISH, EXPLODE]."""
    if ratio < VANISH:
        kind, reason = f"vanishing_{what}", f"Each layer shrinks {subject}; deep in the chain " \
            "almost nothing is left."
    elif ratio > EXPLODE:
        kind, reason = f"exploding_{what}", f"Each layer amplifies {subject}."
    else:
        return []
    return [Verdict(kind, evidence, reason, fix)]  # type: ignore[arg-type]


def _worst(layers: list[LayerStats], fraction: str) -> LayerStats | None:
    """The layer with the largest measured ``fraction`` ("saturated" or "dead"); None when
    no layer measures it."""
    measured = [s for s in layers if getattr(s, fraction) is not None]
    return max(measured, key=lambda s: getattr(s, fraction), default=None)


def judge(layers: list[LayerStats]) -> list[Verdict]:
    """All verdicts that fire, in a fixed order (symmetry first: it explains the rest)."""
    out: list[Verdict] = []
    weighted = [s for s in layers if s.kind in _WEIGHTED]
    if not weighted:
        return out
    sym = [s for s in weighted if s.identical_units >= SYMMETRIC and s.units > 1]
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
    if sat is not None and (sat.saturated or 0) > SATURATED:
        out.append(Verdict(
            "saturation", f"{sat.saturated:.0%} of {sat.name}'s {sat.activation} units saturated",
            "Saturated units pass almost no gradient (their derivative is ~0).",
            _gain_hint(layers) + " (smaller weights)",
        ))
    dead = _worst(layers, "dead")
    if dead is not None and (dead.dead or 0) > DEAD:
        out.append(Verdict(
            "dead_units", f"{dead.dead:.0%} of {dead.name}'s units are zero for the whole batch",
            "A ReLU unit that never activates gets no gradient and stays dead.",
            "zero biases and a variance-preserving init: initscope.initialize(model, 'auto')",
        ))
    # Depth trends compare hidden layers: the output layer's gradient is the loss's own and
    # its width (the classes) is not the network's (Glorot & Bengio compare hidden layers).
    hidden = [s for s in weighted if not s.is_output] if len(weighted) > 3 else weighted
    first, last = hidden[0], hidden[-1]
    if len(hidden) >= 3 and not sym:
        fwd = last.act_second_moment / first.act_second_moment if first.act_second_moment else 0.0
        moments = (f"the activations' second moment goes from {first.act_second_moment:.3g} "
                   f"({first.name}) to {last.act_second_moment:.3g} ({last.name}): x{fwd:.2g}")
        out += _trend(fwd, "forward", moments, "the signal", _gain_hint(layers))
        if last.grad_pre_var > 0 and not math.isnan(first.grad_pre_var):
            bwd = first.grad_pre_var / last.grad_pre_var
            grads = f"{first.name} receives x{bwd:.2g} of {last.name}'s gradient variance"
            out += _trend(bwd, "gradients", grads, "gradients on the way back",
                          _gain_hint(layers, backward=True))
    collapsed = [s for s in weighted[1:] if s.max_rank >= 8
                 and s.effective_rank < RANK * s.max_rank and not math.isnan(s.effective_rank)]
    if collapsed and not sym:
        s = collapsed[-1]
        out.append(Verdict(
            "rank_collapse",
            f"{s.name}'s activations have effective rank {s.effective_rank:.2g} of at most "
            f"{s.max_rank}",
            "All inputs are mapped to nearly the same direction; the network cannot tell "
            "them apart (Saxe et al. 2014; Pennington et al. 2017).",
            "orthogonal or critical initialization: initscope.initialize(model, 'orthogonal')",
        ))
    return out
