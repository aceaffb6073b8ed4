"""The model's own initialization, as values: what a Hugging Face ``PreTrainedModel``'s
``_init_weights`` writes into each parameter, drawn reproducibly and without touching
the model.

Hugging Face models carry their initialization in ``PreTrainedModel._init_weights(module)``,
applied to every module, children before parents, each module by the nearest
``PreTrainedModel`` that holds it (``initialize_weights``' "smart apply"). In transformers 5
that pass skips every module and tensor flagged ``_is_hf_initialized`` (all of them, once a
model is built), so calling ``init_weights()`` again changes nothing. Here the flags are
lifted for the pass and every parameter is first set to NaN. The pass's random fills of a
parameter (``torch.nn.init.*``, ``Tensor.normal_``/``uniform_``) draw from the
parameter's counter stream (:func:`initscope.guard.invariant_init`: the same law, values a
function of (seed, name), on every thread count and world size, and on two threads
1.6x as fast as torch's serial generator); any other draw from torch's generator,
reseeded from (seed, module name) before each module. Afterwards every parameter,
buffer, flag and generator is put back: the model is unchanged, and each parameter's
own value is known, or known to be left unset by the model's own init (still NaN).

Models are recognised by what they hold (``config``, ``_init_weights``,
``_initialize_weights``), not by importing transformers.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .._state import buffers_kept, torch_rng_forked
from .._tensor_moments import moments_in_parts
from ..guard import routed
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


class Own:
    """What the model's own init wrote into one parameter: the values (a tensor of the
    parameter's shape that no one else holds) and their mean and mean square (read in
    the pass that tells that every element was written: a NaN left makes them NaN).
    Whether they are all equal is read off the spread; only where it is not clearly
    above rounding does a second pass compare the least and greatest value."""

    #: relative variance above which the values cannot all be equal: a float32 sum's
    #: rounding moves a constant's computed variance by ~1e-6 of its mean square
    _SPREAD = 1e-3

    def __init__(self, value: torch.Tensor, mean: float, mean_square: float) -> None:
        self.value, self.mean, self.mean_square = value, mean, mean_square

    def _common(self) -> float | None:
        """The value every element holds, or None (at least one value)."""
        if self.mean_square - self.mean ** 2 > self._SPREAD * self.mean_square:
            return None
        low, high = torch.aminmax(self.value)
        return float(low) if bool(low == high) else None

    def all_equal(self, c: float) -> bool:
        """Every value equals ``c`` (true of no values)."""
        return self.value.numel() == 0 or self._common() == c

    @property
    def constant(self) -> bool:
        """At least two values, all equal."""
        return self.value.numel() > 1 and self._common() is not None


def own_values(model: nn.Module, seed: int,
               owners: dict[str, nn.Module] | None = None) -> dict[str, Own | None]:
    """What the model's own ``_init_weights`` writes into each parameter (by qualified
    name, tied parameters once), or None where it leaves a parameter unset (or sets only
    part of it). Empty when no module of ``model`` is in a Hugging Face model
    (``owners``: :func:`hf_owners` of it, when the caller has them). The model is left
    as it was."""
    owners = hf_owners(model) if owners is None else owners
    if not owners:
        return {}
    params = dict(model.named_parameters())
    if any(p.is_meta or type(p.data) is not torch.Tensor for p in params.values()):
        return {}  # meta (not materialized: refused later) or sharded: no own pass
    found: dict[str, Own | None] = {}
    # Each parameter is pointed at a NaN-filled tensor of its own for the pass and back at
    # its storage afterwards: no copy of the model (a plain tensor swap; sharded and meta
    # parameters are refused before).
    originals = {n: p.data for n, p in params.items()}
    try:
        with torch.no_grad(), buffers_kept(model), _flags_lifted(model), \
                torch_rng_forked(model) as reseed:
            for p in params.values():
                p.data = torch.full_like(p.data, float("nan")) if p.is_floating_point() \
                    else p.data.clone()
            # (the streams are looked up by storage: routed once the NaN tensors are in)
            with routed(model, seed, audited=True) as streams:
                for name, module in _postorder(model):
                    owner = owners.get(name)
                    if owner is None:
                        continue
                    reseed(parameter_seed(seed, f"own-init/{name}"))
                    owner._init_weights(module)  # type: ignore[operator]
            for n, p in params.items():
                v = p.detach()  # (p.data would have a version counter of its own)
                if not p.is_floating_point():
                    found[n] = None
                    continue
                if v.numel() == 0:
                    found[n] = Own(v, 0.0, 0.0)
                    continue
                # A stream's fill that wrote all of v, nothing written since: its sums,
                # taken as it drew (no NaN left). Else one pass: a NaN anywhere (a
                # poisoned element left) makes the sums NaN. The audit reuses them.
                stream = streams.get(n)
                known = stream.moments_of(v) if stream is not None else None
                mean, square = known if known is not None else moments_in_parts(v)
                found[n] = None if math.isnan(mean) or math.isnan(square) else \
                    Own(v, mean, square)
    finally:
        for n, p in params.items():
            p.data = originals[n]
    return found
