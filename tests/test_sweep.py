"""Experiment grids: serial, process pool and Ray Tune give the same table."""

from __future__ import annotations

import importlib.util

import pytest

from initscope._sweep import grid_points, sweep
from tests.sweep_trials import fails, signal_at_depth

GRID = {"scheme": ["xavier", "glorot_standard"], "depth": [3, 6], "seed": [0, 1]}


def test_grid_points_vary_the_first_key_slowest():
    pts = grid_points({"a": [1, 2], "b": ["x", "y", "z"]})
    assert pts[:3] == [{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"}]
    assert len(pts) == 6


@pytest.fixture(scope="module")
def serial_table():
    return sweep(signal_at_depth, GRID, backend="serial")


def test_serial_table_has_one_row_per_layer_and_the_known_result(serial_table):
    t = serial_table
    assert list(t.columns) == ["scheme", "depth", "seed", "layer", "variance"]
    assert len(t) == 2 * (3 + 6) * 2
    # Glorot & Bengio: "standard" U[-1/sqrt(n), 1/sqrt(n)] shrinks tanh activations by
    # about 1/3 per layer; normalized init (gain 1) decays slowly (mean-field: ~1/layer)
    last = t[(t.depth == 6) & (t.layer == 6)].groupby("scheme").variance.mean()
    assert last["glorot_standard"] < last["xavier"] / 30


def test_process_pool_gives_the_same_table(serial_table):
    local = sweep(signal_at_depth, GRID, backend="local", workers=2)
    assert local.equals(serial_table)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
# Ray starts its processes by fork+exec; JAX, imported by earlier tests in this process,
# warns at every fork (it cannot know an exec follows).
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_ray_tune_gives_the_same_table(serial_table, capfd):
    table = sweep(signal_at_depth, GRID, backend="ray", ray_init={"num_cpus": 2})
    assert table.equals(serial_table)
    out, err = capfd.readouterr()  # a successful sweep is quiet about its results
    assert "Could not fetch metrics" not in out + err
    assert "FileNotFoundError" not in out + err


def test_errors_are_clear():
    with pytest.raises(ValueError, match="backend must be one of serial, local, ray"):
        sweep(signal_at_depth, GRID, backend="dask")
    with pytest.raises(ValueError, match="non-empty list"):
        sweep(signal_at_depth, {"scheme": []})
    with pytest.raises(ValueError, match="non-empty mapping"):
        sweep(signal_at_depth, {})
    with pytest.raises(TypeError, match="must return a dict"):
        sweep(lambda x: x, {"x": [1]}, backend="serial")
    with pytest.raises(ValueError, match="reuse grid names"):
        sweep(lambda x: {"x": 2}, {"x": [1]}, backend="serial")
    with pytest.raises(RuntimeError, match="failed on purpose"):
        sweep(fails, {"x": [1, 2]}, backend="local", workers=1)
