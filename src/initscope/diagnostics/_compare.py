"""compare(): the seed's question as one table and one picture, for any model.

Builds the model once per scheme, initializes it, diagnoses it on the same batch, and
returns tidy rows (scheme x layer) with each scheme's verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .._tabular import dataframe
from ..model.apply import initialize
from ..model.policies import Policy
from ._diagnose import diagnose
from .records import Diagnosis


@dataclass
class Comparison:
    """One :class:`Diagnosis` per scheme, on the same batch."""

    diagnoses: dict[str, Diagnosis] = field(default_factory=dict)

    def to_records(self) -> list[dict[str, Any]]:
        rows = []
        for scheme, d in self.diagnoses.items():
            verdicts = ", ".join(v.kind for v in d.verdicts) or "healthy"
            for depth, rec in enumerate(d.to_records()):
                rows.append({"scheme": scheme, "depth": depth, **rec, "verdicts": verdicts})
        return rows

    @property
    def table(self) -> Any:
        return dataframe(self.to_records(), "Comparison.table")

    def __str__(self) -> str:
        width = max([6, *(len(s) for s in self.diagnoses)])
        lines = [f"{'scheme':<{width}}  verdicts"]
        for scheme, d in self.diagnoses.items():
            lines.append(f"{scheme:<{width}}  " + ("; ".join(v.kind for v in d.verdicts)
                                                     or "healthy"))
        return "\n".join(lines)

    def plot(self, out: str | Path | None = None) -> Any:
        """Second moment of the activations and variance of the gradients by depth, one
        line per scheme (log scale): the signal's fate under each initialization."""
        from ..report.plots import comparison_figure

        return comparison_figure(self, out=out)


def compare(
    model_fn: Callable[[], nn.Module],
    inputs: Any,
    schemes: Sequence[str] | Mapping[str, str | Policy] = (
        "zeros", "uniform(-1,1)", "glorot_standard", "xavier", "auto"),
    *,
    target: Any = None,
    seed: int = 0,
) -> Comparison:
    """Diagnose ``model_fn()`` under each scheme on the same ``inputs``: scheme names,
    or a mapping from a label to a scheme name or policy.

    >>> import torch
    >>> make = lambda: torch.nn.Sequential(*[m for _ in range(8) for m in
    ...                                      (torch.nn.Linear(64, 64), torch.nn.Tanh())])
    >>> c = compare(make, torch.randn(128, 64), ["zeros", "auto"])
    >>> print(c)
    scheme  verdicts
    zeros   symmetry
    auto    healthy
    """
    result = Comparison()
    named = schemes.items() if isinstance(schemes, Mapping) else [(s, s) for s in schemes]
    for label, scheme in named:
        model = model_fn()
        initialize(model, scheme, seed=seed)
        result.diagnoses[label] = diagnose(model, inputs, target, seed=seed)
    return result
