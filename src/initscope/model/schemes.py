"""The one registry: every scheme name, as a policy builder.

A name is a scheme of :mod:`.policies` (``"auto"``, ``"xavier"``, ``"uniform(a,b)"``,
...), which sees one layer at a time, or a recipe of :mod:`.recipes` (``"fixup"``,
``"gpt2"``, ...), which needs the whole graph first. Both resolve here to a
:data:`Builder` ``LayerGraph -> Policy``, so initialize() and overrides treat them
alike; a name is validated when it is resolved, before any tracing, and overrides are
resolved once.

>>> from initscope.model.schemes import resolve
>>> callable(resolve("fixup")), callable(resolve("uniform(-1, 1)"))
(True, True)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn

from .graph import LayerGraph, LayerInfo
from .policies import SCHEMES, Policy, PolicyResult, named_policy
from .recipes import RECIPES

__all__ = ["Builder", "Overrides", "apply_overrides", "resolve", "resolve_overrides",
           "scheme_names"]

#: What a name resolves to: the graph -> the policy for it.
Builder = Callable[[LayerGraph], Policy]


def scheme_names() -> list[str]:
    """Every fixed name, schemes then recipes (``"uniform(a,b)"`` and ``"constant(v)"``
    take any numbers)."""
    return [*SCHEMES, *RECIPES]


def resolve(scheme: str | Policy) -> Builder:
    """The builder of a scheme name, a recipe name or a policy function; an unknown
    name raises, listing every valid one."""
    if callable(scheme):
        fixed: Policy = scheme
        return lambda graph: fixed
    if not isinstance(scheme, str):
        raise TypeError(f"scheme must be a name or a policy function; got {type(scheme).__name__}")
    key = scheme.strip().lower()
    if key in RECIPES:
        return RECIPES[key]
    found = named_policy(key)
    if found is None:
        raise ValueError(
            f"unknown scheme {scheme!r}; valid: {', '.join(map(repr, SCHEMES))}, "
            "'uniform(a,b)', 'constant(v)', the recipes "
            f"{', '.join(map(repr, RECIPES))}, or a policy function LayerInfo -> plan"
        )
    return lambda graph: found


@dataclass(frozen=True)
class Overrides:
    """Resolved overrides: by qualified name (exact or glob) first, then by module type;
    the first match wins."""

    by_name: tuple[tuple[str, Builder], ...] = ()
    by_type: tuple[tuple[type[nn.Module], Builder], ...] = ()
    #: The overrides as given (key, scheme), to tell which one a layer falls under.
    given: tuple[tuple[str | type[nn.Module], object], ...] = ()

    def scheme_for(self, info: LayerInfo) -> object | None:
        """The scheme an override gives layer ``info`` (as given: a name or a policy),
        None where no override matches it."""
        for key, spec in self.given:
            if isinstance(key, str) and fnmatch.fnmatchcase(info.name, key):
                return spec
        for key, spec in self.given:
            if isinstance(key, type) and isinstance(info.module, key):
                return spec
        return None


def resolve_overrides(
    overrides: Mapping[str | type[nn.Module], str | Policy] | None,
) -> Overrides:
    """Validate and resolve every override once."""
    if not overrides:
        return Overrides()
    bad = [k for k in overrides if not isinstance(k, (str, type))]
    if bad:
        raise TypeError(f"override keys must be qualified names or module types; got {bad!r}")
    return Overrides(
        tuple((k, resolve(v)) for k, v in overrides.items() if isinstance(k, str)),
        tuple((k, resolve(v)) for k, v in overrides.items() if isinstance(k, type)),
        tuple(overrides.items()),
    )


def apply_overrides(base: Builder, overrides: Overrides, graph: LayerGraph) -> Policy:
    """The policy for ``graph``: ``base``'s, except where an override matches."""
    policy = base(graph)
    if not (overrides.by_name or overrides.by_type):
        return policy
    by_name = [(pattern, b(graph)) for pattern, b in overrides.by_name]
    by_type = [(cls, b(graph)) for cls, b in overrides.by_type]

    def combined(info: LayerInfo) -> PolicyResult:
        for pattern, p in by_name:
            if fnmatch.fnmatchcase(info.name, pattern):
                return p(info)
        for cls, p in by_type:
            if isinstance(info.module, cls):
                return p(info)
        return policy(info)

    return combined
