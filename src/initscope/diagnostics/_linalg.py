"""Small decompositions that give an answer on any CPU, or say there is none.

Diagnostics decompose matrices built from the networks they exist for: degenerate ones,
whose Gram matrices are rounding noise, and broken ones, with NaN or inf. LAPACK's
float32 divide-and-conquer routines (ssyevd, sgesdd) can fail to converge on the first
on one CPU model and not on another, and fail on the second everywhere. Here every
decomposition runs in float64 on finite input, and a routine that does not converge is
followed by another path; a matrix no path decomposes, or one with a non-finite value,
gets None ("not measurable"), never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .._threads import one_torch_thread

__all__ = ["eigvalsh", "svdvals"]

_Solver = Callable[[np.ndarray], np.ndarray]


def _each(stack: np.ndarray, solvers: tuple[_Solver, ...]) -> list[np.ndarray | None]:
    out: list[np.ndarray | None] = []
    for m in stack:
        value = None
        if np.isfinite(m).all():
            for solve in solvers:
                try:
                    value = np.asarray(solve(m), dtype=np.float64)
                    break
                except (np.linalg.LinAlgError, ValueError):
                    continue
        out.append(value)
    return out


def _svd_ascending(m: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.svd(m, compute_uv=False))


def _svd_descending(m: np.ndarray) -> np.ndarray:
    return np.linalg.svd(m, compute_uv=False)


def _svd_via_gram(m: np.ndarray) -> np.ndarray:
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    ev = np.linalg.eigvalsh(0.5 * (gram + gram.T))[::-1]
    return np.asarray(np.sqrt(np.clip(ev, 0.0, None)))


def eigvalsh(stack: torch.Tensor) -> list[np.ndarray | None]:
    """Eigenvalues (ascending, float64) of each symmetric matrix of a (batch, n, n)
    ``stack``; None for a matrix with a non-finite value or that no solver decomposes.

    One batched torch call on one thread first (after a forward pass, MKL's threads
    fight the spinning OpenMP pool); should it fail, each matrix
    alone by NumPy's eigvalsh, then by its singular values (another LAPACK path; equal
    to the eigenvalues of a positive semi-definite matrix, as every Gram matrix here is).

    >>> import torch
    >>> eigvalsh(torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[float("nan"), 0.0], [0.0, 1.0]]]))
    [array([1., 2.]), None]
    """
    s = stack.detach().double().cpu()
    s = 0.5 * (s + s.transpose(-1, -2))  # exactly symmetric
    if bool(torch.isfinite(s).all()):
        try:
            with one_torch_thread():
                return list(torch.linalg.eigvalsh(s).numpy())
        except (RuntimeError, ValueError):  # torch's _LinAlgError is a RuntimeError
            pass
    return _each(s.numpy(), (np.linalg.eigvalsh, _svd_ascending))


def svdvals(batch: torch.Tensor) -> list[np.ndarray | None]:
    """Singular values (descending, float64) of each matrix of a (batch, m, n) tensor;
    None for a matrix with a non-finite value or that no solver decomposes (batched
    torch call first, then NumPy's SVD, then the eigenvalues of its Gram matrix).

    >>> import torch
    >>> svdvals(torch.tensor([[[3.0, 0.0], [0.0, 4.0]]]))
    [array([4., 3.])]
    """
    b = batch.detach().double().cpu()
    if bool(torch.isfinite(b).all()):
        try:
            with one_torch_thread():
                return list(torch.linalg.svdvals(b).numpy())
        except (RuntimeError, ValueError):
            pass
    return _each(b.numpy(), (_svd_descending, _svd_via_gram))
