"""The main job, first version: how each classic scheme propagates signal in a deep MLP.

A stack of ``depth`` Linear(width, width) layers, each followed by the activation, is
initialized with each scheme of the seed question (zeros, ones, U[-1,1], U[-0.3,0.3],
Glorot's standard init, Xavier uniform/normal, He), fed standard-normal inputs, and
back-propagated from ``loss = sum(output * r)`` with a fixed standard-normal ``r`` (so
dL/d output ~ N(0, 1)). Per layer it records the variance of the activations and of the
back-propagated gradient w.r.t. the pre-activations, then gives one verdict per scheme.

Measurement (:func:`measure`) is separate from rendering (``initscope.cli``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from . import init

Verdict = Literal["symmetric", "saturated", "vanishing", "exploding", "healthy"]

#: Thresholds of the verdicts, relative to the first layer (forward) or the last (backward).
VANISH, EXPLODE = 1e-2, 1e2
#: |tanh| > 0.99, sigmoid < 0.01 or > 0.99 counts as saturated (Glorot & Bengio 2010, sec. 3).
SATURATED_FRACTION = 0.5


@dataclass(frozen=True)
class DemoConfig:
    """What the demo measures."""

    depth: int = 10
    width: int = 256
    batch: int = 512
    activations: tuple[str, ...] = ("tanh", "relu")
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("depth", "width", "batch"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1; got {v!r}")
        for a in self.activations:
            if a not in _ACTIVATIONS:
                raise ValueError(
                    f"demo activation {a!r} is not available; choose from {sorted(_ACTIVATIONS)}"
                )


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "gelu": torch.nn.functional.gelu,
}

Init = Callable[[torch.Tensor, str, torch.Generator], object]


def _he(w: torch.Tensor, input_activation: str, g: torch.Generator) -> object:
    # He et al. 2015: the gain compensates the nonlinearity applied to this layer's input.
    return init.he_normal_(w, input_activation, g)


#: The seed question's schemes. Each gets the weight, the activation applied to that
#: layer's input ("identity" for the first layer) and a generator.
SCHEMES: dict[str, Init] = {
    "zeros": lambda w, a, g: init.zeros_(w),
    "ones": lambda w, a, g: init.ones_(w),
    "U[-1,1]": lambda w, a, g: init.uniform_(w, -1.0, 1.0, g),
    "U[-0.3,0.3]": lambda w, a, g: init.uniform_(w, -0.3, 0.3, g),
    "glorot_standard": lambda w, a, g: init.glorot_standard_(w, g),
    "xavier_uniform": lambda w, a, g: init.xavier_uniform_(w, 1.0, g),
    "xavier_normal": lambda w, a, g: init.xavier_normal_(w, 1.0, g),
    "he_normal": _he,
}


@dataclass
class SchemeResult:
    """Per-layer measurements of one scheme on one activation."""

    scheme: str
    activation: str
    act_var: list[float] = field(default_factory=list)
    grad_var: list[float] = field(default_factory=list)
    saturated: list[float] = field(default_factory=list)
    identical_units: list[bool] = field(default_factory=list)
    verdict: Verdict = "healthy"
    reason: str = ""

    def records(self) -> list[dict[str, object]]:
        """Tidy rows: one per layer."""
        return [
            {
                "scheme": self.scheme,
                "activation": self.activation,
                "layer": i + 1,
                "act_var": self.act_var[i],
                "grad_var": self.grad_var[i],
                "saturated": self.saturated[i],
                "identical_units": self.identical_units[i],
                "verdict": self.verdict,
            }
            for i in range(len(self.act_var))
        ]


def _saturation(h: torch.Tensor, act: str) -> float:
    if act == "tanh":
        return float((h.abs() > 0.99).float().mean())
    if act == "sigmoid":
        return float(((h < 0.01) | (h > 0.99)).float().mean())
    return 0.0


def _verdict(r: SchemeResult) -> tuple[Verdict, str]:
    if all(r.identical_units):
        return "symmetric", "every unit of every layer computes the same value"
    worst = max(range(len(r.saturated)), key=lambda i: r.saturated[i])
    if r.saturated[worst] > SATURATED_FRACTION:
        return "saturated", f"{r.saturated[worst]:.0%} of layer {worst + 1}'s units saturated"
    fwd = r.act_var[-1] / r.act_var[0] if r.act_var[0] > 0 else 0.0
    bwd = r.grad_var[0] / r.grad_var[-1] if r.grad_var[-1] > 0 else 0.0
    depth = len(r.act_var)
    for ratio, what in ((fwd, f"activation variance layer {depth}/layer 1"),
                        (bwd, f"gradient variance layer 1/layer {depth}")):
        if ratio < VANISH:
            return "vanishing", f"{what} = {ratio:.1e}"
    for ratio, what in ((fwd, f"activation variance layer {depth}/layer 1"),
                        (bwd, f"gradient variance layer 1/layer {depth}")):
        if ratio > EXPLODE:
            return "exploding", f"{what} = {ratio:.1e}"
    return "healthy", f"forward ratio {fwd:.2f}, backward ratio {bwd:.2f}"


def measure_scheme(config: DemoConfig, scheme: str, act: str) -> SchemeResult:
    """Initialize the MLP with ``scheme``, run one forward and one backward pass."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown demo scheme {scheme!r}; choose from {list(SCHEMES)}")
    phi = _ACTIVATIONS[act]
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.batch, config.width, generator=gen)
    r = torch.randn(config.batch, config.width, generator=gen)
    weights = []
    for layer in range(config.depth):
        w = torch.empty(config.width, config.width)
        SCHEMES[scheme](w, "identity" if layer == 0 else act, gen)
        weights.append(w.requires_grad_(True))
    result = SchemeResult(scheme, act)
    pre: list[torch.Tensor] = []
    h = x
    for w in weights:
        z = h @ w.t()
        z.retain_grad()
        pre.append(z)
        h = phi(z)
        hd = h.detach()
        result.act_var.append(float(hd.var()))
        result.saturated.append(_saturation(hd, act))
        spread = (hd - hd[:, :1]).abs().max()
        result.identical_units.append(bool(spread <= 1e-6 * (hd.abs().max() + 1e-30)))
    torch.autograd.backward((h * r).sum())
    result.grad_var = [float(z.grad.var()) if z.grad is not None else 0.0 for z in pre]
    result.verdict, result.reason = _verdict(result)
    return result


def measure(config: DemoConfig | None = None) -> list[SchemeResult]:
    """Every scheme on every activation of ``config``."""
    config = config or DemoConfig()
    return [measure_scheme(config, s, a) for a in config.activations for s in SCHEMES]
