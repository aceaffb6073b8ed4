"""A hook on what a layer computes, for the layers whose forward does more.

A forward hook sees a module's output. For most layers that is the layer's own value.
A torch layer with children of its own computes more: timm's ``BatchNormAct2d`` (a
``BatchNorm2d`` whose forward calls ``F.batch_norm`` and then its ``act`` child) returns
the activation's output. The graph records the ``F.batch_norm`` call as the layer
(:func:`initscope.model._trace.layers_with_children`); :func:`on_layer_output` hands a hook
that same value: the output of the first call in the module's forward that reads its
own weight, caught by a ``TorchFunctionMode`` opened for that forward only. The hook is a
forward hook's: ``hook(module, args, value)``, and a value it returns replaces the
layer's (lsuv's rescaled output flows on through the rest of the module's forward).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ._trace import _LAYERS, is_leaf

__all__ = ["on_layer_output"]

Hook = Callable[[nn.Module, Any, Any], Any]


class _Handles:
    """Removes every handle it holds (as torch's ``RemovableHandle.remove``)."""

    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class _FirstOwnCall(TorchFunctionMode):
    """Calls ``hook`` with the output of the first call whose arguments include one of
    ``module``'s own parameters."""

    def __init__(self, module: nn.Module, hook: Hook) -> None:
        super().__init__()
        self.module, self.hook, self.done = module, hook, False
        self.own = {id(p) for p in module.parameters(recurse=False)}

    def __torch_function__(self, func: Callable[..., Any], types: Any,
                           args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
                           ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.done and any(isinstance(t, torch.Tensor) and id(t) in self.own
                                 for t in tree_leaves((args, kwargs))):
            self.done = True
            replaced = self.hook(self.module, args, out)
            if replaced is not None:
                return replaced
        return out


def on_layer_output(module: nn.Module, hook: Hook) -> _Handles:
    """Call ``hook(module, args, output)`` with the layer's own value on each forward:
    the module's output (a forward hook), or for a torch layer with children of its
    own the output of the call that reads its weight. Remove with ``.remove()``.

    >>> import torch
    >>> class NormAct(torch.nn.BatchNorm1d):
    ...     def __init__(self, n):
    ...         super().__init__(n)
    ...         self.act = torch.nn.ReLU()
    ...     def forward(self, x):
    ...         return self.act(torch.nn.functional.batch_norm(
    ...             x, None, None, self.weight, self.bias, True))
    >>> seen = []
    >>> m = NormAct(3)
    >>> h = on_layer_output(m, lambda mod, args, out: seen.append(float(out.detach().min())))
    >>> _ = m(torch.randn(16, 3))
    >>> h.remove()
    >>> seen[0] < 0  # before the ReLU
    True
    """
    if is_leaf(module) or not isinstance(module, _LAYERS):
        return _Handles([module.register_forward_hook(hook)])
    modes: list[_FirstOwnCall] = []

    def pre(mod: nn.Module, args: Any) -> None:
        mode = _FirstOwnCall(mod, hook)
        mode.__enter__()  # type: ignore[no-untyped-call]
        modes.append(mode)

    def post(mod: nn.Module, args: Any, output: Any) -> None:
        if modes:
            modes.pop().__exit__(None, None, None)  # type: ignore[no-untyped-call]

    return _Handles([module.register_forward_pre_hook(pre),
                     module.register_forward_hook(post, always_call=True)])
