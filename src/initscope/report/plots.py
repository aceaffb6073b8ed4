"""Figures. matplotlib is imported inside each function (``import initscope`` must not
pull it in), with the non-interactive Agg backend when no backend was chosen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._gain import ActivationLike, resolve_activation
from ..theory import meanfield


def _pyplot() -> Any:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def phase_diagram(
    activation: ActivationLike,
    *,
    sigma_w2: tuple[float, float] = (0.5, 4.0),
    sigma_b2: tuple[float, float] = (0.0, 0.5),
    resolution: int = 100,
    out: str | Path | None = None,
) -> Any:
    """The order-to-chaos phase diagram of ``activation`` (Poole et al. 2016, Fig. 1;
    Schoenholz et al. 2017, Fig. 1): log10 chi_1 over (sigma_w2, sigma_b2), blue ordered
    (gradients vanish), red chaotic (they explode), with the critical line chi_1 = 1 and
    the usual initializations marked. Returns the matplotlib Figure; saves it to ``out``.
    """
    if resolution < 3:
        raise ValueError(f"resolution must be >= 3; got {resolution!r}")
    act = resolve_activation(activation)
    ws = np.linspace(sigma_w2[0], sigma_w2[1], resolution)
    bs = np.linspace(sigma_b2[0], sigma_b2[1], resolution)
    raw = meanfield.chi1_grid(act, ws, bs)
    with np.errstate(divide="ignore"):
        chi = np.where(np.isinf(raw), 3.0, np.log10(np.where(raw > 0, raw, np.nan)))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5), dpi=110)
    limit = np.nanmax(np.abs(chi)) if np.isfinite(chi).any() else 1.0
    image = ax.imshow(chi, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit,
                      vmax=limit, extent=(ws[0], ws[-1], bs[0], bs[-1]))
    fig.colorbar(image, ax=ax, label=r"$\log_{10}\chi_1$")
    ax.contour(ws, bs, chi, levels=[0.0], colors="k", linewidths=1.5)
    try:
        crit = meanfield.critical_sigma_w2(act, float(bs[0]))
        ax.plot([crit], [bs[0]], "k*", markersize=10,
                label=f"critical {crit:.3g} at sigma_b2={bs[0]:g}")
    except ValueError:
        pass  # no edge of chaos at the lowest bias variance (GELU, SiLU): nothing to mark
    from .._core.gain import gain_of

    g2 = gain_of(act) ** 2
    if ws[0] <= g2 <= ws[-1]:
        ax.axvline(g2, color="0.3", linestyle="--", linewidth=1, label="forward gain^2 (auto)")
    ax.set_xlabel(r"$\sigma_w^2$ (weight variance x fan_in)")
    ax.set_ylabel(r"$\sigma_b^2$")
    ax.set_title(f"{act.name}: ordered (blue) / chaotic (red), edge of chaos (black)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


def _hist_lines(ax: Any, layers: list[Any], attr: str, title: str, xlabel: str) -> None:
    cmap = _pyplot().get_cmap("viridis")
    shown = [s for s in layers if getattr(s, attr) is not None]
    reach = 0.0
    for i, s in enumerate(shown):
        counts, lo, hi = getattr(s, attr)
        c = np.asarray(counts)
        centres = lo + (np.arange(len(c)) + 0.5) * (hi - lo) / len(c)
        density = c / ((c.sum() or 1.0) * (hi - lo) / len(c))  # bins differ per layer
        ax.plot(centres, density, color=cmap(i / max(1, len(shown) - 1)),
                label=f"{s.name}", linewidth=1.2)
        if np.isfinite(lo) and np.isfinite(hi):
            reach = max(reach, abs(lo), abs(hi))
    if reach > 0:
        ax.set_xlim(-reach, reach)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if len(shown) <= 12:
        ax.legend(fontsize=7, title="layer", title_fontsize=7)


def diagnosis_figure(diagnosis: Any, *, title: str = "", out: str | Path | None = None) -> Any:
    """Glorot & Bengio 2010, Figs. 6-7 for one model at initialization: the distribution
    of each layer's activations and of the gradients back-propagated to its
    pre-activations, one line per layer (dark: first, light: last). The gradient panel
    shows the hidden layers: the output layer's gradient (dL/dlogits, often orders of
    magnitude wider) would flatten them into a spike at zero, so it is left out and
    its range said in the title."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    weighted = [s for s in diagnosis.layers if s.kind != "norm"]
    hidden = [s for s in weighted if not s.is_output]
    _hist_lines(a1, weighted, "act_hist", "activation values", "value")
    left_out = [s for s in weighted if s.is_output and s.grad_hist is not None]
    grad_title = "back-propagated gradients"
    if left_out and any(s.grad_hist is not None for s in hidden):
        _, lo, hi = left_out[0].grad_hist
        grad_title += f"\n(hidden layers; the output layer's span {lo:.2g} to {hi:.2g})"
        _hist_lines(a2, hidden, "grad_hist", grad_title, "dL / d pre-activation")
    else:
        _hist_lines(a2, weighted, "grad_hist", grad_title, "dL / d pre-activation")
    return _finish(fig, title, out)


def _finish(fig: Any, title: str, out: str | Path | None) -> Any:
    """The figure's title, its layout, and a copy to ``out`` when given."""
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


def _positive(values: list[float | None]) -> np.ndarray:
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _block_axis(ax: Any, blocks: list[str]) -> None:
    """Layers in execution order on x; where the model has repeated blocks, a faint line
    at each block boundary and the block's name under its middle (at most 12 named)."""
    ax.set_xlabel("layer (execution order)")
    starts = [k for k in range(len(blocks)) if k == 0 or blocks[k] != blocks[k - 1]]
    if not any(blocks):
        return
    for k in starts[1:]:
        ax.axvline(k + 0.5, color="0.85", linewidth=0.8, zorder=0)
    spans = [(a, b) for a, b in zip(starts, [*starts[1:], len(blocks)], strict=True)
             if blocks[a]]
    step = max(1, -(-len(spans) // 12))
    shown = spans[::step]
    ax.set_xticks([(a + b + 1) / 2 for a, b in shown])
    ax.set_xticklabels([blocks[a] for a, _ in shown], rotation=45, ha="right", fontsize=7)
    ax.set_xlabel("block (layers in execution order)")


def depth_figure(diagnosis: Any, *, title: str = "", out: str | Path | None = None) -> Any:
    """The second moment of each layer's output (pre-activation) and the variance of the
    gradient back-propagated to it, by depth, on a log scale: measured (solid) beside
    the mean-field prediction for the model's weights (open markers; the gradient
    prediction anchored at the chain's last layer). A flat line is what Glorot & Bengio
    (2010) and He et al. (2015) ask of an initialization; where the theory's chain
    breaks (residual sums, attention) there is no prediction to show. Block boundaries
    are faint vertical lines."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    layers = [s for s in diagnosis.layers if s.kind != "norm"]
    depth = np.arange(1, len(layers) + 1)
    pairs = ((a1, "pre_second_moment", "predicted_pre_second_moment",
              "activations: E[h^2] of each layer's output"),
             (a2, "grad_pre_var", "predicted_grad_pre_var",
              "gradients: Var[dL/dh] by layer"))
    for ax, measured, predicted, label in pairs:
        m = _positive([getattr(s, measured) for s in layers])
        p = _positive([getattr(s, predicted) for s in layers])
        if np.isfinite(m).any():
            ax.semilogy(depth, m, "-o", ms=3, color="C0", label="measured")
        if np.isfinite(p).any():
            ax.semilogy(depth, p, "o", ms=6, mfc="none", color="C3",
                        label="mean-field prediction")
        else:
            ax.set_yscale("log")
            label += "\n(no prediction: the chain theory stops at residual sums, attention)"
        _block_axis(ax, [s.block for s in layers])
        ax.set_title(label, fontsize=10)
        if ax.has_data() and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return _finish(fig, title, out)


def comparison_figure(comparison: Any, *, out: str | Path | None = None) -> Any:
    """Activation second moment and gradient variance by depth, one line per scheme."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    for scheme, d in comparison.diagnoses.items():
        layers = [s for s in d.layers if s.kind != "norm"]
        depth = np.arange(1, len(layers) + 1)
        act = np.array([s.act_second_moment for s in layers], dtype=float)
        grad = np.array([s.grad_pre_var for s in layers], dtype=float)
        label = f"{scheme} ({', '.join(v.kind for v in d.verdicts) or 'healthy'})"
        a1.semilogy(depth, np.where(act > 0, act, np.nan), marker="o", ms=3, label=label)
        a2.semilogy(depth, np.where(grad > 0, grad, np.nan), marker="o", ms=3, label=scheme)
    a1.set_title("activations: E[x^2] by layer", fontsize=10)
    a2.set_title("gradients: Var[dL/d pre-activation] by layer", fontsize=10)
    for ax in (a1, a2):
        ax.set_xlabel("layer")
    a1.legend(fontsize=7)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig
