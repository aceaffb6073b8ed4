"""Whole-model initialization: the layer graph, policies, atomic apply."""

from ..rng import canonical_name as canonical_name
from ._lsuv import LSUVRecord as LSUVRecord
from ._lsuv import LSUVReport as LSUVReport
from ._lsuv import lsuv as lsuv
from ._lsuv import lsuv_dataloader as lsuv_dataloader
from ._mup import MupEntry as MupEntry
from ._mup import MupPlan as MupPlan
from ._mup import mup as mup
from ._mup import mup_from_state_dict as mup_from_state_dict
from .apply import InitReport as InitReport
from .apply import ParamRecord as ParamRecord
from .apply import initialize as initialize
from .graph import LayerGraph as LayerGraph
from .graph import LayerInfo as LayerInfo
from .graph import layer_graph as layer_graph
from .policies import SCHEMES as SCHEMES
from .policies import ParamInit as ParamInit
from .policies import Policy as Policy

__all__ = [
    "SCHEMES",
    "InitReport",
    "LSUVRecord",
    "LSUVReport",
    "LayerGraph",
    "LayerInfo",
    "MupEntry",
    "MupPlan",
    "ParamInit",
    "ParamRecord",
    "Policy",
    "canonical_name",
    "initialize",
    "layer_graph",
    "lsuv",
    "lsuv_dataloader",
    "mup",
    "mup_from_state_dict",
]
