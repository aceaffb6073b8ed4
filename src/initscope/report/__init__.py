"""Rendering: matplotlib figures (imported lazily, only here)."""
