"""The records diagnose() produces: per-layer statistics (:class:`LayerStats`), a
problem found (:class:`Verdict`) and the whole :class:`Diagnosis`. Types only: the
measurement lives in ``_diagnose``, the rules in ``verdicts``, the rendering in
``initscope.report``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._tabular import dataframe
from . import _stats

if TYPE_CHECKING:
    from ..model.graph import LayerGraph

Kind = Literal[
    "non_finite", "symmetry", "saturation", "dead_units", "vanishing_forward",
    "exploding_forward", "vanishing_gradients", "exploding_gradients", "rank_collapse",
    "gain_mismatch", "unstable_variance_map",
]
Severity = Literal["failure", "warning"]


@dataclass(frozen=True)
class Verdict:
    """One problem: its ``kind``, the ``evidence`` (layers and numbers), the ``reason``,
    the ``fix`` and its ``severity`` ("failure" or "warning")."""

    kind: Kind
    evidence: str
    reason: str
    fix: str
    severity: Severity = "failure"

    def __str__(self) -> str:
        tag = " (warning)" if self.severity == "warning" else ""
        return f"{self.kind}{tag}: {self.evidence}. {self.reason} Fix: {self.fix}"



@dataclass
class LayerStats:
    """The statistics of one layer (see the module docstring); None where undefined."""

    name: str
    kind: str
    activation: str | None
    pre_mean: float = math.nan
    pre_second_moment: float = math.nan
    act_mean: float = math.nan
    act_second_moment: float = math.nan
    saturated: float | None = None
    dead: float | None = None
    identical_units: float = math.nan
    identical_weights: float | None = None
    effective_rank: float = math.nan
    units: int = 0
    max_rank: int = 0
    grad_pre_var: float = math.nan
    grad_weight_var: float = math.nan
    nonfinite: float = 0.0
    grad_nonfinite: float = 0.0
    nonfinite_cause: str | None = None
    jacobian_sv_mean: float | None = None
    gain_used: float | None = None
    gain_auto: float | None = None
    is_output: bool = False
    #: The nonlinearity feeding the layer (what ``gain_auto`` compensates).
    input_activation: str | None = None
    #: Inside a residual branch: the stream around it carries the signal.
    in_residual_branch: bool = False
    #: Its output feeds a normalization (which rescales it).
    before_norm: bool = False
    #: A layer scale multiplies its output before the residual sum (ConvNeXt's gamma).
    layer_scaled: bool = False
    #: The layer's place with block indices replaced by "#" ("h.#.mlp.c_proj"): layers
    #: that share it play the same role in successive blocks.
    role_key: str = ""
    #: For a layer whose weights are all zero: the fraction of its units whose weight
    #: gradients are copies of another's (below the symmetry threshold, the first step
    #: already tells them apart: a zero start, not symmetry). None otherwise.
    zero_start_grad_identical: float | None = None
    predicted_pre_second_moment: float | None = None
    #: The mean-field chain's Var[dL/d pre-activation], anchored at the measured value of
    #: the chain's last layer (the theory predicts how it changes with depth, not the
    #: loss's scale). None where the chain breaks (residual sums, attention).
    predicted_grad_pre_var: float | None = None
    #: What the layer is for ("hidden", "query+key+value (fused)", "output head (tied)",
    #: ...), as ``initialize``'s report names it.
    role: str = ""
    #: The block the layer belongs to ("transformer.h.3"; "" outside repeated blocks).
    block: str = ""
    theory_note: str = ""
    act_hist: _stats.Histogram | None = field(default=None, repr=False)
    grad_hist: _stats.Histogram | None = field(default=None, repr=False)


@dataclass
class Diagnosis:
    """Per-layer statistics (``layers``, in execution order) and ``verdicts``."""

    layers: list[LayerStats]
    verdicts: list[Verdict]
    graph: LayerGraph = field(repr=False)
    loss: float = math.nan

    @property
    def healthy(self) -> bool:
        return not self.verdicts

    def to_html(self, path: str | Path, *, title: str = "initscope report") -> Path:
        """One self-contained HTML file (figures embedded) that opens offline."""
        from ..report.html import diagnosis_html

        return diagnosis_html(self, path, title=title)

    def plot(self, out: str | Path | None = None) -> Any:
        """Glorot & Bengio's Figs. 6-7 for this model (``report.plots.diagnosis_figure``)."""
        from ..report.plots import diagnosis_figure

        return diagnosis_figure(self, out=out)

    def to_records(self) -> list[dict[str, Any]]:
        """Tidy rows, one per layer (histograms left out: see ``layers``)."""
        skip = ("act_hist", "grad_hist")
        return [{k: v for k, v in s.__dict__.items() if k not in skip} for s in self.layers]

    @property
    def table(self) -> Any:
        """The statistics as a pandas DataFrame, one row per layer."""
        return dataframe(self.to_records(), "Diagnosis.table")

    def __str__(self) -> str:
        jac = any(s.jacobian_sv_mean is not None for s in self.layers)
        head = f"{'layer':<28} {'pre E[x^2]':>10} {'theory':>9} {'act E[x^2]':>11} " \
               f"{'grad var':>10} {'sat':>5} {'dead':>5} {'ident':>5} {'rank':>6} " \
               f"{'gain':>6} {'auto':>6}" + (f" {'J sv':>6}" if jac else "")
        lines = [head]
        for s in self.layers:
            lines.append(
                f"{s.name[:28]:<28} {s.pre_second_moment:>10.3g} "
                f"{_num(s.predicted_pre_second_moment):>9} {s.act_second_moment:>11.3g} "
                f"{s.grad_pre_var:>10.3g} "
                f"{_pct(s.saturated):>5} {_pct(s.dead):>5} {_pct(s.identical_units):>5} "
                f"{s.effective_rank:>6.3g} {_num(s.gain_used):>6} {_num(s.gain_auto):>6}"
                + (f" {_num(s.jacobian_sv_mean):>6}" if jac else "")
            )
        lines.append("")
        lines += [str(v) for v in self.verdicts] or ["healthy: no problem found"]
        return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "" if v is None or math.isnan(v) else f"{v:.0%}"


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.3g}"


