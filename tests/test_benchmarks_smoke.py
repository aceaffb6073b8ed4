"""The benchmark scripts still run (smoke mode: small sizes, nothing written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("script", ["bench_init.py", "bench_model.py", "bench_distributed.py",
                                    "bench_diagnose.py", "bench_real_models.py"])
def test_benchmark_smoke(script):
    before = {p: p.read_bytes() for p in (ROOT / "benchmarks" / "results").glob("*.md")}
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip()
    after = {p: p.read_bytes() for p in (ROOT / "benchmarks" / "results").glob("*.md")}
    assert before == after  # a smoke run never replaces a published table
