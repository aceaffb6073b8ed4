"""Singular values of a model's input-output Jacobian without forming the Jacobian.

Dynamical isometry (Saxe et al. 2014; Pennington et al. 2017): a network trains fast when
the singular values of J = d output / d input concentrate near 1. Here, for one input x,
J^T J is only ever applied to vectors: J v by the double-backward trick (the gradient,
with respect to u, of (J^T u) . v), J^T w by one backward pass. Lanczos with full
reorthogonalization on J^T J gives the extreme singular values after a few dozen products;
Hutchinson's estimator gives the mean squared singular value, tr(J^T J) / n, the
quantity mean-field theory predicts (``theory.jacobian_mean_squared_singular_value``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ._linalg import eigvalsh


@dataclass(frozen=True)
class JacobianSpectrum:
    """Extreme singular values (Lanczos Ritz values) and the mean squared singular value.
    ``finite`` is False when a product with the Jacobian held NaN or inf (in the input,
    a weight, or by overflow): every value is then NaN, "not measurable"."""

    top: list[float]
    bottom: list[float]
    mean_squared: float
    input_dim: int
    output_dim: int
    steps: int
    finite: bool = True


def _operators(model: nn.Module, x: torch.Tensor) -> tuple[
        Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor], int]:
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = model(x.unsqueeze(0)).squeeze(0)
    if not isinstance(y, torch.Tensor) or not y.is_floating_point():
        raise ValueError("jacobian_spectrum needs a model that returns one float tensor")
    out_dim = y.numel()

    def jt(w: torch.Tensor) -> torch.Tensor:  # J^T w
        (g,) = torch.autograd.grad(y, x, w.view_as(y), retain_graph=True)
        return g.reshape(-1)

    def j(v: torch.Tensor) -> torch.Tensor:  # J v, as d/du of (J^T u) . v
        u = torch.zeros_like(y, requires_grad=True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(y, x, u, retain_graph=True, create_graph=True)
            (jv,) = torch.autograd.grad(g.reshape(-1) @ v, u)
        return jv.reshape(-1)

    return j, jt, out_dim


def jacobian_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    *,
    steps: int = 40,
    probes: int = 8,
    k: int = 3,
    seed: int = 0,
) -> JacobianSpectrum:
    """Extreme singular values and mean squared singular value of d model(x) / dx.

    Args:
        model: maps a batch (1, *x.shape) to a batch of outputs.
        x: one input (no batch axis).
        steps: Lanczos steps (capped at the input dimension): extreme values converge
            first, typically to 1e-6 well before ``steps`` reaches the dimension.
        probes: Gaussian probes for Hutchinson's estimate of tr(J^T J) / n.
        k: how many of the largest and smallest singular values to return.

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> q, _ = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))
    >>> lin = torch.nn.Linear(16, 16, bias=False).double()
    >>> _ = lin.weight.data.copy_(q)
    >>> s = jacobian_spectrum(lin, torch.randn(16, generator=g, dtype=torch.float64), steps=16)
    >>> round(s.top[0], 6), round(s.bottom[0], 6)   # orthogonal: perfectly isometric
    (1.0, 1.0)
    """
    if steps < 1 or probes < 1 or k < 1:
        raise ValueError(f"steps, probes and k must be >= 1; got {steps}, {probes}, {k}")
    j, jt, out_dim = _operators(model, x)
    n = x.numel()
    m = min(steps, n)
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.float64
    q = torch.randn(n, generator=gen, dtype=dtype)
    q /= q.norm()
    basis = [q]
    alphas: list[float] = []
    betas: list[float] = []
    for i in range(m):
        w = jt(j(basis[-1].to(x.dtype))).to(dtype)
        if not bool(torch.isfinite(w).all()):
            nan = [math.nan] * k
            return JacobianSpectrum(nan, nan, math.nan, n, out_dim, i + 1, finite=False)
        alpha = float(w @ basis[-1])
        alphas.append(alpha)
        for b in basis:  # full reorthogonalization (twice is enough)
            w -= (w @ b) * b
        for b in basis:
            w -= (w @ b) * b
        beta = float(w.norm())
        if i == m - 1 or beta < 1e-10:
            break
        betas.append(beta)
        basis.append(w / beta)
    t = torch.diag(torch.tensor(alphas, dtype=dtype))
    if betas:
        off = torch.tensor(betas[: len(alphas) - 1], dtype=dtype)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    (values,) = eigvalsh(t[None])  # float64, with fallbacks: never one LAPACK path
    if values is None:
        nan = [math.nan] * k
        return JacobianSpectrum(nan, nan, math.nan, n, out_dim, len(alphas), finite=False)
    ritz = np.sqrt(np.clip(values, 0.0, None)).tolist()
    mean_sq = 0.0
    for _ in range(probes):
        v = torch.randn(n, generator=gen, dtype=dtype)
        mean_sq += float(j(v.to(x.dtype)).double().pow(2).sum()) / n
    return JacobianSpectrum(
        top=sorted(ritz, reverse=True)[:k],
        bottom=sorted(ritz)[:k],
        mean_squared=mean_sq / probes,
        input_dim=n,
        output_dim=out_dim,
        steps=len(alphas),
    )


def condition_number(s: JacobianSpectrum) -> float:
    """Largest over smallest singular value (inf when the smallest is 0)."""
    return s.top[0] / s.bottom[0] if s.bottom[0] > 0 else math.inf
