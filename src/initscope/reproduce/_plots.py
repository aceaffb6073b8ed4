"""What the reproductions' figures share: a training curve smoothed for the eye, and a
figure saved beside the table (matplotlib is imported only when a figure is drawn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def smoothed(curve: Any, points: int = 50) -> np.ndarray:
    """A per-step curve as a running mean over 1/``points`` of its length (a curve
    shorter than ``points`` steps is returned as it is)."""
    c = np.asarray(curve, dtype=float)
    window = max(1, len(c) // points)
    return np.convolve(c, np.ones(window) / window, mode="valid")


def saved(fig: Any, out: Path, name: str) -> Path:
    """Lay ``fig`` out, write it to ``out / name`` and close it; the path."""
    from ..report.plots import _pyplot

    fig.tight_layout()
    path = out / name
    fig.savefig(path)
    _pyplot().close(fig)
    return path
