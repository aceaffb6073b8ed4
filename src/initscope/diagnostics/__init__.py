"""Diagnostics: measure per-layer signal propagation and say what is wrong."""

from ._compare import Comparison as Comparison
from ._compare import compare as compare
from ._diagnose import Diagnosis as Diagnosis
from ._diagnose import LayerStats as LayerStats
from ._diagnose import diagnose as diagnose
from .monitor import Monitor as Monitor
from .spectrum import JacobianSpectrum as JacobianSpectrum
from .spectrum import jacobian_spectrum as jacobian_spectrum
from .verdicts import Verdict as Verdict

__all__ = [
    "Comparison",
    "Diagnosis",
    "JacobianSpectrum",
    "LayerStats",
    "Monitor",
    "Verdict",
    "compare",
    "diagnose",
    "jacobian_spectrum",
]
