"""Reproductions in smoke mode: each claim measured, results written."""

from __future__ import annotations

import pytest

from initscope.cli import main
from initscope.reproduce import REPRODUCTIONS, get


def test_symmetry_smoke(tmp_path):
    mod = get("symmetry")
    result = mod.run(mod.Config.smoke(), out=tmp_path)
    by = {r["scheme"]: r for r in result.rows}
    for scheme in ("zeros", "ones", "constant(0.5)"):
        assert by[scheme]["min_identical"] == 1.0  # every hidden unit a copy of another
    assert by["xavier"]["min_identical"] == 0.0
    assert by["zeros"]["test_accuracy"] < 0.2  # chance is 1/9
    assert by["xavier"]["test_accuracy"] > by["ones"]["test_accuracy"]
    assert (tmp_path / "results.csv").read_text().startswith("scheme,test_accuracy")
    assert "| claim | paper | ours |" in (tmp_path / "results.md").read_text()


def test_cli_reproduce(tmp_path, capsys):
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in REPRODUCTIONS)
    assert main(["reproduce", "symmetry", "--smoke", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").exists()
    assert main(["reproduce", "nope"]) == 2
    assert "unknown reproduction 'nope'; available: symmetry" in capsys.readouterr().err


def test_constant_scheme():
    import torch

    import initscope

    lin = torch.nn.Linear(3, 2)
    initscope.initialize(lin, "constant(0.25)", seed=0)
    assert torch.all(lin.weight == 0.25) and torch.all(lin.bias == 0.25)
    with pytest.raises(ValueError, match=r"'constant\(v\)'"):
        initscope.initialize(lin, "constantt(1)")


def test_he2015_smoke():
    mod = get("he2015")
    result = mod.run(mod.Config.smoke())
    by = {r["scheme"]: r for r in result.rows}
    # Xavier halves the ReLU signal per layer: 1/2^29 over 30 layers, to within 10x
    assert 1.9e-10 < by["xavier"]["signal_last_over_first"] < 1.9e-8
    assert 0.1 < by["he"]["signal_last_over_first"] < 10  # He keeps it (finite-width drift)
    assert abs(by["xavier"]["loss_end"] - by["xavier"]["loss_start"]) < 0.01  # stalls
    assert by["he"]["loss_end"] < by["he"]["loss_start"] - 0.05  # trains


def test_saturation_smoke():
    mod = get("saturation")
    result = mod.run(mod.Config.smoke())
    by = {(r["activation"], r["scheme"]): r for r in result.rows}
    for act in ("sigmoid", "tanh"):
        assert by[act, "uniform(0,1)"]["max_saturated"] == 1.0
        assert by[act, "uniform(-1,1)"]["max_saturated"] > 0.5
        assert by[act, "xavier"]["max_saturated"] < 0.01
    assert len(result.claims) == 3
