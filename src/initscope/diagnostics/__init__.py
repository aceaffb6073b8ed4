"""Diagnostics: measure per-layer signal propagation and say what is wrong."""

from ._diagnose import Diagnosis as Diagnosis
from ._diagnose import LayerStats as LayerStats
from ._diagnose import diagnose as diagnose
from .spectrum import JacobianSpectrum as JacobianSpectrum
from .spectrum import jacobian_spectrum as jacobian_spectrum
from .verdicts import Verdict as Verdict

__all__ = ["Diagnosis", "JacobianSpectrum", "LayerStats", "Verdict", "diagnose",
           "jacobian_spectrum"]
