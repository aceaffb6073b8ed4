"""Every distribution-producing initializer, in all three backends, across shapes and
dtypes: KS test and variance confidence interval against the paper's distribution
(tests/oracles/distributions.py documents the tolerances and false-positive rates)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import stats

from initscope import init
from initscope import numpy as inp
from tests.oracles.distributions import (
    check_sample,
    forward_gain,
    normal_std,
    torch_fans,
    truncated_std,
    uniform_std,
)

SHAPES = [(256, 512), (64, 32, 3, 3), (48, 24, 5), (8, 16, 4, 4, 4)]
Oracle = Callable[[int, int], stats.rv_continuous]  # (fan_in, fan_out) -> distribution


def _avg(fi: int, fo: int) -> float:
    return (fi + fo) / 2


LEAKY = math.sqrt(2 / (1 + 0.1**2))

# id -> (torch initializer, oracle)
TORCH_CASES: dict[str, tuple[Callable[[torch.Tensor, torch.Generator], object], Oracle]] = {
    "uniform_": (lambda t, g: init.uniform_(t, -0.5, 1.5, g),
                 lambda fi, fo: stats.uniform(loc=-0.5, scale=2.0)),
    "normal_": (lambda t, g: init.normal_(t, 0.3, 2.0, g),
                lambda fi, fo: stats.norm(loc=0.3, scale=2.0)),
    "trunc_normal_": (lambda t, g: init.trunc_normal_(t, generator=g),
                      lambda fi, fo: stats.truncnorm(-2, 2)),
    "trunc_normal_shifted": (lambda t, g: init.trunc_normal_(t, 0.1, 0.7, -1.0, 0.9, g),
                             lambda fi, fo: stats.truncnorm((-1.1) / 0.7, 0.8 / 0.7,
                                                            loc=0.1, scale=0.7)),
    "trunc_normal_far_tail": (lambda t, g: init.trunc_normal_(t, 0.0, 1.0, 2.0, 3.0, g),
                              lambda fi, fo: stats.truncnorm(2.0, 3.0)),
    "xavier_uniform_": (lambda t, g: init.xavier_uniform_(t, 1.7, g),
                        lambda fi, fo: uniform_std(1.7 * math.sqrt(1 / _avg(fi, fo)))),
    "xavier_normal_": (lambda t, g: init.xavier_normal_(t, 0.5, g),
                       lambda fi, fo: normal_std(0.5 * math.sqrt(1 / _avg(fi, fo)))),
    "xavier_uniform_tanh": (lambda t, g: init.xavier_uniform_(t, "tanh", g),
                            lambda fi, fo: uniform_std(forward_gain("tanh") / _avg(fi, fo) ** .5)),
    "kaiming_uniform_": (lambda t, g: init.kaiming_uniform_(t, 0.1, "fan_out", generator=g),
                         lambda fi, fo: uniform_std(LEAKY / math.sqrt(fo))),
    "kaiming_normal_": (lambda t, g: init.kaiming_normal_(t, nonlinearity="relu", generator=g),
                        lambda fi, fo: normal_std(math.sqrt(2 / fi))),
    "kaiming_normal_tanh": (lambda t, g: init.kaiming_normal_(t, nonlinearity="tanh",
                                                              generator=g),
                            lambda fi, fo: normal_std(5 / 3 / math.sqrt(fi))),
    "kaiming_normal_gelu": (lambda t, g: init.kaiming_normal_(t, nonlinearity="gelu",
                                                              generator=g),
                            lambda fi, fo: normal_std(forward_gain("gelu") / math.sqrt(fi))),
    "he_uniform_": (lambda t, g: init.he_uniform_(t, "tanh", g),
                    lambda fi, fo: uniform_std(forward_gain("tanh") / math.sqrt(fi))),
    "he_normal_": (lambda t, g: init.he_normal_(t, "silu", g, mode="fan_out"),
                   lambda fi, fo: normal_std(forward_gain("silu") / math.sqrt(fo))),
    "lecun_uniform_": (lambda t, g: init.lecun_uniform_(t, g),
                       lambda fi, fo: uniform_std(math.sqrt(1 / fi))),
    "lecun_normal_": (lambda t, g: init.lecun_normal_(t, g),
                      lambda fi, fo: normal_std(math.sqrt(1 / fi))),
    "glorot_standard_": (lambda t, g: init.glorot_standard_(t, g),
                         lambda fi, fo: stats.uniform(loc=-fi**-.5, scale=2 * fi**-.5)),
    "torch_default_": (lambda t, g: init.torch_default_(t, g),
                       lambda fi, fo: stats.uniform(loc=-fi**-.5, scale=2 * fi**-.5)),
    "variance_scaling_trunc": (lambda t, g: init.variance_scaling_(t, 2.0, "fan_avg",
                                                                   generator=g),
                               lambda fi, fo: truncated_std(math.sqrt(2 / _avg(fi, fo)))),
    "variance_scaling_uniform": (lambda t, g: init.variance_scaling_(t, 0.5, "fan_in",
                                                                     "uniform", g),
                                 lambda fi, fo: uniform_std(math.sqrt(0.5 / fi))),
    "variance_scaling_normal": (lambda t, g: init.variance_scaling_(t, 3.0, "fan_out",
                                                                    "normal", g),
                                lambda fi, fo: normal_std(math.sqrt(3.0 / fo))),
}

TORCH_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_torch_initializer_distribution(case, shape, dtype):
    fn, oracle = TORCH_CASES[case]
    t = torch.empty(shape, dtype=dtype)
    assert fn(t, torch.Generator().manual_seed(11)) is t
    assert t.dtype == dtype and tuple(t.shape) == shape
    grid = dtype if dtype in (torch.float16, torch.bfloat16) else None
    check_sample(t.double().numpy(), oracle(*torch_fans(shape)), grid)


# (numpy function, jax factory, oracle); both shells take the torch layout here.
SHELL_CASES: dict[str, tuple[Callable[..., np.ndarray], Callable[..., object], Oracle]] = {
    "xavier_uniform": (lambda r, s, d: inp.xavier_uniform(r, s, d, gain=1.7),
                       lambda ij: ij.xavier_uniform(1.7, fans="torch"),
                       lambda fi, fo: uniform_std(1.7 / _avg(fi, fo) ** .5)),
    "xavier_normal": (lambda r, s, d: inp.xavier_normal(r, s, d, gain="tanh"),
                      lambda ij: ij.xavier_normal("tanh", fans="torch"),
                      lambda fi, fo: normal_std(forward_gain("tanh") / _avg(fi, fo) ** .5)),
    "he_uniform": (lambda r, s, d: inp.he_uniform(r, s, d, activation="gelu"),
                   lambda ij: ij.he_uniform("gelu", fans="torch"),
                   lambda fi, fo: uniform_std(forward_gain("gelu") / fi**.5)),
    "he_normal": (lambda r, s, d: inp.he_normal(r, s, d, mode="fan_out"),
                  lambda ij: ij.he_normal(mode="fan_out", fans="torch"),
                  lambda fi, fo: normal_std(forward_gain("relu") / fo**.5)),
    "lecun_uniform": (lambda r, s, d: inp.lecun_uniform(r, s, d),
                      lambda ij: ij.lecun_uniform(fans="torch"),
                      lambda fi, fo: uniform_std(fi**-.5)),
    "lecun_normal": (lambda r, s, d: inp.lecun_normal(r, s, d),
                     lambda ij: ij.lecun_normal(fans="torch"),
                     lambda fi, fo: normal_std(fi**-.5)),
    "glorot_standard": (lambda r, s, d: inp.glorot_standard(r, s, d),
                        lambda ij: ij.glorot_standard(fans="torch"),
                        lambda fi, fo: stats.uniform(loc=-fi**-.5, scale=2 * fi**-.5)),
    "torch_default": (lambda r, s, d: inp.torch_default(r, s, d),
                      lambda ij: ij.torch_default(fans="torch"),
                      lambda fi, fo: stats.uniform(loc=-fi**-.5, scale=2 * fi**-.5)),
    "variance_scaling_trunc": (
        lambda r, s, d: inp.variance_scaling(r, s, d, scale=2.0, mode="fan_avg"),
        lambda ij: ij.variance_scaling(2.0, "fan_avg", fans="torch"),
        lambda fi, fo: truncated_std(math.sqrt(2 / _avg(fi, fo)))),
    "variance_scaling_uniform": (
        lambda r, s, d: inp.variance_scaling(r, s, d, scale=0.5, distribution="uniform"),
        lambda ij: ij.variance_scaling(0.5, distribution="uniform", fans="torch"),
        lambda fi, fo: uniform_std(math.sqrt(0.5 / fi))),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", sorted(SHELL_CASES))
def test_numpy_initializer_distribution(case, shape, dtype):
    fn, _, oracle = SHELL_CASES[case]
    w = fn(np.random.default_rng(5), shape, dtype)
    assert w.shape == shape and w.dtype == dtype
    check_sample(w, oracle(*torch_fans(shape)), torch.float16 if dtype == np.float16 else None)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("case", sorted(SHELL_CASES))
def test_jax_initializer_distribution(case, shape, dtype):
    jax = pytest.importorskip("jax")
    from initscope import jax as ijax

    _, factory, oracle = SHELL_CASES[case]
    w = factory(ijax)(jax.random.key(3), shape, getattr(jax.numpy, dtype))
    assert w.shape == shape and str(w.dtype) == dtype
    grid = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
    check_sample(np.asarray(w, dtype=np.float64), oracle(*torch_fans(shape)), grid)
