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
    for i, s in enumerate(shown):
        counts, lo, hi = getattr(s, attr)
        c = np.asarray(counts)
        centres = lo + (np.arange(len(c)) + 0.5) * (hi - lo) / len(c)
        density = c / ((c.sum() or 1.0) * (hi - lo) / len(c))  # bins differ per layer
        ax.plot(centres, density, color=cmap(i / max(1, len(shown) - 1)),
                label=f"{s.name}", linewidth=1.2)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if len(shown) <= 12:
        ax.legend(fontsize=7, title="layer", title_fontsize=7)


def diagnosis_figure(diagnosis: Any, *, title: str = "", out: str | Path | None = None) -> Any:
    """Glorot & Bengio 2010, Figs. 6-7 for one model at initialization: the distribution
    of each layer's activations and of the gradients back-propagated to its
    pre-activations, one line per layer (dark: first, light: last)."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    weighted = [s for s in diagnosis.layers if s.kind != "norm"]
    _hist_lines(a1, weighted, "act_hist", "activation values", "value")
    _hist_lines(a2, weighted, "grad_hist", "back-propagated gradients", "dL / d pre-activation")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    if out is not None:
        fig.savefig(out)
    return fig


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
