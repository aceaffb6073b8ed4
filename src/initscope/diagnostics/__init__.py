"""Diagnostics: measure per-layer signal propagation and say what is wrong."""

from ._diagnose import Diagnosis as Diagnosis
from ._diagnose import LayerStats as LayerStats
from ._diagnose import diagnose as diagnose
from .verdicts import Verdict as Verdict

__all__ = ["Diagnosis", "LayerStats", "Verdict", "diagnose"]
