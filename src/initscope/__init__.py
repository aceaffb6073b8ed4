"""initscope: weight initialization you can measure.

One variance-scaling core (:class:`VarianceScaling`), gains for any activation
(:func:`gain`), layout-aware fans (:func:`fans`), and initializers for PyTorch
(:mod:`initscope.init`, a drop-in for ``torch.nn.init``), NumPy (:mod:`initscope.numpy`)
and JAX (:mod:`initscope.jax`).

``import initscope`` imports NumPy only; torch, scipy and jax load when first used.

>>> import initscope
>>> initscope.fans((64, 32, 3, 3))
Fans(fan_in=288, fan_out=576, receptive=9)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._core.activations import Activation as Activation
from ._core.activations import activation_names as activation_names
from ._core.activations import from_callable as from_callable
from ._core.fans import LAYOUTS as LAYOUTS
from ._core.fans import Fans as Fans
from ._core.fans import FanSpec as FanSpec
from ._core.fans import fans as fans
from ._core.scaling import Draw as Draw
from ._core.scaling import VarianceScaling as VarianceScaling
from ._core.scaling import truncated_normal_std as truncated_normal_std
from ._core.scaling import variance_scaling as variance_scaling
from ._gain import gain as gain
from ._gain import resolve_activation as activation

if TYPE_CHECKING:
    from . import diagnostics as diagnostics
    from . import guard as guard
    from . import init as init
    from . import jax as jax
    from . import model as model
    from . import numpy as numpy
    from . import rng as rng
    from . import theory as theory
    from ._sweep import sweep as sweep
    from .diagnostics import compare as compare
    from .diagnostics import coord_check as coord_check
    from .diagnostics import diagnose as diagnose
    from .guard import invariant_init as invariant_init
    from .model import InitReport as InitReport
    from .model import LayerGraph as LayerGraph
    from .model import LayerInfo as LayerInfo
    from .model import initialize as initialize
    from .model import layer_graph as layer_graph
    from .model import lsuv as lsuv
    from .model import mup as mup

__version__ = "0.1.0"

#: The face: what most users need, by name. Everything else is public in its module
#: (initscope.init, .numpy, .jax, .theory, .diagnostics, .model, .rng, .guard) and stays
#: reachable here as an attribute (Draw, LAYOUTS, Activation, InitReport, ...), but is
#: not part of this list.
__all__ = [
    "FanSpec",
    "Fans",
    "VarianceScaling",
    "activation",
    "compare",
    "diagnose",
    "diagnostics",
    "fans",
    "gain",
    "init",
    "initialize",
    "invariant_init",
    "jax",
    "layer_graph",
    "lsuv",
    "model",
    "numpy",
    "sweep",
    "theory",
]

_LAZY = {"init", "numpy", "jax", "model", "theory", "diagnostics", "rng", "guard"}
# Names whose home imports torch: resolved on first access.
_LAZY_ATTRS = {
    "initialize": "model",
    "layer_graph": "model",
    "InitReport": "model",
    "LayerInfo": "model",
    "LayerGraph": "model",
    "lsuv": "model",
    "mup": "model",
    "coord_check": "diagnostics",
    "diagnose": "diagnostics",
    "compare": "diagnostics",
    "invariant_init": "guard",
    "sweep": "_sweep",
}


def __getattr__(name: str) -> Any:
    # Submodules that import torch / jax load on first access (PEP 562).
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_ATTRS:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_ATTRS[name]}"), name)
    raise AttributeError(f"module 'initscope' has no attribute {name!r}")
