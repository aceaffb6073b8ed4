"""One self-contained HTML file: statistics, verdicts and figures (PNG, base64-embedded),
so the report opens offline, anywhere, with nothing beside it.

The page checks itself on load: it writes into ``<body data-figures-ok=...>`` whether
every embedded figure decoded (the browser test reads that).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em}td,th{padding:3px 8px;text-align:right;
border-bottom:1px solid #ddd}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.verdict{border-left:4px solid #c0392b;padding:.4em .8em;margin:.6em 0;background:#fdf2f1}
.verdict.warning{border-left-color:#e67e22;background:#fef6ec}
.healthy{border-left:4px solid #27ae60;padding:.4em .8em;background:#f0faf3}
.note{color:#777;font-size:.85em}img{max-width:100%}
tr.block th{text-align:left;background:#e8eef6;font-weight:600}
"""

_CHECK = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-figures-ok', ok ? 'yes' : 'no');
  document.body.setAttribute('data-figures', String(imgs.length));
});
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.3g}"
    return html.escape(str(v))


_COLUMNS = [
    ("name", "layer"), ("role", "role"), ("kind", "kind"), ("activation", "activation"),
    ("pre_second_moment", "pre E[x²]"), ("predicted_pre_second_moment", "theory"),
    ("act_second_moment", "act E[x²]"), ("grad_pre_var", "grad var"),
    ("saturated", "saturated"), ("dead", "dead"), ("identical_units", "identical"),
    ("effective_rank", "eff. rank"), ("gain_used", "gain"), ("gain_auto", "auto gain"),
    ("jacobian_sv_mean", "Jacobian sv mean"), ("theory_note", "theory note"),
]


def diagnosis_html(diagnosis: Any, path: str | Path, *, title: str = "initscope report") -> Path:
    """Write ``diagnosis`` (a :class:`~initscope.diagnostics.Diagnosis`) as one HTML file:
    the verdicts, the second moments by depth (measured beside predicted), the per-layer
    table with its rows grouped by block, and the distributions of Glorot & Bengio's
    Figs. 6-7."""
    from .plots import depth_figure, diagnosis_figure

    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in _COLUMNS)
    if diagnosis.verdicts:
        verdicts = "".join(
            f'<div class="verdict {v.severity}"><b>{html.escape(v.kind)}</b>'
            f'{" (warning)" if v.severity == "warning" else ""}: {html.escape(v.evidence)}. '
            f"{html.escape(v.reason)}<br><i>Fix:</i> {html.escape(v.fix)}</div>"
            for v in diagnosis.verdicts)
    else:
        verdicts = '<div class="healthy">healthy: no problem found</div>'
    depth = _png(depth_figure(diagnosis))
    figure = _png(diagnosis_figure(diagnosis))
    return _write_page(path, html.escape(title), f"""
<p class="note">Graph by {html.escape(diagnosis.graph.method)}; loss {diagnosis.loss:.4g}.
One forward and one backward pass at initialization.</p>
<h2>Verdicts</h2>
{verdicts}
<h2>Signal by depth: measured beside the mean-field prediction</h2>
<img alt="second moment of activations and variance of gradients by layer, log scale"
 src="data:image/png;base64,{depth}">
<h2>Per layer</h2>
<table><thead><tr>{head}</tr></thead><tbody>{_grouped_rows(diagnosis.layers)}</tbody></table>
<h2>Activations and gradients by layer (Glorot &amp; Bengio 2010, Figs. 6–7)</h2>
<img alt="histograms of activations and back-propagated gradients per layer"
 src="data:image/png;base64,{figure}">
""")


def _grouped_rows(layers: list[Any]) -> str:
    """The table's rows in execution order, a heading row wherever the block changes
    (a model without repeated blocks gets none)."""
    rows = []
    current: str | None = None
    grouped = any(s.block for s in layers)
    for s in layers:
        if grouped and s.block != current:
            current = s.block
            label = f"block {current}" if current else "outside the blocks"
            rows.append(f'<tr class="block"><th colspan="{len(_COLUMNS)}">'
                        f"{html.escape(label)}</th></tr>")
        cells = "".join(f"<td>{_fmt(getattr(s, key))}</td>" for key, _ in _COLUMNS)
        rows.append(f"<tr>{cells}</tr>")
    return "".join(rows)


def _write_page(path: str | Path, title: str, body: str) -> Path:
    """One page: ``title`` (HTML-escaped already) as its heading, ``body`` after it, the
    style sheet inline and the figure self-check; written to ``path`` (folders made)."""
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{_CSS}</style></head>
<body>
<h1>{title}</h1>
{body}
<script>{_CHECK}</script>
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def result_html(result: Any, path: str | Path) -> Path:
    """Write a reproduction's :class:`~initscope.reproduce._result.Result` as one HTML
    file: the paper's claims beside ours, the notes, the table, and its figures (the PNG
    files already written beside it, embedded)."""
    title = html.escape(result.title)
    made = ""
    if result.command:
        took = "" if result.seconds is None else f" in {result.seconds:.0f} s"
        made = (f"<p class=\"note\">Produced by <code>{html.escape(result.command)}</code>"
                f"{took}.</p>")
    claims = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{html.escape(p)}</td><td>{html.escape(o)}</td></tr>"
        for c, p, o in result.claims)
    cols = list(result.rows[0]) if result.rows else []
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r[c])}</td>" for c in cols) + "</tr>"
                   for r in result.rows)
    figures = "".join(
        f"<h2>{html.escape(Path(f).stem)}</h2><img alt=\"{html.escape(Path(f).stem)}\" "
        f"src=\"data:image/png;base64,{base64.b64encode(Path(f).read_bytes()).decode('ascii')}\">"
        for f in result.figures)
    notes = f"<p>{html.escape(result.notes)}</p>" if result.notes else ""
    return _write_page(path, title, f"""{made}
<p class="note">Configuration: <code>{html.escape(str(result.config))}</code></p>
<h2>The paper and ours</h2>
<table><thead><tr><th>claim</th><th>paper</th><th>ours</th></tr></thead>
<tbody>{claims}</tbody></table>
{notes}
<h2>Results</h2>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
{figures}
""")

