"""The public :func:`gain`: resolve any activation spec, then compute its gain."""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable

import numpy as np

from ._core._cache import memo
from ._core.activations import Activation, activation
from ._core.gain import Criterion, gain_of

ActivationLike = str | Activation | Callable[..., object]


def resolve_activation(spec: ActivationLike, param: float | None = None) -> Activation:
    """Any activation spec (name, :class:`Activation`, NumPy callable, torch callable or
    module) as an :class:`Activation`.

    A torch object can only exist once torch is imported, so torch is looked up in
    ``sys.modules`` rather than imported here.
    """
    if isinstance(spec, (str, Activation)) or param is not None:
        return activation(spec, param)
    if not callable(spec):
        raise TypeError(
            "activation must be a name, an Activation, a callable or a torch.nn.Module;"
            f" got {type(spec).__name__}"
        )
    torch = sys.modules.get("torch")
    if torch is not None and (
        isinstance(spec, torch.nn.Module) or not _takes_numpy(spec)
    ):
        from ._torch_activation import from_torch

        return from_torch(spec)
    return activation(spec)


def real_number(spec: object) -> float | None:
    """``spec`` as a float when it is a real number: a Python or NumPy int or float, or
    a 0-d array or (when torch is loaded) 0-d tensor, as code written for torch.nn.init
    passes them (``np.float32(0.02)``, ``torch.tensor(1.5)``); None otherwise (bools and
    complex numbers included).

    >>> real_number(np.float32(0.5)), real_number(np.array(2)), real_number(True)
    (0.5, 2.0, None)
    """
    if isinstance(spec, (bool, np.bool_)):
        return None
    if isinstance(spec, numbers.Real):
        return float(spec)
    torch = sys.modules.get("torch")
    if isinstance(spec, np.ndarray) or (torch is not None and isinstance(spec, torch.Tensor)):
        if spec.ndim != 0 or getattr(spec, "is_meta", False):
            return None
        value = spec.item()
        if isinstance(value, (bool, complex)) or not isinstance(value, (int, float)):
            return None
        return float(value)
    return None


def _takes_numpy(fn: Callable[..., object]) -> bool:
    try:
        out = fn(np.linspace(-1.0, 1.0, 3))
    except Exception:
        return False
    return isinstance(out, (np.ndarray, np.generic, float))


@memo(256)
def _named_gain(name: str, param: float | None, criterion: str) -> float:
    return gain_of(activation(name, param), criterion)


def gain(
    activation: ActivationLike, param: float | None = None, *, criterion: Criterion = "forward"
) -> float:
    """The gain of ``activation`` under ``criterion``, computed by quadrature.

    - ``"forward"``: 1 / sqrt(E[phi(z)^2]), z ~ N(0, 1) — keeps activations' second
      moment (He et al. 2015, eq. 10).
    - ``"backward"``: 1 / sqrt(E[phi'(z)^2]) — keeps back-propagated gradients' variance.
    - ``"torch"``: exactly ``torch.nn.init.calculate_gain``'s value (tanh 5/3, selu 3/4);
      an error for activations torch has no entry for.

    ``activation`` is a name (``initscope.activation_names()``), a NumPy callable, a torch
    function or ``torch.nn.Module`` (``torch.nn.GELU()``); ``param`` is the slope of
    leaky_relu (default 0.01) or the alpha/beta of elu/celu/softplus.

    >>> round(gain("relu"), 6)
    1.414214
    >>> round(gain("tanh"), 4), round(gain("tanh", criterion="torch"), 4)
    (1.5925, 1.6667)
    >>> round(gain("gelu"), 4)
    1.5335
    """
    if isinstance(activation, str):
        return _named_gain(activation, param, criterion)
    return gain_of(resolve_activation(activation, param), criterion)


GainLike = float | ActivationLike


@memo(256)
def _auto_gain(name: str, param: float | None) -> float:
    act = activation(name, param)
    return gain_of(act, "torch" if act.torch_name is not None else "forward")


def as_gain(
    spec: GainLike, criterion: Criterion | None = "forward", param: float | None = None
) -> float:
    """What initializers do with a ``gain=`` argument.

    A number is a gain (it must be positive and finite). Anything else is an activation
    whose gain is computed under ``criterion``; ``None`` means torch's value where
    ``torch.nn.init.calculate_gain`` has one (a drop-in's duty) and the forward gain
    elsewhere.

    >>> as_gain(2.0), round(as_gain("tanh"), 4), round(as_gain("tanh", None), 4)
    (2.0, 1.5925, 1.6667)
    """
    if type(spec) is float and 0.0 < spec < math.inf:
        return spec  # the common case, first (a per-call cost small tensors feel)
    if isinstance(spec, str):  # before the number checks: names are the other common case
        if criterion is None:
            return _auto_gain(spec, param)
        return _named_gain(spec, param, criterion)
    number = real_number(spec)
    if number is not None or isinstance(spec, (bool, np.bool_)):
        if number is None or not (math.isfinite(number) and number > 0):
            raise ValueError(f"gain must be a positive finite number; got {spec!r}")
        return number
    if isinstance(spec, (int, float)):  # narrowed for the type checker: handled above
        raise ValueError(f"gain must be a positive finite number; got {spec!r}")
    act = resolve_activation(spec, param)
    if criterion is None:
        criterion = "torch" if act.torch_name is not None else "forward"
    return gain_of(act, criterion)
