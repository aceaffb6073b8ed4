"""The main job (demo), the command line, import laziness and the README example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from initscope._demo import DemoConfig, measure
from initscope.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_demo_verdicts_answer_the_seed_question():
    """The demo is compare() on the seed's schemes: diagnose's verdict vocabulary."""
    results = {(r.activation, r.scheme): r for r in measure(DemoConfig(batch=256))}
    for act in ("tanh", "relu"):
        assert results[act, "zeros"].verdict == "symmetry"
        assert results[act, "ones"].verdict == "symmetry"
        assert results[act, "glorot_standard"].verdict == "vanishing_forward"
        assert "gain_mismatch (warning)" in results[act, "glorot_standard"].verdicts
        assert results[act, "he_normal"].verdict == "healthy"
    assert results["tanh", "U[-1,1]"].verdict == "saturation"
    assert results["relu", "U[-1,1]"].verdict == "exploding_forward"
    assert results["relu", "xavier_uniform"].verdict == "vanishing_forward"  # 2^-10
    assert results["tanh", "xavier_uniform"].verdict == "healthy"
    # He keeps the ReLU forward signal within a factor 3 over 10 layers; Xavier halves it
    he, xa = results["relu", "he_normal"].act_var, results["relu", "xavier_uniform"].act_var
    assert 1 / 3 < he[-1] / he[0] < 3
    assert xa[-1] / xa[0] == pytest.approx(2.0**-9, rel=1.0)


def test_demo_cli_prints_tables_and_writes_json(tmp_path, capsys):
    out = tmp_path / "demo.json"
    assert main(["demo", "--depth", "4", "--width", "64", "--batch", "64",
                 "--activations", "tanh", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tanh: activation variance per layer" in text
    assert re.search(r"tanh zeros\s+symmetry", text)
    rows = json.loads(out.read_text())
    assert len(rows) == 4 * 8 and {"scheme", "layer", "act_var", "grad_var"} <= set(rows[0])


def test_cli_errors_are_clear(capsys):
    assert main(["demo", "--activations", "softmax"]) == 2
    assert "demo activation 'softmax' is not available" in capsys.readouterr().err
    assert main(["gain", "relux"]) == 2
    assert "unknown activation 'relux'" in capsys.readouterr().err


def test_cli_gain_and_fans(capsys):
    assert main(["gain", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "1.592537" in out and "1.666667" in out
    assert main(["fans", "32,64,3,3", "--layout", "torch_conv_transpose"]) == 0
    assert "Fans(fan_in=288, fan_out=576, receptive=9)" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "initscope", "fans", "64,32,3,3"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "Fans(fan_in=288, fan_out=576, receptive=9)"


def test_import_is_lazy():
    code = ("import sys, initscope; initscope.fans((3, 4)); "
            "print(sorted(m for m in ('torch', 'jax', 'scipy', 'matplotlib', 'rich') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_readme_starts_with_the_two_commands_and_its_example_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(\w*)\n(.*?)```", readme, flags=re.S)
    assert blocks[0] == ("sh", "make demo\nmake test\n")
    code = [body for lang, body in blocks if lang == "python"]
    assert code, "README has a python example"
    for body in code:
        exec(compile(body, "README.md", "exec"), {})
    assert "make test" in (ROOT / ".ci" / "run").read_text()
