"""Running a user's model without leaving a trace in it.

diagnose(), the recorded trace of layer_graph() and lsuv() run the model forward, in
whatever mode it is in: a model in train mode moves its batch-norm running statistics
and ``num_batches_tracked`` (and any buffer its forward writes). Every buffer is put
back as it was afterwards, bit for bit, whether or not the run raised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["buffers_kept"]


@contextmanager
def buffers_kept(model: nn.Module) -> Iterator[None]:
    """Restore every buffer of ``model`` (its value, and the tensor each module holds
    under each buffer name, added or removed ones included) when the block ends.

    >>> bn = torch.nn.BatchNorm1d(3)
    >>> with buffers_kept(bn):
    ...     _ = bn(torch.randn(8, 3))
    >>> int(bn.num_batches_tracked), bool(bn.running_mean.eq(0).all())
    (0, True)
    """
    modules = list(model.modules())
    slots = [dict(m._buffers) for m in modules]
    values = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, slot in zip(modules, slots, strict=True):
                m._buffers.clear()
                m._buffers.update(slot)
            for b, old in values:
                if b.shape != old.shape:  # resized in place by the forward
                    b.resize_(old.shape)
                b.copy_(old)
