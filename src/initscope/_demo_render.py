"""Terminal rendering of the demo's measurements (rich, imported here only)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ._demo import SEED_SCHEMES, DemoConfig, SchemeResult


def _style(kind: str) -> str:
    """The colour of a verdict kind (the one vocabulary of initscope.diagnostics)."""
    if kind == "healthy":
        return "green"
    if kind.startswith("vanishing"):
        return "yellow"
    return {"symmetry": "cyan", "saturation": "magenta", "gain_mismatch": "yellow"}.get(
        kind, "red")


def _cell(v: float) -> str:
    return "0" if v == 0 else f"{v:.1e}"


def render(config: DemoConfig, results: list[SchemeResult], console: Console | None = None) -> None:
    """Per activation: activation variance and gradient variance per layer, one column per
    scheme; then one verdict line per scheme."""
    console = console or Console(width=max(Console().width, 120))
    console.print(
        f"[bold]initscope demo[/]: {config.depth} x Linear({config.width}, {config.width}) + "
        f"activation, batch {config.batch}, inputs ~ N(0, 1), dL/d output ~ N(0, 1), "
        f"seed {config.seed}, diagnosed by initscope.compare. He uses the gain of the "
        "activation that feeds each layer (1 for the first)."
    )
    for act in config.activations:
        rows = {r.scheme: r for r in results if r.activation == act}
        for title, key in (("activation variance", "act_var"), ("gradient variance", "grad_var")):
            table = Table(title=f"{act}: {title} per layer", title_justify="left")
            table.add_column("layer", justify="right")
            for s in SEED_SCHEMES:
                table.add_column(s, justify="right")
            for i in range(config.depth):
                table.add_row(str(i + 1), *(_cell(getattr(rows[s], key)[i]) for s in SEED_SCHEMES))
            console.print(table)
        for s in SEED_SCHEMES:
            r = rows[s]
            kinds = ", ".join(r.verdicts) or "healthy"
            console.print(
                f"  {act:>7} {s:<16} [{_style(r.verdict)}]{kinds}[/]: {r.reason}"
            )
        console.print()
