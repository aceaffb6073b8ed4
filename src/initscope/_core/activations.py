"""Activation specs: the function, its derivative and where it has kinks.

Pure NumPy. An :class:`Activation` is everything the rest of initscope needs to know
about a nonlinearity phi to compute gains and mean-field maps: ``phi`` and ``phi'`` as
vectorised float64 functions, and the points where either is not smooth (so that
quadrature can split the real line there instead of converging slowly across a kink).

Activations are found by name in a registry (``activation("gelu")``), or built from any
NumPy callable (``activation(np.tanh)``); the derivative of a callable is taken by central
differences when it is not given. Torch modules and functions are adapted in
``initscope._torch_activation`` (autograd derivatives), keeping this module free of torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
ArrayFn = Callable[[Array], Array]

__all__ = [
    "Activation",
    "ActivationSpec",
    "activation",
    "activation_names",
    "from_callable",
]


@dataclass(frozen=True)
class Activation:
    """A scalar nonlinearity phi with its derivative.

    Attributes:
        name: display name, e.g. ``"leaky_relu(0.2)"``.
        fn: phi, vectorised over float64 arrays.
        derivative: phi', vectorised over float64 arrays (almost everywhere).
        breakpoints: points where phi or phi' is not smooth; quadrature splits there.
        torch_name: the name ``torch.nn.init.calculate_gain`` knows it by, if any.
        torch_gain: the value ``torch.nn.init.calculate_gain`` gives it (torch's
            historical table: tanh 5/3, selu 3/4), if any.
        param: the parameter it was built with (slope, alpha, beta), if any.
        smooth_known: whether ``breakpoints`` is known to list every kink (true for the
            registry; false for a callable given without breakpoints, whose quadrature is
            then verified).
        key: the registry name (``"leaky_relu"`` for ``"leaky_relu(0.2)"``); None for a
            callable.
        bounds: the range (low, high) of a bounded activation, which saturates near
            its ends (tanh, sigmoid, hardtanh, ...); None for unbounded ones.
        dies: whether a unit can be dead: phi is 0 on a half-line (ReLU, ReLU6).
    """

    name: str
    fn: ArrayFn = field(repr=False, compare=False)
    derivative: ArrayFn = field(repr=False, compare=False)
    breakpoints: tuple[float, ...] = ()
    torch_name: str | None = None
    torch_gain: float | None = None
    param: float | None = None
    smooth_known: bool = True
    key: str | None = None
    bounds: tuple[float, float] | None = None
    dies: bool = False

    def __call__(self, x: Array) -> Array:
        return self.fn(np.asarray(x, dtype=np.float64))


def _sigmoid(x: Array) -> Array:
    # Stable for large |x|: never exponentiates a large positive number.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: Array, beta: float = 1.0) -> Array:
    return np.logaddexp(0.0, beta * x) / beta


_ERF = np.vectorize(math.erf, otypes=[np.float64])
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# SELU constants, Klambauer et al. 2017, eq. 14 (the values torch.nn.SELU uses).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _identity() -> Activation:
    return Activation("identity", lambda x: x, np.ones_like, torch_name="linear",
                      torch_gain=1.0)


def _relu() -> Activation:
    return Activation(
        "relu",
        lambda x: np.maximum(x, 0.0),
        lambda x: (x > 0).astype(np.float64),
        breakpoints=(0.0,),
        torch_name="relu",
        torch_gain=math.sqrt(2.0),
        dies=True,
    )


def _leaky_relu(slope: float) -> Activation:
    return Activation(
        f"leaky_relu({slope:g})",
        lambda x: np.where(x > 0, x, slope * x),
        lambda x: np.where(x > 0, 1.0, slope),
        breakpoints=(0.0,),
        torch_name="leaky_relu",
        # torch's sqrt(2 / (1 + slope^2)); past 1e150 slope^2 overflows (torch raises)
        torch_gain=math.sqrt(2.0 / (1.0 + slope**2)) if abs(slope) < 1e150 else None,
        param=slope,
    )


def _relu6() -> Activation:
    return Activation(
        "relu6",
        lambda x: np.clip(x, 0.0, 6.0),
        lambda x: ((x > 0) & (x < 6)).astype(np.float64),
        breakpoints=(0.0, 6.0),
        dies=True,
    )


def _elu(alpha: float) -> Activation:
    return Activation(
        f"elu({alpha:g})",
        lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
        lambda x: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))),
        breakpoints=(0.0,),
        param=alpha,
    )


def _celu(alpha: float) -> Activation:
    return Activation(
        f"celu({alpha:g})",
        lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0) / alpha)),
        lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)),
        breakpoints=(0.0,),
        param=alpha,
    )


def _selu() -> Activation:
    a, s = SELU_ALPHA, SELU_SCALE
    return Activation(
        "selu",
        lambda x: s * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0))),
        lambda x: s * np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0.0))),
        breakpoints=(0.0,),
        torch_name="selu",
        torch_gain=3.0 / 4.0,
    )


def _gelu() -> Activation:
    # Hendrycks & Gimpel 2016: x * Phi(x), Phi the standard normal CDF.
    def cdf(x: Array) -> Array:
        return np.asarray(0.5 * (1.0 + _ERF(x / _SQRT2)), dtype=np.float64)

    return Activation(
        "gelu",
        lambda x: x * cdf(x),
        lambda x: cdf(x) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x),
    )


def _erf() -> Activation:
    # The erf network of Williams 1997, whose kernels have closed forms (mean-field oracle).
    return Activation(
        "erf",
        lambda x: np.asarray(_ERF(x), dtype=np.float64),
        lambda x: 2.0 * _INV_SQRT_2PI * _SQRT2 * np.exp(-x * x),
        bounds=(-1.0, 1.0),
    )


def _gelu_tanh() -> Activation:
    # The tanh approximation (torch.nn.GELU(approximate="tanh")).
    k = math.sqrt(2.0 / math.pi)

    def inner(x: Array) -> Array:
        return k * (x + 0.044715 * x**3)

    def deriv(x: Array) -> Array:
        t = np.tanh(inner(x))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3 * 0.044715 * x * x)

    return Activation("gelu_tanh", lambda x: 0.5 * x * (1.0 + np.tanh(inner(x))), deriv)


def _silu() -> Activation:
    return Activation(
        "silu",
        lambda x: x * _sigmoid(x),
        lambda x: _sigmoid(x) * (1.0 + x * (1.0 - _sigmoid(x))),
    )


def _mish() -> Activation:
    # Misra 2019: x * tanh(softplus(x)).
    def deriv(x: Array) -> Array:
        t = np.tanh(_softplus(x))
        return t + x * (1.0 - t * t) * _sigmoid(x)

    return Activation("mish", lambda x: x * np.tanh(_softplus(x)), deriv)


def _softplus_act(beta: float) -> Activation:
    return Activation(
        f"softplus({beta:g})",
        lambda x: _softplus(x, beta),
        lambda x: _sigmoid(beta * x),
        param=beta,
    )


def _tanh() -> Activation:
    return Activation(
        "tanh", lambda x: np.tanh(x), lambda x: 1.0 - np.tanh(x) ** 2, torch_name="tanh",
        torch_gain=5.0 / 3.0, bounds=(-1.0, 1.0),
    )


def _sigmoid_act() -> Activation:
    return Activation(
        "sigmoid",
        _sigmoid,
        lambda x: _sigmoid(x) * (1.0 - _sigmoid(x)),
        torch_name="sigmoid",
        torch_gain=1.0,
        bounds=(0.0, 1.0),
    )


def _hardtanh() -> Activation:
    return Activation(
        "hardtanh",
        lambda x: np.clip(x, -1.0, 1.0),
        lambda x: (np.abs(x) < 1).astype(np.float64),
        breakpoints=(-1.0, 1.0),
        bounds=(-1.0, 1.0),
    )


def _hardsigmoid() -> Activation:
    return Activation(
        "hardsigmoid",
        lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
        lambda x: np.where(np.abs(x) < 3, 1.0 / 6.0, 0.0),
        breakpoints=(-3.0, 3.0),
        bounds=(0.0, 1.0),
    )


def _hardswish() -> Activation:
    # Howard et al. 2019 (MobileNetV3): x * relu6(x + 3) / 6.
    return Activation(
        "hardswish",
        lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        lambda x: np.where(x <= -3, 0.0, np.where(x >= 3, 1.0, (2.0 * x + 3.0) / 6.0)),
        breakpoints=(-3.0, 3.0),
    )


def _softsign() -> Activation:
    # Bergstra et al. 2009; one of Glorot & Bengio 2010's three activations.
    return Activation(
        "softsign",
        lambda x: x / (1.0 + np.abs(x)),
        lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
        breakpoints=(0.0,),
        bounds=(-1.0, 1.0),
    )


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., Activation]
    default: float | None = None  # None: takes no parameter
    param_name: str | None = None


_REGISTRY: dict[str, _Entry] = {
    "identity": _Entry(_identity),
    "relu": _Entry(_relu),
    "leaky_relu": _Entry(_leaky_relu, 0.01, "negative slope"),
    "relu6": _Entry(_relu6),
    "elu": _Entry(_elu, 1.0, "alpha"),
    "selu": _Entry(_selu),
    "celu": _Entry(_celu, 1.0, "alpha"),
    "gelu": _Entry(_gelu),
    "erf": _Entry(_erf),
    "gelu_tanh": _Entry(_gelu_tanh),
    "silu": _Entry(_silu),
    "mish": _Entry(_mish),
    "softplus": _Entry(_softplus_act, 1.0, "beta"),
    "tanh": _Entry(_tanh),
    "sigmoid": _Entry(_sigmoid_act),
    "hardtanh": _Entry(_hardtanh),
    "hardsigmoid": _Entry(_hardsigmoid),
    "hardswish": _Entry(_hardswish),
    "softsign": _Entry(_softsign),
}

_ALIASES: dict[str, str] = {
    "linear": "identity",
    "swish": "silu",
    "leakyrelu": "leaky_relu",
    "gelu_erf": "gelu",
    "gelu_new": "gelu_tanh",
    "hard_tanh": "hardtanh",
    "hard_swish": "hardswish",
    "hard_sigmoid": "hardsigmoid",
    # torch.nn.init.calculate_gain treats convolutions as linear maps.
    "conv1d": "identity",
    "conv2d": "identity",
    "conv3d": "identity",
    "conv_transpose1d": "identity",
    "conv_transpose2d": "identity",
    "conv_transpose3d": "identity",
}


def activation_names() -> list[str]:
    """All names :func:`activation` accepts, aliases included, sorted."""
    return sorted([*_REGISTRY, *_ALIASES])


def _by_name(name: str, param: float | None) -> Activation:
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    entry = _REGISTRY.get(key)
    if entry is None:
        raise ValueError(
            f"unknown activation {name!r}; known names: {', '.join(activation_names())}"
            " (or pass a callable or a torch.nn.Module)"
        )
    if entry.default is None:
        if param is not None:
            raise ValueError(f"activation {name!r} takes no parameter; got param={param!r}")
        return replace(entry.build(), key=key)
    value = entry.default if param is None else param
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(
            f"param of {name!r} is its {entry.param_name} and must be a finite number;"
            f" got {value!r}"
        )
    if key in ("elu", "celu", "softplus") and value <= 0:
        raise ValueError(f"param of {name!r} ({entry.param_name}) must be > 0; got {value!r}")
    return replace(entry.build(float(value)), key=key)


def _central_difference(fn: ArrayFn) -> ArrayFn:
    def derivative(x: Array) -> Array:
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        return (fn(x + h) - fn(x - h)) / (2.0 * h)

    return derivative


def _checked(fn: Callable[[Array], object], name: str) -> ArrayFn:
    def call(x: Array) -> Array:
        out = np.asarray(fn(x), dtype=np.float64)
        if out.shape != x.shape:
            raise ValueError(
                f"activation {name} must be elementwise: input shape {x.shape}, "
                f"output shape {out.shape}"
            )
        return out

    return call


def require_elementwise(f: ArrayFn, name: str) -> None:
    """Raise unless ``f`` acts on each value alone, phi(x)_i = phi(x_i): changing one
    input leaves the other outputs as they were, and a column gives what a row gives.
    A gain is defined for such functions only; softmax and normalizations mix values
    (``gain(nn.Softmax(-1))`` would otherwise return the moment of a constant)."""
    x = np.linspace(-2.0, 2.0, 7)
    y = f(x)
    moved = x.copy()
    moved[3] += 0.5
    y_moved = f(moved)
    try:
        column = f(x.reshape(7, 1)).reshape(7)
    except Exception as e:  # e.g. a LayerNorm over a last axis of 7
        raise ValueError(
            f"activation {name} is not elementwise: it cannot map a column of the values it "
            f"maps as a row ({type(e).__name__}: {e})") from e
    others = np.arange(7) != 3

    def same(u: Array, v: Array) -> bool:
        return bool(np.allclose(u, v, rtol=1e-9, atol=1e-12, equal_nan=True))

    if not (same(y[others], y_moved[others]) and same(column, y)):
        raise ValueError(
            f"activation {name} is not elementwise: its output at one position depends on "
            "the other inputs (softmax, a normalization, a layer with weights?); gains are "
            "defined for elementwise nonlinearities phi(x)_i = phi(x_i)"
        )


def from_callable(
    fn: Callable[[Array], object],
    derivative: Callable[[Array], object] | None = None,
    *,
    name: str | None = None,
    breakpoints: tuple[float, ...] = (),
) -> Activation:
    """An :class:`Activation` from an elementwise NumPy callable.

    ``derivative`` defaults to central differences with step ``1e-5 * max(1, |x|)``
    (error of order 1e-10 for smooth phi). Give ``breakpoints`` where phi has kinks.

    >>> import numpy as np
    >>> act = from_callable(np.tanh, name="tanh")
    >>> round(float(act.derivative(np.array([0.0]))[0]), 6)
    1.0
    """
    label = name or getattr(fn, "__name__", None) or type(fn).__name__
    f = _checked(fn, label)
    # Probe once so a non-elementwise or non-numeric callable fails here, not mid-quadrature.
    require_elementwise(f, label)
    d = _checked(derivative, label) if derivative is not None else _central_difference(f)
    return Activation(
        label,
        f,
        d,
        breakpoints=tuple(float(b) for b in breakpoints),
        smooth_known=bool(breakpoints),
    )


ActivationSpec = str | Activation | Callable[..., object]


def activation(spec: ActivationSpec, param: float | None = None) -> Activation:
    """Resolve a name, an :class:`Activation` or a NumPy callable to an :class:`Activation`.

    >>> activation("leaky_relu", 0.2).name
    'leaky_relu(0.2)'
    >>> activation("swish").name
    'silu'
    """
    if isinstance(spec, Activation):
        if param is not None:
            raise ValueError("param is only used with an activation name")
        return spec
    if isinstance(spec, str):
        return _by_name(spec, param)
    if callable(spec):
        if param is not None:
            raise ValueError("param is only used with an activation name")
        return from_callable(spec)
    raise TypeError(
        f"activation must be a name, an Activation or a callable; got {type(spec).__name__}"
    )
