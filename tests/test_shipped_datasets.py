"""The shipped data sets: scikit-learn's digits and a locally generated MNIST-1D."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from initscope.datasets import digits, mnist1d


@pytest.mark.parametrize("load,features,total", [(digits, 64, 1797), (mnist1d, 40, 5000)])
def test_format_split_and_determinism(load, features, total):
    x, y, xt, yt = load(seed=3)
    assert x.shape[1] == xt.shape[1] == features and len(x) + len(xt) == total
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == -1.0 and x.max() == 1.0  # scaled on the training part
    assert set(np.unique(y)) == set(range(10))
    assert abs(len(xt) / total - 0.2) < 0.01
    again = load(seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, xt, yt), again, strict=True))
    other = load(seed=4)
    assert not np.array_equal(other[1], y)


def test_digits_are_learnable_so_an_init_comparison_on_them_means_something():
    """A linear softmax on digits reaches > 90% test accuracy in a few hundred steps."""
    x, y, xt, yt = (torch.from_numpy(a) for a in digits(seed=0))
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(300):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (model(xt).argmax(1) == yt).float().mean() > 0.9


def test_bad_arguments():
    with pytest.raises(ValueError, match="test must be a fraction"):
        digits(test=1.5)
    with pytest.raises(ValueError, match="samples must be at least 10"):
        mnist1d(samples=3)
