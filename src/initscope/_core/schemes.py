"""Named schemes as specialisations of :class:`VarianceScaling`.

Each line cites where the scheme comes from; none computes its own std. The builders
are pure and cached (a rule is immutable), so building one per call costs nothing.
"""

from __future__ import annotations

from functools import lru_cache

from .scaling import Distribution, Mode, VarianceScaling


@lru_cache(maxsize=256)
def xavier(gain: float = 1.0, distribution: Distribution = "uniform") -> VarianceScaling:
    """Glorot & Bengio 2010 ("normalized" init, eq. 16): Var = gain^2 * 2 / (fan_in + fan_out)."""
    return VarianceScaling(gain * gain, "fan_avg", distribution)  # (inf, not OverflowError)


@lru_cache(maxsize=256)
def he(
    gain: float = 2.0**0.5, mode: Mode = "fan_in", distribution: Distribution = "normal"
) -> VarianceScaling:
    """He et al. 2015, eq. 10 (fan_in) / eq. 14 (fan_out): Var = gain^2 / fan."""
    return VarianceScaling(gain * gain, mode, distribution)


@lru_cache(maxsize=256)
def lecun(distribution: Distribution = "truncated_normal") -> VarianceScaling:
    """LeCun et al. 1998, "Efficient BackProp" sec. 4.6: Var = 1 / fan_in."""
    return VarianceScaling(1.0, "fan_in", distribution)


@lru_cache(maxsize=256)
def glorot_standard() -> VarianceScaling:
    """Glorot & Bengio 2010's "standard" U[-1/sqrt(fan_in), 1/sqrt(fan_in)] (eq. 1).

    Var = 1 / (3 fan_in). It is also what ``nn.Linear`` and ``nn.Conv*d`` do by default
    (``kaiming_uniform_(a=sqrt(5))``: gain^2 = 2 / (1 + 5) = 1/3).
    """
    return VarianceScaling(1.0 / 3.0, "fan_in", "uniform")


#: torch's default for nn.Linear / nn.Conv*d weights is Glorot's standard init.
torch_default = glorot_standard
