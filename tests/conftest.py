"""Shared test settings.

INITSCOPE_SMOKE=1 (set by .ci/run) shrinks tests marked ``slow`` to a smoke size.
"""

from __future__ import annotations

import os

import pytest
import torch

SMOKE = os.environ.get("INITSCOPE_SMOKE") == "1"


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)

#: A module that fails on import on purpose (the CLI's user-error tests import it).
collect_ignore = ["cli_target_import_fails.py"]


def _hypothesis_profiles() -> None:
    """Property tests are seeded (derandomized: the same examples on every run and
    machine), keep no example database, and run fewer examples in CI's smoke mode."""
    from hypothesis import HealthCheck, settings

    common = {"derandomize": True, "database": None, "deadline": None,
              "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
    settings.register_profile("smoke", max_examples=100, **common)
    settings.register_profile("full", max_examples=300, **common)
    settings.load_profile("smoke" if SMOKE else "full")


_hypothesis_profiles()
