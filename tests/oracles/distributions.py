"""Expected distributions of each initializer, written from the papers' formulas.

Fans come from torch's own helper (right for the plain torch layouts used here) and gains
from scipy quadrature of torch's activation functions, so nothing here calls initscope.

Statistical tests and their false-positive rates (per test, for a correct sampler):
- KS test against the exact CDF, rejected when p < KS_ALPHA = 1e-6;
- sample variance within Z = 5 standard errors of the true variance, the standard error
  being var * sqrt((excess_kurtosis + 2) / n) (two-sided normal tail at 5: 5.7e-7);
- sample mean within Z standard errors, std / sqrt(n).
With about 1,500 such checks in the suite, the chance that a correct implementation
fails any of them for some seed is below 0.3%; the seeds are fixed, so a run is
deterministic.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import torch
from scipy import integrate, stats

KS_ALPHA = 1e-6
Z = 5.0


def torch_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    fi, fo = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape, device="meta"))
    return int(fi), int(fo)


@cache
def forward_gain(name: str) -> float:
    fn = {
        "relu": torch.relu,
        "tanh": torch.tanh,
        "gelu": torch.nn.functional.gelu,
        "silu": torch.nn.functional.silu,
    }[name]

    def integrand(z: float) -> float:
        v = fn(torch.tensor(z, dtype=torch.float64)).item()
        return v * v * stats.norm.pdf(z)

    m = sum(integrate.quad(integrand, lo, hi, epsabs=1e-13)[0] for lo, hi in
            [(-np.inf, 0.0), (0.0, np.inf)])
    return 1.0 / math.sqrt(m)


def uniform_std(std: float) -> stats.rv_continuous:
    b = math.sqrt(3.0) * std
    return stats.uniform(loc=-b, scale=2 * b)


def normal_std(std: float) -> stats.rv_continuous:
    return stats.norm(scale=std)


def truncated_std(std: float) -> stats.rv_continuous:
    """Truncated at +-2 underlying std, with the *result's* std equal to ``std``."""
    s = std / stats.truncnorm.std(-2, 2)
    return stats.truncnorm(-2, 2, scale=s)


def _rounded_ks_pvalue(x: np.ndarray, dist: stats.rv_continuous, grid: torch.dtype) -> float:
    """KS test against ``dist`` rounded to nearest on the ``grid`` dtype's values.

    Half precision represents a distribution on a coarse grid (bf16 has 64 values in
    [2, 3)), so the continuous CDF is the wrong reference: the rounded variable's CDF at a
    representable v is F(midpoint of v and the next value up). The p-value of the
    continuous KS distribution is conservative for a discrete reference.
    """
    v, counts = np.unique(x, return_counts=True)
    t = torch.tensor(v, dtype=torch.float64).to(grid)
    up = torch.nextafter(t, torch.full_like(t, math.inf)).double().numpy()
    down = torch.nextafter(t, torch.full_like(t, -math.inf)).double().numpy()
    cdf_hi = dist.cdf((v + up) / 2)  # reference CDF at v (inclusive)
    cdf_lo = dist.cdf((v + down) / 2)  # reference CDF just below v
    n = x.size
    ecdf_hi = np.cumsum(counts) / n
    ecdf_lo = ecdf_hi - counts / n
    d = max(np.abs(ecdf_hi - cdf_hi).max(), np.abs(ecdf_lo - cdf_lo).max())
    return float(stats.kstwo.sf(d, n))


def check_sample(
    x: np.ndarray, dist: stats.rv_continuous, grid: torch.dtype | None = None
) -> None:
    """KS, variance CI and mean CI; raises AssertionError with the numbers.

    ``grid``: the half-precision dtype the values were rounded to, if any.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    mean, var = float(dist.mean()), float(dist.var())
    excess = float(dist.stats(moments="k"))
    p = stats.kstest(x, dist.cdf).pvalue if grid is None else _rounded_ks_pvalue(x, dist, grid)
    assert p > KS_ALPHA, f"KS p={p:.2e} (n={n})"
    se_var = var * math.sqrt((excess + 2.0) / n)
    assert abs(x.var() - var) <= Z * se_var, f"var {x.var():.6g} vs {var:.6g} (se {se_var:.2g})"
    se_mean = math.sqrt(var / n)
    assert abs(x.mean() - mean) <= Z * se_mean, f"mean {x.mean():.4g} vs {mean:.4g}"
