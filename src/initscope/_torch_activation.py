"""Torch modules and functions as :class:`Activation` specs.

Standard modules map to the registry entry of the same function, with their parameters
(``nn.LeakyReLU(0.2)`` -> ``leaky_relu(0.2)``, ``nn.GELU(approximate="tanh")`` ->
``gelu_tanh``), so they get analytic derivatives and known kinks. Anything else that
takes tensors (a custom module, ``torch.tanh``, a lambda over tensors) is evaluated in
float64 and differentiated by autograd.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from ._core._cache import memo
from ._core.activations import Activation, Array, activation, require_elementwise

# class name -> (registry name, attribute holding its parameter or None)
_MODULES: dict[str, tuple[str, str | None]] = {
    "Identity": ("identity", None),
    "ReLU": ("relu", None),
    "LeakyReLU": ("leaky_relu", "negative_slope"),
    "ReLU6": ("relu6", None),
    "ELU": ("elu", "alpha"),
    "SELU": ("selu", None),
    "CELU": ("celu", "alpha"),
    "SiLU": ("silu", None),
    "Mish": ("mish", None),
    "Tanh": ("tanh", None),
    "Sigmoid": ("sigmoid", None),
    "Hardsigmoid": ("hardsigmoid", None),
    "Hardswish": ("hardswish", None),
    "Softsign": ("softsign", None),
}


def known_module(module: torch.nn.Module) -> Activation | None:
    cls = type(module)
    if cls.__module__.split(".")[:3] != ["torch", "nn", "modules"]:
        return None  # a user's subclass may override forward
    name = cls.__name__
    attrs = vars(module)
    if name == "GELU":
        return activation("gelu_tanh" if attrs["approximate"] == "tanh" else "gelu")
    if name == "Softplus" and attrs["threshold"] >= 20:
        return activation("softplus", float(attrs["beta"]))
    if name == "Hardtanh" and (attrs["min_val"], attrs["max_val"]) == (-1.0, 1.0):
        return activation("hardtanh")
    if name == "PReLU":
        slopes = module.get_parameter("weight").detach()
        if slopes.numel() != 1:
            raise ValueError(
                f"PReLU with {slopes.numel()} slopes (one per channel) has a gain per "
                "channel; pass one slope, e.g. nn.LeakyReLU(slope) or "
                f"('leaky_relu', {float(slopes.mean()):.3g}) for their mean")
        return activation("leaky_relu", float(slopes))
    if name in _MODULES:
        key, attr = _MODULES[name]
        return activation(key, None if attr is None else float(attrs[attr]))
    return None


def from_torch(fn: Callable[..., object], name: str | None = None) -> Activation:
    """An :class:`Activation` from a tensor function; phi' by autograd."""
    if isinstance(fn, torch.nn.Module) and not isinstance(fn, torch.jit.ScriptModule):
        known = known_module(fn)
        if known is not None:
            return known
    label = name or getattr(fn, "__name__", None) or type(fn).__name__
    if isinstance(fn, torch.nn.Module) and any(
            t.is_floating_point() and t.dtype != torch.float64
            for t in (*fn.parameters(), *fn.buffers())):
        # a parametric module (its own slope, scale...) is evaluated in float64 on a copy
        fn = copy.deepcopy(fn).double()

    def phi(x: Array) -> Array:
        with torch.no_grad():
            out = fn(torch.as_tensor(x, dtype=torch.float64))
        return _elementwise(out, x, label)

    def dphi(x: Array) -> Array:
        t = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
        with torch.enable_grad():
            out = fn(t)
            if not isinstance(out, torch.Tensor) or not out.requires_grad:
                return np.zeros_like(x)
            (grad,) = torch.autograd.grad(out.sum(), t, allow_unused=True)
        if grad is None:
            return np.zeros_like(x)
        return _elementwise(grad, x, label)

    require_elementwise(phi, label)
    return Activation(label, phi, dphi, smooth_known=False)


def _elementwise(out: object, x: Array, label: str) -> Array:
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != x.shape:
        raise ValueError(
            f"activation {label} must map a tensor to a tensor of the same shape; got "
            f"{type(out).__name__} {getattr(out, 'shape', '')} for input shape {x.shape}"
        )
    return out.detach().cpu().numpy().astype(np.float64)


def torch_function(act: Activation) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The torch function of a registry activation (with its parameter), or None."""
    return _torch_function(act.key, act.param) if act.key is not None else None


@memo(256)
def _torch_function(base: str, p: float | None) -> Callable[[torch.Tensor], torch.Tensor] | None:
    # cached: diagnose() asks once per layer per call, and the table's ~20 fresh objects
    # each time fed the garbage collector mid-pass
    import torch.nn.functional as F

    table: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "identity": lambda x: x,
        "relu": F.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, 0.01 if p is None else p),
        "relu6": F.relu6,
        "elu": lambda x: F.elu(x, 1.0 if p is None else p),
        "selu": F.selu,
        "celu": lambda x: F.celu(x, 1.0 if p is None else p),
        "gelu": F.gelu,
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "erf": torch.erf,
        "silu": F.silu,
        "mish": F.mish,
        "softplus": lambda x: F.softplus(x, 1.0 if p is None else p),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "hardtanh": F.hardtanh,
        "hardsigmoid": F.hardsigmoid,
        "hardswish": F.hardswish,
        "softsign": F.softsign,
    }
    return table.get(base)
