"""Training-time monitor: the same per-layer statistics, every k steps of a user's loop.

Glorot & Bengio 2010 (Fig. 2) watched the mean and spread of each layer's activations
during training: with the standard init the top sigmoid layer saturates at 0 and only
slowly recovers. ``Monitor`` records that for any model::

    with initscope.diagnostics.Monitor(model, every=10) as mon:
        for step, (x, y) in enumerate(loader):
            loss = loss_fn(model(x), y)   # forward k: statistics recorded
            loss.backward()               # ... and of the gradients that reach each layer
            opt.step(); opt.zero_grad()
    mon.table                             # one row per (step, layer)

A "step" is one forward call of the model; statistics are taken on steps 0, k, 2k, ...
Hooks are removed when the block exits, also on an exception.
"""

from __future__ import annotations

import math
from types import TracebackType
from typing import Any

import torch
from torch import nn

from .._tabular import dataframe
from .._tensor_moments import moments, variance
from .._torch_activation import torch_function
from ..model._layer_output import on_layer_output
from ..model.graph import LayerGraph, layer_graph
from . import _stats
from ._diagnose import _channel_dim


class Monitor:
    """Record per-layer activation and gradient statistics every ``every`` forward calls.

    Args:
        model: the model being trained.
        every: record on forward calls 0, every, 2 * every, ...
        example_inputs: for the layer graph when torch.fx cannot trace the model.
        tensorboard_dir: also write scalars there (needs the ``tensorboard`` package).
    """

    def __init__(self, model: nn.Module, every: int = 10, *, example_inputs: Any = None,
                 tensorboard_dir: str | None = None) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1; got {every!r}")
        self.model, self.every = model, every
        self.graph: LayerGraph = layer_graph(model, example_inputs)
        self.records: list[dict[str, Any]] = []
        self.step = -1
        self._handles: list[Any] = []
        self._writer: Any = None
        self._tb_dir = tensorboard_dir

    def __enter__(self) -> Monitor:
        if self._tb_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ImportError(
                    "Monitor(tensorboard_dir=...) needs tensorboard: pip install tensorboard"
                ) from e
            self._writer = SummaryWriter(self._tb_dir)
        try:
            self._handles.append(self.model.register_forward_pre_hook(self._tick))
            for info in self.graph:
                if info.order >= 0 and info.kind not in ("embedding",):
                    self._handles.append(on_layer_output(info.module, self._hook(info)))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._remove()

    def _remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _tick(self, module: nn.Module, args: Any) -> None:
        self.step += 1

    @property
    def recording(self) -> bool:
        return self.step % self.every == 0

    def _hook(self, info: Any) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output
            if not self.recording or not isinstance(out, torch.Tensor) or not \
                    out.is_floating_point() or out.numel() == 0:
                return  # (a layer of zero units, or an empty batch: nothing to record)
            with torch.no_grad():
                t = out.detach()
                fn = torch_function(info.output_activation) if info.output_activation else None
                a = fn(t) if fn is not None else t
                name = info.output_activation.name if info.output_activation else ""
                m, q = moments(a)
                row: dict[str, Any] = {
                    "step": self.step, "layer": info.name, "activation": name or None,
                    "act_mean": m, "act_std": variance(a, (m, q)) ** 0.5,
                    "saturated": _stats.saturated_fraction(a, info.output_activation),
                    "dead": _stats.dead_fraction(a, info.output_activation,
                                                 _channel_dim(info, t)),
                    "grad_std": math.nan,
                }
            self.records.append(row)
            if self._writer is not None:
                for key in ("act_mean", "act_std"):
                    self._writer.add_scalar(f"{info.name}/{key}", row[key], self.step)
            if out.requires_grad:
                def grad_hook(g: torch.Tensor, row: dict[str, Any] = row) -> None:
                    row["grad_std"] = variance(g) ** 0.5

                out.register_hook(grad_hook)  # type: ignore[no-untyped-call]

        return hook

    @property
    def table(self) -> Any:
        """The records as a pandas DataFrame (one row per recorded step and layer)."""
        return dataframe(self.records, "Monitor.table")
