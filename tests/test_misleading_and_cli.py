"""Issue 14, items 3 and 4: gain() refuses what has no gain, the theory refuses what it
cannot mean and says when a critical point is degenerate; the command line tells a
user's mistake (one line, exit 2, before any long run) from initscope's own failure
(traceback, exit 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import initscope
from initscope.cli import main
from initscope.theory import meanfield as mf

# --- gain() ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [nn.Softmax(-1), nn.Softmax(0), nn.LayerNorm(7),
                                lambda x: x - x.mean(), lambda x: x / x.norm()])
def test_gain_refuses_functions_that_are_not_elementwise(fn):
    with pytest.raises(ValueError, match="not elementwise"):
        initscope.gain(fn)


def test_gain_refuses_a_numpy_callable_that_mixes_values():
    with pytest.raises(ValueError, match="not elementwise"):
        initscope.gain(lambda x: np.exp(x) / np.exp(x).sum())


@pytest.mark.parametrize("fn", [lambda x: torch.exp(x * x), lambda x: torch.exp(x * x / 4),
                                lambda x: np.exp(x**2)])
def test_gain_refuses_divergent_second_moments(fn):
    with pytest.raises(ValueError, match=r"E\[phi\(z\)\^2\] = inf"):
        initscope.gain(fn)


def test_gain_of_fast_growing_but_finite_functions_still_works():
    # E[exp(2z)^2] = e^8: finite, so the gain is e^-4
    assert initscope.gain(lambda x: torch.exp(2 * x)) == pytest.approx(math.exp(-4), rel=1e-6)


def test_gain_of_parametric_modules():
    prelu = nn.PReLU(init=0.25)
    assert initscope.gain(prelu) == pytest.approx(math.sqrt(2 / (1 + 0.25**2)), rel=1e-9)
    with pytest.raises(ValueError, match="PReLU with 8 slopes"):
        initscope.gain(nn.PReLU(8))

    class Scaled(nn.Module):  # a float32 parameter inside a custom activation
        def __init__(self) -> None:
            super().__init__()
            self.alpha = nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return torch.tanh(self.alpha * x)

    expected = initscope.gain(lambda x: np.tanh(2 * x))
    assert initscope.gain(Scaled()) == pytest.approx(expected, rel=1e-6)


# --- theory ---------------------------------------------------------------------------------

def test_relu_with_a_bias_has_a_degenerate_critical_point():
    with pytest.raises(ValueError, match=r"degenerate at sigma_b2=0\.1"):
        mf.critical_sigma_w2("relu", 0.1)
    with pytest.raises(ValueError, match="degenerate"):
        mf.critical_sigma_w2("leaky_relu", 0.05)
    assert mf.critical_sigma_w2("relu", 0.0) == pytest.approx(2.0, rel=1e-8)
    assert mf.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.7610, abs=1e-3)


@pytest.mark.parametrize("call, match", [
    (lambda: mf.q_map("tanh", math.nan, 0.0, 1.0), "sigma_w2"),
    (lambda: mf.q_map("tanh", 1.0, 0.0, -1.0), "q must be a non-negative"),
    (lambda: mf.q_star("tanh", 1.5, q0=-1.0), "q0 must be a positive"),
    (lambda: mf.q_star("tanh", 1.5, q0=math.nan), "q0 must be a positive"),
    (lambda: mf.c_map("tanh", 1.5, 0.0, 1.5), r"in \[-1, 1\]"),
    (lambda: mf.c_map("tanh", 1.5, 0.0, math.nan), r"in \[-1, 1\]"),
    (lambda: mf.c_star("tanh", 2.0, 0.01, c0=2.0), r"c0 must lie in \[-1, 1\]"),
    (lambda: mf.chi_c("tanh", 1.5, 0.01, 0.5, h=0.0), r"h \(the difference step\)"),
    (lambda: mf.chi_c("tanh", 1.5, 0.01, 1.2), r"in \[-1, 1\]"),
    (lambda: mf.variance_trajectory("tanh", 1.5, 0.0, -1), "depth must be an int >= 0"),
    (lambda: mf.gradient_trajectory("tanh", 1.5, 0.0, 2.5), "depth must be an int >= 0"),
    (lambda: mf.variance_trajectory("tanh", 1.5, 0.0, 3, q0=-2.0), "q0 must be a non-negative"),
    (lambda: mf.critical_sigma_w2("tanh", math.nan), "sigma_b2"),
    (lambda: mf.chi1_grid("tanh", [1.0, math.nan], [0.0]), "all finite"),
])
def test_theory_functions_refuse_meaningless_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_cli_theory_says_when_the_critical_point_is_degenerate(tmp_path, capsys):
    assert main(["theory", "relu", "--out", str(tmp_path / "p.png"), "--resolution", "8"]) == 0
    assert "critical point is degenerate" in capsys.readouterr().out
    assert main(["theory", "relu", "--sigma-b2", "0.1", "--out", str(tmp_path / "q.png")]) == 2
    err = capsys.readouterr().err
    assert "degenerate" in err and err.count("\n") == 1
    assert main(["theory", "tanh", "--sigma-b2", "0.05", "--out", str(tmp_path / "t.png"),
                 "--resolution", "8"]) == 0
    assert "degenerate" not in capsys.readouterr().out


# --- the command line -------------------------------------------------------------------------

def _one_line_error(capsys, *words: str) -> None:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("argv, words", [
    (["diagnose", "tests.cli_targets:raises", "--input-shape", "16"],
     ["raised while building", "the user's factory is broken"]),
    (["diagnose", "tests.cli_targets:not_a_module", "--input-shape", "16"],
     ["not a torch.nn.Module"]),
    (["diagnose", "tests.cli_target_import_fails:f", "--input-shape", "16"],
     ["cannot import", "NameError"]),
    (["diagnose", "tests.cli_targets:mlp", "--input-shape", "3,32,32"],
     ["does not take input of shape (64, 3, 32, 32)"]),
    (["diagnose", "tests.cli_targets:mlp", "--input-shape", "16", "--jacobian-samples", "-1"],
     ["--jacobian-samples must be >= 0"]),
])
def test_diagnose_user_errors_are_one_line_and_exit_2(capsys, argv, words):
    assert main(argv) == 2
    _one_line_error(capsys, *words)


@pytest.mark.parametrize("argv", [
    ["diagnose", "tests.cli_targets:mlp", "--input-shape", ""],
    ["diagnose", "tests.cli_targets:mlp", "--input-shape", "16,-3"],
    ["diagnose", "tests.cli_targets:mlp", "--input-shape", "16", "--batch", "0"],
    ["diagnose", "tests.cli_targets:mlp", "--input-shape", "16", "--batch", "-4"],
    ["demo", "--depth", "0"],
])
def test_bad_numbers_are_refused_by_the_parser_with_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "expected" in capsys.readouterr().err


def test_unwritable_paths_are_refused_before_the_run(tmp_path, capsys, monkeypatch):
    import initscope.diagnostics as diagnostics

    def must_not_run(*args, **kwargs):
        raise AssertionError("the diagnosis ran before the paths were checked")

    monkeypatch.setattr(diagnostics, "diagnose", must_not_run)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for flag in ("--out", "--json"):  # a directory cannot be made under a file
        assert main(["diagnose", "tests.cli_targets:mlp", "--input-shape", "16",
                     flag, str(blocker / "sub" / "r.html")]) == 2
        _one_line_error(capsys, flag, "cannot be written")
    assert main(["diagnose", "tests.cli_targets:mlp", "--input-shape", "16",
                 "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "is a directory")


def test_reproduce_out_is_checked_before_the_run(tmp_path, capsys, monkeypatch):
    from initscope import reproduce

    def must_not_run(*args, **kwargs):
        raise AssertionError("the reproduction ran before --out was checked")

    monkeypatch.setattr(reproduce, "get", lambda name: type("M", (), {"run": must_not_run}))
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["reproduce", "glorot2010", "--smoke", "--out", str(blocker / "sub")]) == 2
    _one_line_error(capsys, "--out", "cannot be created or written")


def test_an_unexpected_error_is_exit_3_with_its_traceback(capsys, monkeypatch):
    import initscope.diagnostics as diagnostics

    def bug(*args, **kwargs):
        return {}["missing key"]  # a KeyError deep in the library: initscope's bug

    monkeypatch.setattr(diagnostics, "diagnose", bug)
    assert main(["diagnose", "tests.cli_targets:mlp", "--input-shape", "16"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError" in err and "internal error" in err


def test_the_input_check_leaves_batch_norm_statistics_alone(monkeypatch):
    """The forward that checks the input shape runs in train mode: the model diagnose
    receives still has its fresh running statistics."""
    import initscope.diagnostics as diagnostics

    seen = {}

    def record(model, x, **kwargs):
        seen.update({k: v.clone() for k, v in model.state_dict().items()})
        raise SystemExit(0)

    monkeypatch.setattr(diagnostics, "diagnose", record)
    with pytest.raises(SystemExit):
        main(["diagnose", "tests.cli_targets:bn_mlp", "--input-shape", "16"])
    assert int(seen["1.num_batches_tracked"]) == 0
    assert torch.equal(seen["1.running_mean"], torch.zeros(16))
    assert torch.equal(seen["1.running_var"], torch.ones(16))
