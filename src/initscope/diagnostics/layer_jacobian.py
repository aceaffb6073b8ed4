"""Singular values of each layer's Jacobian in a chain: Glorot & Bengio's measure.

Glorot & Bengio (2010, sec. 4.2.1) look at J_i = d z^{i+1} / d z^i, the Jacobian from
one hidden layer's activations to the next, and report its mean singular value at
initialization: about 0.8 with the normalized (Xavier) init, 0.5 with the standard
U[-1/sqrt(n), 1/sqrt(n)], for tanh networks; values near 1 mean the layer passes
signals (and gradients) on with their size kept.

For a ``nn.Sequential`` chain, the hidden layers are the outputs of its parameter-free
modules (the nonlinearities); each J_i is computed exactly, by autograd, for a few
inputs, and its singular values by SVD (the matrices are width x width).

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
>>> [r.layer for r in layer_jacobian_singular_values(net, torch.randn(16, 32), samples=2)]
['3']
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ._linalg import svdvals


@dataclass(frozen=True)
class LayerJacobian:
    """Singular values of J = d(output of ``layer``) / d(output of ``previous``),
    pooled over the sampled inputs."""

    layer: str
    previous: str
    mean: float
    std: float
    min: float
    max: float
    samples: int


def layer_jacobian_singular_values(model: nn.Sequential, inputs: torch.Tensor, *,
                                   samples: int = 8) -> list[LayerJacobian]:
    """Per hidden-to-hidden transition of a ``nn.Sequential``, the singular values of its
    Jacobian at ``samples`` rows of ``inputs`` (see the module docstring)."""
    if not isinstance(model, nn.Sequential):
        raise TypeError("layer_jacobian_singular_values needs an nn.Sequential chain; got "
                        f"{type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        raise ValueError("inputs must be a batch: a tensor with a leading batch dimension")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive int; got {samples!r}")
    hidden = [i for i, m in enumerate(model)
              if next(m.parameters(), None) is None and not isinstance(m, nn.Flatten)]
    if len(hidden) < 2:
        raise ValueError("the chain needs at least two parameter-free modules (nonlinearities) "
                         "to have a hidden-to-hidden Jacobian")
    rows = inputs[:samples].detach()
    with torch.no_grad():
        states = {}
        h = rows
        for i, m in enumerate(model):
            h = m(h)
            states[i] = h
    out = []
    for a, b in itertools.pairwise(hidden):
        segment = model[a + 1:b + 1]
        values = []
        for s in range(rows.shape[0]):
            x = states[a][s].reshape(-1)
            shape = states[a][s].shape

            def f(v: torch.Tensor, seg: nn.Module = segment,
                  shape: torch.Size = shape) -> torch.Tensor:
                out: torch.Tensor = seg(v.reshape(1, *shape)).reshape(-1)
                return out

            jac = torch.autograd.functional.jacobian(  # type: ignore[no-untyped-call]
                f, x, vectorize=True)
            values.append(_svdvals(jac[None])[0])
        sv = torch.cat(values)
        out.append(LayerJacobian(str(b), str(a), float(sv.mean()), float(sv.std()),
                                 float(sv.min()), float(sv.max()), rows.shape[0]))
    return out


def linear_jacobian_singular_values(pre: torch.Tensor, weight: torch.Tensor,
                                    fn: Callable[[torch.Tensor], torch.Tensor] | None,
                                    ) -> torch.Tensor:
    """Singular values of J = diag(phi'(s)) W, the Jacobian of a linear layer followed by
    the elementwise nonlinearity ``fn`` (None: identity) with respect to the layer's
    input, at each row s of ``pre`` (samples x units, the layer's pre-activations):
    Glorot & Bengio's J_i when the input is the previous layer's activation.
    Returns a (samples, min(out, in)) tensor."""
    w = weight.detach().float()
    if fn is None:
        slope = torch.ones_like(pre, dtype=torch.float32)
    else:
        x = pre.detach().float().requires_grad_(True)
        with torch.enable_grad():
            (slope,) = torch.autograd.grad(fn(x).sum(), x)
    return _svdvals(slope[:, :, None] * w[None])


def _svdvals(batch: torch.Tensor) -> torch.Tensor:
    """Singular values of each matrix (float64, robust: :func:`._linalg.svdvals`); NaN
    for a matrix that holds NaN or inf."""
    k = min(batch.shape[-2:])
    rows = [torch.from_numpy(v.copy()) if v is not None
            else torch.full((k,), torch.nan, dtype=torch.float64)
            for v in svdvals(batch)]
    return torch.stack(rows) if rows else torch.empty(0, k, dtype=torch.float64)
