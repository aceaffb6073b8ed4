"""What a reproduction returns and writes: a tidy table, the paper's claim beside ours."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """A reproduction's outcome: ``rows`` (one dict per condition), the paper's claims and
    ours side by side (``claims``: (claim, paper, ours) triples), and figures written."""

    name: str
    title: str
    rows: list[dict[str, Any]]
    claims: list[tuple[str, str, str]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    #: what the numbers do not show: where and why ours differ from the paper's setting
    notes: str = ""
    #: measurements behind the claims that are not a table row (e.g. a training trace's
    #: summary), for tests and for callers
    details: dict[str, Any] = field(default_factory=dict)
    #: how the committed results were produced, and how long it took (set by the CLI)
    command: str = ""
    seconds: float | None = None

    def markdown(self) -> str:
        cols = list(self.rows[0]) if self.rows else []
        lines = [f"# {self.title}", ""]
        if self.command:
            took = "" if self.seconds is None else f" in {self.seconds:.0f} s"
            lines += [f"Produced by `{self.command}`{took}.", ""]
        lines += [f"Configuration: `{self.config}`", "",
                  "| claim | paper | ours |", "|---|---|---|"]
        lines += [f"| {c} | {p} | {o} |" for c, p, o in self.claims]
        if self.notes:
            lines += ["", self.notes]
        lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in self.rows]
        lines += [""] + [f"![{p.stem}]({p.name})" for p in self.figures]
        return "\n".join(lines) + "\n"

    def write_with(self, out: str | Path | None,
                   *draw: Callable[[Path], Path | list[Path]]) -> None:
        """When ``out`` is given: draw each figure into it (``draw(out)`` returns the
        files), then write the tables and the report there."""
        if out is None:
            return
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        for d in draw:
            made = d(path)
            self.figures.extend(made if isinstance(made, list) else [made])
        self.write(path)

    def write(self, out: str | Path) -> Path:
        """results.csv, results.md and report.html (one self-contained page with the
        figures already written there embedded)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if self.rows:
            with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]))
                writer.writeheader()
                writer.writerows(self.rows)
        (out / "results.md").write_text(self.markdown(), encoding="utf-8")
        from ..report.html import result_html

        result_html(self, out / "report.html")
        return out


def spread(values: list[float]) -> str:
    """A measurement's range over seeds, as a table shows it beside the mean: "lo-hi"."""
    return f"{min(values):.3g}-{max(values):.3g}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
