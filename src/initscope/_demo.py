"""The seed question as a table: how each classic scheme propagates signal in a deep MLP.

A stack of ``depth`` bias-free Linear(width, width) layers, each followed by the
activation, is initialized with each scheme of the seed question (zeros, ones, U[-1,1],
U[-0.3,0.3], Glorot's standard init, Xavier uniform/normal, He with the gain of the
activation feeding each layer) and diagnosed on one batch of standard-normal inputs
with :func:`initscope.compare`: the same statistics, the same verdicts (failures and
warnings) as ``diagnose`` gives any model. Per layer it keeps the variance of the
activations and of the back-propagated gradient w.r.t. the pre-activations.

Measurement (:func:`measure`) is separate from rendering (``initscope._demo_render``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import init
from .diagnostics import Diagnosis, compare
from .model.graph import LayerInfo, input_gain
from .model.policies import Policy

#: The nonlinearities the demo offers (module classes; their facts live in their record).
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
}


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


def _xavier_normal(info: LayerInfo) -> Callable[[torch.Tensor, Any], object]:
    return lambda t, g: init.xavier_normal_(t, 1.0, g)


def _he_normal(info: LayerInfo) -> Callable[[torch.Tensor, Any], object]:
    # He et al. 2015: the gain compensates the nonlinearity applied to this layer's input
    # (1 for the first layer, which reads the data).
    gain = input_gain(info)
    return lambda t, g: init.he_normal_(t, gain, g)


#: The seed question's schemes, by the demo's label: a scheme name or a policy.
SEED_SCHEMES: dict[str, str | Policy] = {  # (model.policies.SCHEMES is the registry)
    "zeros": "zeros",
    "ones": "ones",
    "U[-1,1]": "uniform(-1,1)",
    "U[-0.3,0.3]": "uniform(-0.3,0.3)",
    "glorot_standard": "glorot_standard",
    "xavier_uniform": "xavier",
    "xavier_normal": _xavier_normal,
    "he_normal": _he_normal,
}


@dataclass
class SchemeResult:
    """One scheme on one activation: per-layer measurements and the verdicts."""

    scheme: str
    activation: str
    act_var: list[float] = field(default_factory=list)
    grad_var: list[float] = field(default_factory=list)
    saturated: list[float] = field(default_factory=list)
    identical_units: list[float] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # kinds, "(warning)" marked
    reason: str = ""

    @property
    def verdict(self) -> str:
        """The first verdict's kind ("healthy" when none fired)."""
        return self.verdicts[0].split(" ")[0] if self.verdicts else "healthy"

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


def _result(scheme: str, act: str, d: Diagnosis) -> SchemeResult:
    r = SchemeResult(scheme, act)
    for s in d.layers:
        r.act_var.append(max(0.0, s.act_second_moment - s.act_mean**2))
        r.grad_var.append(s.grad_pre_var)
        r.saturated.append(s.saturated or 0.0)
        r.identical_units.append(s.identical_units)
    r.verdicts = [v.kind + (" (warning)" if v.severity == "warning" else "")
                  for v in d.verdicts]
    r.reason = f"{d.verdicts[0].evidence}" if d.verdicts else "no problem found"
    return r


def measure(config: DemoConfig | None = None) -> list[SchemeResult]:
    """Every scheme on every activation of ``config``, through :func:`compare`."""
    config = config or DemoConfig()
    out = []
    gen = torch.Generator().manual_seed(config.seed)
    x = torch.randn(config.batch, config.width, generator=gen)
    for act in config.activations:
        module = _ACTIVATIONS[act]

        def make(module: type[nn.Module] = module) -> nn.Module:
            return nn.Sequential(*[m for _ in range(config.depth) for m in (
                nn.Linear(config.width, config.width, bias=False), module())])

        c = compare(make, x, SEED_SCHEMES, seed=config.seed)
        out += [_result(s, act, d) for s, d in c.diagnoses.items()]
    return out
