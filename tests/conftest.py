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
