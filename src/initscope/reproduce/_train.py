"""What the reproductions share: the Shapeset MLP and plain SGD on fresh batches."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..datasets import shapeset
from ._progress import task


def shapeset_mlp(depth: int, width: int, act: type[nn.Module]) -> nn.Sequential:
    """Flatten, then ``depth`` x (Linear(., width), act), then Linear(width, 9)."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = 32 * 32
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), act()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 9))


def train_sgd(model: nn.Module, *, steps: int, batch: int, lr: float, seed: int) -> list[float]:
    """Plain SGD on fresh Shapeset batches (the paper trains online); the loss per step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    data = np.random.default_rng(seed)
    losses = []
    with task("training", steps) as advance:
        for _ in range(steps):
            xb, yb = (torch.from_numpy(a) for a in shapeset(batch, seed=data))
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            losses.append(float(loss.detach()))
            advance(1)
    return losses


def teacher_task(inputs: int, gen: torch.Generator, n: int = 8192
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A task a linear model solves, so that depth is the only obstacle: ``n`` Gaussian
    inputs, the class (of 10) the argmax of a fixed random projection of each."""
    teacher = torch.randn(inputs, 10, generator=gen)
    x = torch.randn(n, inputs, generator=gen)
    return x, (x @ teacher).argmax(1)


def sgd_on_batches(model: nn.Module, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor,
                   lr: float, label: str) -> tuple[float, list[float]]:
    """Plain SGD on the minibatches whose rows ``order`` lists; the training accuracy on
    all of ``x`` afterwards and the loss of every step."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    with task(label, len(order)) as advance:
        for idx in order:
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            losses.append(float(loss.detach()))
            advance(1)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    return accuracy, losses


def start_end(losses: list[float]) -> tuple[float, float]:
    """Mean loss over the first and the last tenth of training."""
    window = max(1, len(losses) // 10)
    return float(np.mean(losses[:window])), float(np.mean(losses[-window:]))
