"""Reproductions of classic initialization results, each ``run(config) -> Result`` with a
``Config.smoke()`` that runs in seconds."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from ._result import Result as Result

#: name -> (module, one line)
REPRODUCTIONS: dict[str, tuple[str, str]] = {
    "glorot2010": ("glorot2010", "Table 1 and Figs. 2, 6-7: standard vs normalized init, "
                                 "softsign/tanh/sigmoid on Shapeset-3x2"),
    "symmetry": ("symmetry", "constant inits keep every unit identical through training"),
    "saturation": ("saturation", "U[-0.3,0.3], U[0,1], U[-1,1] saturate sigmoid and tanh"),
    "he2015": ("he2015", "30-layer plain ReLU net: Xavier's signal halves per layer, He's trains"),
    "saxe2014": ("saxe2014", "deep linear nets: orthogonal init learns in depth-independent "
                             "time, scaled Gaussian does not"),
    "lsuv": ("lsuv", "LSUV vs Xavier and He on a deep tanh MLP without normalization"),
    "critical-depth": ("critical_depth", "100-layer tanh nets train only at criticality; "
                                         "correlations follow the c-map"),
    "real-models": ("real_models", "13 Hugging Face architectures: 'auto' against each "
                                   "model's own init, at init and after 300 AdamW steps"),
    "activations": ("activations", "'auto' for every activation: 50-layer MLPs on digits "
                                   "against He, Xavier, looks-linear and critical"),
    "mup-transfer": ("mup_transfer", "muP: the best Adam learning rate holds from width 64 "
                                     "to 1024 (MLP, GPT); under SP it moves"),
}


#: Seconds a full run takes on the reference machine (2 CPU cores), as measured for the
#: committed docs/results (a test keeps the two within 2x of each other).
EXPECTED_SECONDS: dict[str, int] = {
    "glorot2010": 1480, "symmetry": 65, "saturation": 220, "he2015": 50, "saxe2014": 380,
    "lsuv": 70, "critical-depth": 160, "real-models": 1225, "activations": 1500,
    "mup-transfer": 580,
}


def expected_time(name: str) -> str:
    """How long a full run of ``name`` takes, in words."""
    s = EXPECTED_SECONDS[name]
    return f"about {s} s" if s < 120 else f"about {round(s / 60)} min"


#: Reproductions that train small networks one example batch at a time, where torch's
#: intra-op threads cost more than they give (benchmarks/results/design_measurements.md):
#: :func:`run` gives them one torch thread.
ONE_TORCH_THREAD = frozenset({"glorot2010", "saxe2014", "lsuv", "critical-depth",
                              "real-models", "activations"})


def run(name: str, config: Any = None, out: str | Path | None = None) -> Result:
    """Run reproduction ``name`` (its ``Config()`` when ``config`` is None), writing its
    figures under ``out``; what ``initscope reproduce NAME`` does.

    >>> r = run("symmetry", get("symmetry").Config.smoke())
    >>> r.name
    'symmetry'
    """
    module = get(name)
    if name not in ONE_TORCH_THREAD:
        result: Result = module.run(config, out=out)
        return result
    from .._threads import one_torch_thread

    with one_torch_thread():
        result = module.run(config, out=out)
    return result


def get(name: str) -> ModuleType:
    """The module of a reproduction, by name."""
    if name not in REPRODUCTIONS:
        raise ValueError(f"unknown reproduction {name!r}; available: {', '.join(REPRODUCTIONS)}")
    return importlib.import_module(f"{__name__}.{REPRODUCTIONS[name][0]}")


__all__ = ["EXPECTED_SECONDS", "REPRODUCTIONS", "Result", "expected_time", "get", "run"]
