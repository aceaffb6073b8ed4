"""What a user hands over as a model's inputs, and what comes back out: one way to call a
model with them, for ``initialize``, ``diagnose``, ``lsuv`` and the tracer.

Inputs (``example_inputs=``, ``inputs``, ``batch``):

- a tensor: the one positional input, ``model(x)``;
- a tuple: positional inputs, ``model(*inputs)``;
- a dict or any other mapping with string keys (Hugging Face's ``BatchEncoding``):
  keyword inputs, ``model(**inputs)``, as ``model(input_ids=ids, attention_mask=mask)``.

Outputs: the tensor the loss reads is the output itself, the ``logits`` of a dict-like
output (Hugging Face's ``ModelOutput``), else its first floating-point tensor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map


class Inputs(NamedTuple):
    """A model's inputs, positional and keyword."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def call(self, model: nn.Module) -> Any:
        """``model(*args, **kwargs)``."""
        return model(*self.args, **self.kwargs)

    def leaves(self) -> list[Any]:
        """Every leaf of the inputs (tensors and other values), positional first."""
        return list(tree_leaves(self.args)) + list(tree_leaves(self.kwargs))

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor of the inputs, positional first."""
        return [t for t in self.leaves() if isinstance(t, torch.Tensor)]

    def map(self, fn: Callable[[Any], Any]) -> Inputs:
        """The same inputs with ``fn`` applied to every leaf."""
        return Inputs(tree_map(fn, self.args), tree_map(fn, self.kwargs))


def as_inputs(inputs: Any, what: str = "inputs") -> Inputs:
    """``inputs`` (a tensor, a tuple of positional inputs, or a mapping of keyword inputs)
    as :class:`Inputs`.

    >>> import torch
    >>> as_inputs(torch.zeros(2)).args[0].shape, as_inputs({"input_ids": 1}).kwargs
    (torch.Size([2]), {'input_ids': 1})
    """
    if isinstance(inputs, Inputs):
        return inputs
    if isinstance(inputs, Mapping):
        bad = [k for k in inputs if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{what}: a mapping of keyword inputs needs string keys; got "
                            f"{bad[0]!r} ({type(bad[0]).__name__})")
        return Inputs((), dict(inputs))
    if isinstance(inputs, tuple):
        return Inputs(inputs, {})
    return Inputs((inputs,), {})


def float_tensors(output: Any) -> list[torch.Tensor]:
    """The floating-point tensors of a model's output: in tensors, tuples, lists, dicts and
    dataclasses (Hugging Face's ModelOutput is a dict; others are dataclasses)."""
    found: list[torch.Tensor] = []
    for leaf in tree_leaves(output):
        if isinstance(leaf, torch.Tensor):
            if leaf.is_floating_point():
                found.append(leaf)
        elif dataclasses.is_dataclass(leaf) and not isinstance(leaf, type):
            found += float_tensors([getattr(leaf, f.name) for f in dataclasses.fields(leaf)])
    return found


def main_output(output: Any) -> torch.Tensor | None:
    """The tensor a loss reads: the output tensor, a dict-like output's ``logits``, else
    its first floating-point tensor (None when it has none)."""
    if isinstance(output, Mapping):
        logits = output.get("logits")
        if isinstance(logits, torch.Tensor) and logits.is_floating_point():
            return logits
    found = float_tensors(output)
    return found[0] if found else None


def classification_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of scores ``out`` against integer ``target``, with the class axis
    where the shapes say it is: torch's (N, C, d...) against (N, d...), or the last axis,
    as language models give logits (B, T, V) for targets (B, T). Targets -100 are ignored
    (torch's and Hugging Face's convention).

    >>> import torch
    >>> float(classification_loss(torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.long)))
    1.6094379425048828
    """
    if out.dim() == target.dim() + 1:
        if out.shape[:1] + out.shape[2:] == target.shape:  # (N, C, d...)
            return nn.functional.cross_entropy(out, target)
        if out.shape[:-1] == target.shape:  # (..., C): logits of a sequence model
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                               target.reshape(-1))
    if out.dim() == 2 and target.dim() == 1 and out.shape[0] == target.shape[0]:
        return nn.functional.cross_entropy(out, target)
    raise ValueError(
        f"integer targets of shape {tuple(target.shape)} do not fit scores of shape "
        f"{tuple(out.shape)}: class scores need (N, C, ...) against (N, ...) or (..., C) "
        "against (...); pass loss_fn= for anything else")
