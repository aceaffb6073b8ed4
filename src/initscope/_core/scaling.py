"""The one formula: variance scaling.

Every random scheme in initscope draws weights with mean 0 and

    Var[w] = scale / n,    n = fan_in | fan_out | (fan_in + fan_out) / 2,

from a uniform, normal or truncated normal distribution (jax.nn.initializers'
``variance_scaling``; Glorot & Bengio 2010 eq. 16, He et al. 2015 eq. 10 and LeCun et al.
1998 are each one choice of scale and mode). For a truncated normal the underlying normal
is widened by 1 / std(N(0,1) truncated to [-2, 2]) so that the *result* has the variance
asked for; that constant is computed here from the normal CDF, not pasted.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from .fans import Fans

Mode = Literal["fan_in", "fan_out", "fan_avg"]
Distribution = Literal["uniform", "normal", "truncated_normal"]
MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "normal", "truncated_normal")

#: A truncated normal is cut at this many standard deviations of its underlying normal
#: (as in jax, Keras and TensorFlow).
TRUNCATION = 2.0


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def truncated_normal_std(a: float = -TRUNCATION, b: float = TRUNCATION) -> float:
    """Standard deviation of N(0, 1) truncated to [a, b].

    Var = 1 + (a pdf(a) - b pdf(b)) / Z - ((pdf(a) - pdf(b)) / Z)^2, Z = cdf(b) - cdf(a)
    (Johnson, Kotz & Balakrishnan, *Continuous Univariate Distributions*, 1994, sec. 10.1).

    >>> round(truncated_normal_std(), 9)
    0.879625661
    """
    if not a < b:
        raise ValueError(f"truncation needs a < b; got a={a!r}, b={b!r}")
    z = _cdf(b) - _cdf(a)
    if z <= 0.0:
        raise ValueError(f"[{a}, {b}] holds no probability mass of N(0, 1)")
    pa = _pdf(a) if math.isfinite(a) else 0.0
    pb = _pdf(b) if math.isfinite(b) else 0.0
    ta = a * pa if math.isfinite(a) else 0.0
    tb = b * pb if math.isfinite(b) else 0.0
    mean = (pa - pb) / z
    return math.sqrt(1.0 + (ta - tb) / z - mean * mean)


@dataclass(frozen=True)
class Draw:
    """What to sample: a zero-mean ``distribution`` whose values have std ``std``.

    ``bound`` (uniform: U[-bound, bound]) and ``underlying_std`` (truncated normal:
    N(0, underlying_std^2) cut at +-TRUNCATION * underlying_std) are derived from it.
    """

    distribution: Distribution
    std: float

    @property
    def bound(self) -> float:
        """Half-width of the uniform (std * sqrt(3)); of the truncation for truncated normal."""
        if self.distribution == "uniform":
            return math.sqrt(3.0) * self.std
        if self.distribution == "truncated_normal":
            return TRUNCATION * self.underlying_std
        return math.inf

    def bound_in(self, dtype: DTypeLike) -> float:
        """The largest value of the NumPy ``dtype`` (float16, bfloat16 of ml_dtypes, ...)
        at most ``bound``: a clip to +-this after casting keeps every value inside the
        bound, where rounding the bound itself could step over it.

        >>> Draw("uniform", 0.1).bound_in("float16") <= Draw("uniform", 0.1).bound
        True
        """
        bound = self.bound
        v = np.asarray(bound, dtype=np.float64).astype(dtype)
        if math.isfinite(bound) and float(v) > bound:
            v = np.nextafter(v, np.asarray(-np.inf, dtype=v.dtype))
        return float(v)

    @property
    def underlying_std(self) -> float:
        """Std of the normal before truncation (equal to ``std`` when not truncated)."""
        if self.distribution == "truncated_normal":
            return self.std / truncated_normal_std()
        return self.std


def _positive(name: str, value: object) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class VarianceScaling:
    """Var[w] = scale / n(mode), sampled from ``distribution``. Validated when built.

    >>> from initscope import Fans
    >>> VarianceScaling(2.0, "fan_in", "normal").draw(Fans(512, 256, 1)).std
    0.0625
    """

    scale: float = 1.0
    mode: Mode = "fan_in"
    distribution: Distribution = "truncated_normal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _positive("scale", self.scale))
        # case-insensitive, as torch.nn.init (mode="FAN_OUT" is torch's "fan_out")
        for name in ("mode", "distribution"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, value.strip().lower())
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; valid: {', '.join(map(repr, MODES))}")
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"unknown distribution {self.distribution!r}; valid: "
                f"{', '.join(map(repr, DISTRIBUTIONS))}"
            )

    def draw(self, fans: Fans) -> Draw:
        """The :class:`Draw` for a weight with these fans."""
        n = {"fan_in": fans.fan_in, "fan_out": fans.fan_out, "fan_avg": fans.fan_avg}[self.mode]
        if not n > 0:
            raise ValueError(f"{self.mode} must be positive to scale a variance; got fans {fans}")
        return Draw(self.distribution, math.sqrt(self.scale / n))


def variance_scaling(
    scale: float, mode: Mode, distribution: Distribution, fans: Fans
) -> Draw:
    """The one formula: Var[w] = scale / n(mode), as a :class:`Draw`.

    >>> from initscope import fans
    >>> d = variance_scaling(1.0, "fan_avg", "uniform", fans((256, 512)))
    >>> round(d.bound, 6)  # Glorot & Bengio 2010, eq. 16: sqrt(6 / (fan_in + fan_out))
    0.088388
    """
    return VarianceScaling(scale, mode, distribution).draw(fans)
