"""The model's own initialization, as values: what a Hugging Face ``PreTrainedModel``'s
``_init_weights`` writes into each parameter, drawn reproducibly and without touching
the model.

Hugging Face models carry their initialization in ``PreTrainedModel._init_weights(module)``,
applied to every module, children before parents, each module by the nearest
``PreTrainedModel`` that holds it (``initialize_weights``' "smart apply"). In transformers 5
that pass skips every module and tensor flagged ``_is_hf_initialized`` (all of them, once a
model is built), so calling ``init_weights()`` again changes nothing. Here the flags are
lifted for the pass, every parameter is first set to NaN, each module's call draws from
torch's generator seeded from (seed, module name), and afterwards every parameter,
buffer and flag is put back: the model is unchanged, and each parameter's own value is
known, or known to be left unset by the model's own init (still NaN).

Models are recognised by what they hold (``config``, ``_init_weights``,
``_initialize_weights``), not by importing transformers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .._state import buffers_kept
from ..rng import RNG_VERSION, canonical_name

_FLAG = "_is_hf_initialized"


def parameter_seed(seed: int, name: str) -> int:
    """A 63-bit seed from (seed, canonical name): BLAKE2b, stable across runs and platforms."""
    digest = hashlib.blake2b(f"initscope/v{RNG_VERSION}/{seed}/{canonical_name(name)}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def is_hf_model(module: nn.Module) -> bool:
    """A Hugging Face ``PreTrainedModel`` (duck-typed)."""
    return (callable(getattr(module, "_init_weights", None))
            and callable(getattr(module, "_initialize_weights", None))
            and hasattr(module, "config"))


def hf_owners(model: nn.Module) -> dict[str, nn.Module]:
    """For every module name, the nearest enclosing ``PreTrainedModel`` (itself included),
    as Hugging Face's smart apply dispatches; modules outside any are absent."""
    owners: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if is_hf_model(module):
            owners[name] = module
            continue
        parent = name.rpartition(".")[0] if "." in name else ""
        while True:
            if parent in owners:
                owners[name] = owners[parent]
                break
            if parent == "" or name == "":
                break
            parent = parent.rpartition(".")[0] if "." in parent else ""
    return owners


@contextmanager
def _flags_lifted(model: nn.Module) -> Iterator[None]:
    tensors: list[object] = [*model.modules(), *model.parameters(), *model.buffers()]
    saved = [(t, getattr(t, _FLAG)) for t in tensors if hasattr(t, _FLAG)]
    for t, _ in saved:
        delattr(t, _FLAG)
    try:
        yield
    finally:
        for t in tensors:
            if hasattr(t, _FLAG):
                delattr(t, _FLAG)
        for t, flag in saved:
            setattr(t, _FLAG, flag)


def _postorder(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules children first, as Hugging Face's smart apply visits them."""
    out: list[tuple[str, nn.Module]] = []

    def visit(name: str, module: nn.Module) -> None:
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)
        out.append((name, module))

    visit("", model)
    return out


def own_values(model: nn.Module, seed: int,
               owners: dict[str, nn.Module] | None = None) -> dict[str, torch.Tensor | None]:
    """What the model's own ``_init_weights`` writes into each parameter (by qualified
    name, tied parameters once), or None where it leaves a parameter unset. Empty when no
    module of ``model`` is in a Hugging Face model (``owners``: :func:`hf_owners` of it,
    when the caller has them). The model is left as it was."""
    owners = hf_owners(model) if owners is None else owners
    if not owners:
        return {}
    params = dict(model.named_parameters())
    if any(p.is_meta or type(p.data) is not torch.Tensor for p in params.values()):
        return {}  # meta (not materialized: refused later) or sharded: no own pass
    found: dict[str, torch.Tensor | None] = {}
    # Each parameter is pointed at a NaN-filled tensor of its own for the pass and back at
    # its storage afterwards: no copy of the model (a plain tensor swap; sharded and meta
    # parameters are refused before).
    originals = {n: p.data for n, p in params.items()}
    try:
        with torch.no_grad(), buffers_kept(model), _flags_lifted(model), \
                torch.random.fork_rng(devices=[]):
            for p in params.values():
                p.data = torch.full_like(p.data, float("nan")) if p.is_floating_point() \
                    else p.data.clone()
            for name, module in _postorder(model):
                owner = owners.get(name)
                if owner is None:
                    continue
                torch.manual_seed(parameter_seed(seed, f"own-init/{name}"))
                owner._init_weights(module)  # type: ignore[operator]
            for n, p in params.items():
                v = p.data
                # one reduction: NaN anywhere (a poisoned element left) makes the sum NaN
                written = p.is_floating_point() and not bool(torch.isnan(v.sum()))
                found[n] = v if written else None
    finally:
        for n, p in params.items():
            p.data = originals[n]
    return found
