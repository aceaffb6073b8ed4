"""Diagnostics: measure per-layer signal propagation and say what is wrong."""

from ._compare import Comparison as Comparison
from ._compare import compare as compare
from ._coord_check import CoordCheck as CoordCheck
from ._coord_check import coord_check as coord_check
from ._diagnose import diagnose as diagnose
from .layer_jacobian import LayerJacobian as LayerJacobian
from .layer_jacobian import layer_jacobian_singular_values as layer_jacobian_singular_values
from .monitor import Monitor as Monitor
from .predict import LayerPrediction as LayerPrediction
from .predict import predict as predict
from .records import Diagnosis as Diagnosis
from .records import LayerStats as LayerStats
from .records import Verdict as Verdict
from .spectrum import JacobianSpectrum as JacobianSpectrum
from .spectrum import jacobian_spectrum as jacobian_spectrum

__all__ = [
    "Comparison",
    "CoordCheck",
    "Diagnosis",
    "JacobianSpectrum",
    "LayerJacobian",
    "LayerPrediction",
    "LayerStats",
    "Monitor",
    "Verdict",
    "compare",
    "coord_check",
    "diagnose",
    "jacobian_spectrum",
    "layer_jacobian_singular_values",
    "predict",
]
