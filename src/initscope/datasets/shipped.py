"""Two small real data sets that need no download: scikit-learn's digits (shipped inside
the package) and MNIST-1D (Greydanus 2020, generated locally by ``mnist1d.make_dataset``).

Both return ``(x_train, y_train, x_test, y_test)`` as float32 features scaled to
[-1, 1] and int64 labels 0..9, split reproducibly by ``seed``. They are optional extras
(``pip install initscope[data]``); each says how to get its package when it is missing.

>>> x, y, xt, yt = digits(seed=0)
>>> x.shape, xt.shape, x.dtype, float(x.min()), float(x.max()), sorted(set(y.tolist()))[:3]
((1438, 64), (359, 64), dtype('float32'), -1.0, 1.0, [0, 1, 2])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Split = tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]


def _split(x: NDArray[np.float64], y: NDArray[np.int64], test: float, seed: int) -> Split:
    if not 0.0 < test < 1.0:
        raise ValueError(f"test must be a fraction in (0, 1); got {test!r}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test * len(x))
    te, tr = order[:n_test], order[n_test:]
    lo, hi = x[tr].min(), x[tr].max()  # scale from the training part only
    scaled = (2 * (x - lo) / (hi - lo) - 1).astype(np.float32)
    return scaled[tr], y[tr].astype(np.int64), scaled[te], y[te].astype(np.int64)


def digits(*, test: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8 x 8 handwritten digits (1,797 images, 64 features, 10 classes),
    pixels 0..16 scaled to [-1, 1]; a random ``test`` fraction held out."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise ImportError("digits() needs scikit-learn: pip install 'initscope[data]'") from e
    d = load_digits()
    return _split(d.data.astype(np.float64), d.target.astype(np.int64), test, seed)


def mnist1d(*, samples: int = 5000, test: float = 0.2, seed: int = 0) -> Split:
    """MNIST-1D: 40-point 1-D signals made from ten templates by padding, shear,
    translation and noise (Greydanus 2020), generated here with ``mnist1d.make_dataset``
    (the package's own generator; nothing is downloaded), its features scaled to [-1, 1].
    """
    if samples < 10:
        raise ValueError(f"samples must be at least 10; got {samples!r}")
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError("mnist1d() needs the mnist1d package: pip install 'initscope[data]'"
                          ) from e
    args = get_dataset_args()
    args.num_samples, args.seed = samples, seed
    d = make_dataset(args)
    x = np.concatenate([d["x"], d["x_test"]]).astype(np.float64)
    y = np.concatenate([d["y"], d["y_test"]]).astype(np.int64)
    return _split(x, y, test, seed)
