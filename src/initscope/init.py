"""PyTorch initializers: a drop-in for ``torch.nn.init``, and the schemes it lacks.

Every public ``torch.nn.init`` function is here under the same name, signature and
semantics, so ``from initscope import init`` can replace ``from torch.nn import init``.
What differs, on purpose:

- fan-based functions take a keyword-only ``fans=``: a layout name
  (``"torch_conv_transpose"``), a :class:`~initscope.FanSpec` (groups, fused blocks,
  stacked experts) or explicit :class:`~initscope.Fans`, so transposed, grouped, fused and
  stacked weights get their real fans (``torch.nn.init`` swaps the fans of
  ``ConvTranspose`` weights and ignores groups);
- ``gain=`` accepts an activation name, callable or module as well as a number; a
  non-number gain is the **forward** gain 1/sqrt(E[phi(z)^2]) (see :func:`initscope.gain`);
- float16/bfloat16 tensors are sampled in float32 and cast once;
- ``trunc_normal_`` redraws only out-of-range entries (several times faster than torch's);
- integer tensors raise ``TypeError``; every error is raised before anything is written.

Added schemes: :func:`glorot_standard_`, :func:`he_uniform_`, :func:`he_normal_`,
:func:`lecun_uniform_`, :func:`lecun_normal_`, :func:`variance_scaling_`,
:func:`delta_orthogonal_` and :func:`torch_default_`. All random functions take
``generator=``. None computes its own std: each is a :class:`~initscope.VarianceScaling`
(the one formula) handed to one sampler.

Example:
    >>> import torch
    >>> from initscope import init
    >>> w = torch.empty(256, 512)
    >>> _ = init.xavier_uniform_(w, generator=torch.Generator().manual_seed(0))
    >>> bool(w.abs().max() <= (6 / (256 + 512)) ** 0.5)
    True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import wraps

import torch

from . import _torch_sampling as _s
from ._core import schemes as _schemes
from ._core._cache import memo
from ._core.fans import FanLike, resolve_fans
from ._core.gain import Criterion
from ._core.scaling import Distribution, Draw, Mode, VarianceScaling
from ._gain import GainLike, as_gain, resolve_activation
from ._gain import gain as _gain
from .rng import Stream, is_dtensor, on_full

__all__ = [
    "calculate_gain",
    "constant_",
    "critical_",
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "glorot_standard_",
    "he_normal_",
    "he_uniform_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "looks_linear_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "torch_default_",
    "trunc_normal_",
    "uniform_",
    "variance_scaling_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

Tensor = torch.Tensor
_has_torch_function = torch.overrides.has_torch_function_variadic
_handle_torch_function = torch.overrides.handle_torch_function
#: ``generator=``: a ``torch.Generator`` or a counter-based :class:`initscope.rng.Stream`
#: (world-size invariant values, also for ``DTensor`` shards).
Generator = torch.Generator | Stream


def _activation_gain(
    fn: str, spec: GainLike, criterion: Criterion | None = "forward", param: float | None = None
) -> float:
    """:func:`initscope._gain.as_gain`, with the calling function's name on its errors."""
    try:
        return as_gain(spec, criterion, param)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{fn}: {e}") from None


@memo(4096)
def _draw_of_layout(rule: VarianceScaling, shape: tuple[int, ...], layout: str) -> Draw:
    """The draw of ``rule`` for a weight of ``shape`` in a named layout: the common case
    of every fan-based scheme, in one cache lookup (a small tensor feels each step)."""
    return _s.draw_for(rule, resolve_fans(shape, layout))  # type: ignore[arg-type]


def _scaled(
    fn: str, tensor: Tensor, rule: VarianceScaling, generator: Generator | None, fans: FanLike
) -> Tensor:
    """The one path of every fan-based scheme: validate, fans, draw, sample."""
    _s.check_floating(tensor, fn)
    if not tensor.numel():
        return tensor
    shape = generator.global_shape(tensor) if isinstance(generator, Stream) else tensor.shape
    try:
        draw = _draw_of_layout(rule, tuple(shape), fans) if type(fans) is str else (
            _s.draw_for(rule, resolve_fans(tuple(shape), fans)))
    except (TypeError, ValueError) as e:
        raise type(e)(f"{fn}: {e}") from None
    reach = _s.extent(draw)
    if reach > _s.FLOAT16_MAX:  # (the common case skips the check: every dtype holds it)
        _s.check_in_range(fn, tensor, -reach, reach)
    if tensor.is_meta:
        return tensor
    _s.sample(tensor.detach(), draw, generator)
    return tensor


# --- plain distributions -------------------------------------------------------------
# Each writes through tensor.detach(): the same storage and version counter, so the same
# write as under torch.no_grad(), for less per-call cost (what small tensors feel).


def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with U(a, b). Same as ``torch.nn.init.uniform_``.

    >>> import torch
    >>> t = uniform_(torch.empty(3, 5), -1.0, 1.0)
    >>> bool(t.abs().max() <= 1)
    True
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            uniform_, (tensor,), tensor, a=a, b=b, generator=generator)
    _s.check_floating(tensor, "uniform_")
    lo, hi = _s.check_number("uniform_", "a", a), _s.check_number("uniform_", "b", b)
    if not lo <= hi:
        raise ValueError(f"uniform_: need a <= b; got a={a!r}, b={b!r}")
    _s.check_in_range("uniform_", tensor, lo, hi)
    _s.check_representable("uniform_", tensor, lo, hi)
    if _s.skip(tensor):
        return tensor
    _s.uniform(tensor.detach(), lo, hi, generator)
    return tensor


def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None
) -> Tensor:
    """Fill with N(mean, std^2). Same as ``torch.nn.init.normal_``."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            normal_, (tensor,), tensor, mean=mean, std=std, generator=generator)
    _s.check_floating(tensor, "normal_")
    m = _s.check_number("normal_", "mean", mean)
    s = _s.check_number("normal_", "std", std)
    if s < 0:
        raise ValueError(f"normal_: std must be >= 0; got {std!r}")
    # 8 std: beyond any draw of the float32 grid (5.3 std) or torch's (~6 std in 2^30)
    _s.check_in_range("normal_", tensor, m - 8 * s, m + 8 * s)
    if _s.skip(tensor):
        return tensor
    _s.normal(tensor.detach(), m, s, generator)
    return tensor


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: Generator | None = None,
) -> Tensor:
    """Fill with N(mean, std^2) conditioned on [a, b] (absolute bounds, as in torch).

    Note the *result* has a smaller std than ``std``; for a truncated normal with an exact
    target variance use :func:`variance_scaling_`.
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            trunc_normal_, (tensor,), tensor, mean=mean, std=std, a=a, b=b, generator=generator)
    fn = "trunc_normal_"
    _s.check_floating(tensor, fn)
    m = _s.check_number(fn, "mean", mean)
    s = _s.check_number(fn, "std", std, positive=True)
    lo, hi = _s.check_number(fn, "a", a), _s.check_number(fn, "b", b)
    if not lo < hi:
        raise ValueError(f"{fn}: need a < b; got a={a!r}, b={b!r}")
    _s.check_in_range(fn, tensor, max(lo, m - 8 * s), min(hi, m + 8 * s))
    _s.check_representable(fn, tensor, lo, hi)
    if _s.skip(tensor):
        return tensor
    _s.trunc_normal(tensor.detach(), m, s, lo, hi, generator)
    return tensor


# --- deterministic fills -------------------------------------------------------------


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``. Every unit of a layer is then identical: see the symmetry
    reproduction for why this never trains."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            constant_, (tensor,), tensor, val=val)
    value = _s.check_number("constant_", "val", val)
    if isinstance(tensor, Tensor):
        _s.check_in_range("constant_", tensor, value, value)
    return _fill(tensor, value, "constant_")


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(ones_, (tensor,), tensor)
    return _fill(tensor, 1.0, "ones_")


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(zeros_, (tensor,), tensor)
    return _fill(tensor, 0.0, "zeros_")


def _fill(tensor: Tensor, value: float, fn: str) -> Tensor:
    _s.check_floating(tensor, fn)
    if tensor.is_meta:
        return tensor
    # detach() shares the storage (and its version counter): the same write as under
    # no_grad, for a third of the per-call cost (benchmarks/results/design_measurements.md)
    out = tensor.detach()
    if value == 0.0 and math.copysign(1.0, value) > 0:
        out.zero_()  # memset
    else:
        out.fill_(value)
    return tensor


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (rectangular allowed), as ``torch.nn.init.eye_``."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(eye_, (tensor,), tensor)
    _s.check_floating(tensor, "eye_")
    if tensor.dim() != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported; got shape {tuple(tensor.shape)}")
    if _s.skip(tensor):
        return tensor
    def fill(t: Tensor, _: object) -> None:
        t.zero_()
        t.diagonal().fill_(1.0)

    if not is_dtensor(tensor):  # the common case, one op, without on_full's bookkeeping
        torch.eye(*tensor.shape, out=tensor.detach())
        return tensor
    with torch.no_grad():
        on_full(tensor, fill, None)
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3/4/5-D conv weight with the Dirac delta (identity convolution), preserving
    as many channels as possible in each of ``groups`` groups, as ``torch.nn.init.dirac_``."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            dirac_, (tensor,), tensor, groups=groups)
    _s.check_floating(tensor, "dirac_")
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"dirac_: only 3, 4 and 5-D tensors are supported; got shape {shape}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or \
            shape[0] % groups:
        raise ValueError(
            f"dirac_: groups must be an int >= 1 dividing dim 0 ({shape[0]}); got {groups!r}"
        )
    if _s.skip(tensor):
        return tensor
    per_group = shape[0] // groups
    n = min(per_group, shape[1])
    centre = tuple(k // 2 for k in shape[2:])
    def fill(t: Tensor, _: object) -> None:
        t.zero_()
        d = torch.arange(n, device=t.device)
        for g in range(groups):
            index: tuple[torch.Tensor | int, ...] = (g * per_group + d, d, *centre)
            t[index] = 1.0

    with torch.no_grad():
        on_full(tensor, fill, None)
    return tensor


# --- variance scaling: the named schemes -----------------------------------------------


def variance_scaling_(
    tensor: Tensor,
    scale: float = 1.0,
    mode: Mode = "fan_in",
    distribution: Distribution = "truncated_normal",
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """The one formula: Var[w] = scale / n(mode), n in {fan_in, fan_out, (fan_in+fan_out)/2}.

    A truncated normal is cut at +-2 std of its underlying normal, widened so the result
    has exactly the variance asked for (jax.nn.initializers.variance_scaling).

    >>> import torch
    >>> w = variance_scaling_(torch.empty(512, 1024), 2.0, "fan_in", "normal",
    ...                       generator=torch.Generator().manual_seed(0))
    >>> round(w.var().item() * 1024, 1)
    2.0
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            variance_scaling_, (tensor,), tensor, scale=scale, mode=mode,
            distribution=distribution, generator=generator, fans=fans)
    try:
        rule = VarianceScaling(scale, mode, distribution)
    except ValueError as e:
        raise ValueError(f"variance_scaling_: {e}") from None
    return _scaled("variance_scaling_", tensor, rule, generator, fans)


def xavier_uniform_(
    tensor: Tensor,
    gain: GainLike = 1.0,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """Glorot & Bengio 2010, eq. 16: U[-a, a], a = gain * sqrt(6 / (fan_in + fan_out)).

    ``gain`` may name an activation (its forward gain). Same as
    ``torch.nn.init.xavier_uniform_`` for torch-layout weights.
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            xavier_uniform_, (tensor,), tensor, gain=gain, generator=generator, fans=fans)
    rule = _schemes.xavier(_activation_gain("xavier_uniform_", gain), "uniform")
    return _scaled("xavier_uniform_", tensor, rule, generator, fans)


def xavier_normal_(
    tensor: Tensor,
    gain: GainLike = 1.0,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """Glorot & Bengio 2010: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            xavier_normal_, (tensor,), tensor, gain=gain, generator=generator, fans=fans)
    rule = _schemes.xavier(_activation_gain("xavier_normal_", gain), "normal")
    return _scaled("xavier_normal_", tensor, rule, generator, fans)


def _kaiming_gain(
    fn: str, a: float, nonlinearity: GainLike, criterion: Criterion | None
) -> float:
    """torch's names give torch's gains (drop-in); other activations the forward gain.
    ``a`` is the slope of leaky_relu and ignored otherwise, as in torch."""
    slope = _s.check_number(fn, "a", a)
    leaky = isinstance(nonlinearity, str) and nonlinearity.strip().lower() == "leaky_relu"
    if leaky and not abs(slope) < 1e150:  # torch: OverflowError from slope ** 2
        raise ValueError(f"{fn}: a={a!r} (the leaky_relu slope) makes the gain "
                         "sqrt(2 / (1 + a^2)) underflow to 0")
    return _activation_gain(fn, nonlinearity, criterion, slope if leaky else None)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: Mode = "fan_in",
    nonlinearity: GainLike = "leaky_relu",
    generator: Generator | None = None,
    *,
    criterion: Criterion | None = None,
    fans: FanLike = "torch",
) -> Tensor:
    """He et al. 2015: U[-b, b], b = gain * sqrt(3 / fan_mode).

    ``nonlinearity`` is any activation; ``a`` is the leaky_relu slope. With
    ``criterion=None`` the names torch knows get torch's gain (drop-in: tanh 5/3) and every
    other activation its forward gain; pass ``criterion="forward"`` for the forward gain
    everywhere. ``mode="fan_avg"`` is also accepted.
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            kaiming_uniform_, (tensor,), tensor, a=a, mode=mode, nonlinearity=nonlinearity,
            generator=generator, criterion=criterion, fans=fans)
    fn = "kaiming_uniform_"
    if isinstance(tensor, Tensor) and 0 in tensor.shape:  # as torch.nn.init warns
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        _s.check_floating(tensor, fn)
        return tensor
    rule = _schemes.he(_kaiming_gain(fn, a, nonlinearity, criterion), mode, "uniform")
    return _scaled(fn, tensor, rule, generator, fans)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: Mode = "fan_in",
    nonlinearity: GainLike = "leaky_relu",
    generator: Generator | None = None,
    *,
    criterion: Criterion | None = None,
    fans: FanLike = "torch",
) -> Tensor:
    """He et al. 2015, eq. 10: N(0, std^2), std = gain / sqrt(fan_mode). See
    :func:`kaiming_uniform_` for ``nonlinearity`` and ``criterion``."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            kaiming_normal_, (tensor,), tensor, a=a, mode=mode, nonlinearity=nonlinearity,
            generator=generator, criterion=criterion, fans=fans)
    fn = "kaiming_normal_"
    if isinstance(tensor, Tensor) and 0 in tensor.shape:  # as torch.nn.init warns
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        _s.check_floating(tensor, fn)
        return tensor
    rule = _schemes.he(_kaiming_gain(fn, a, nonlinearity, criterion), mode, "normal")
    return _scaled(fn, tensor, rule, generator, fans)


def _he(
    fn: str,
    distribution: Distribution,
    tensor: Tensor,
    activation: GainLike,
    generator: Generator | None,
    mode: Mode,
    criterion: Criterion,
    fans: FanLike,
) -> Tensor:
    g = _activation_gain(fn, activation, criterion)
    try:
        rule = _schemes.he(g, mode, distribution)
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None
    return _scaled(fn, tensor, rule, generator, fans)


def he_uniform_(
    tensor: Tensor,
    activation: GainLike = "relu",
    generator: Generator | None = None,
    *,
    mode: Mode = "fan_in",
    criterion: Criterion = "forward",
    fans: FanLike = "torch",
) -> Tensor:
    """He et al. 2015 for any activation: U[-b, b], b = sqrt(3) * gain / sqrt(fan_mode),
    gain computed for ``activation`` (forward criterion by default; use
    ``mode="fan_out", criterion="backward"`` for the backward condition)."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            he_uniform_, (tensor,), tensor, activation=activation, generator=generator, mode=mode,
            criterion=criterion, fans=fans)
    return _he("he_uniform_", "uniform", tensor, activation, generator, mode, criterion, fans)


def he_normal_(
    tensor: Tensor,
    activation: GainLike = "relu",
    generator: Generator | None = None,
    *,
    mode: Mode = "fan_in",
    criterion: Criterion = "forward",
    fans: FanLike = "torch",
) -> Tensor:
    """He et al. 2015 for any activation: N(0, gain^2 / fan_mode). See :func:`he_uniform_`.

    >>> import torch
    >>> w = he_normal_(torch.empty(1024, 1024), "gelu", torch.Generator().manual_seed(0))
    >>> from initscope import gain
    >>> abs(w.std().item() * 32 / gain("gelu") - 1) < 0.01
    True
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            he_normal_, (tensor,), tensor, activation=activation, generator=generator, mode=mode,
            criterion=criterion, fans=fans)
    return _he("he_normal_", "normal", tensor, activation, generator, mode, criterion, fans)


def lecun_uniform_(
    tensor: Tensor,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """LeCun et al. 1998: U[-b, b], b = sqrt(3 / fan_in) (variance 1 / fan_in)."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            lecun_uniform_, (tensor,), tensor, generator=generator, fans=fans)
    rule = _schemes.lecun("uniform")
    return _scaled("lecun_uniform_", tensor, rule, generator, fans)


def lecun_normal_(
    tensor: Tensor,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """LeCun et al. 1998: N(0, 1 / fan_in). (The SELU paper's init; jax truncates it,
    use ``variance_scaling_(t, 1.0, "fan_in", "truncated_normal")`` for that.)"""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            lecun_normal_, (tensor,), tensor, generator=generator, fans=fans)
    rule = _schemes.lecun("normal")
    return _scaled("lecun_normal_", tensor, rule, generator, fans)


def glorot_standard_(
    tensor: Tensor,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """Glorot & Bengio 2010's "standard" init, eq. 1: U[-1/sqrt(fan_in), 1/sqrt(fan_in)].

    Variance 1 / (3 fan_in): a third of what keeps a linear layer's variance, so signals
    shrink with depth (the paper's Fig. 6).
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            glorot_standard_, (tensor,), tensor, generator=generator, fans=fans)
    rule = _schemes.glorot_standard()
    return _scaled("glorot_standard_", tensor, rule, generator, fans)


def torch_default_(
    tensor: Tensor,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """What ``nn.Linear`` / ``nn.Conv*d`` do to their weight by default.

    ``kaiming_uniform_(w, a=sqrt(5))`` is U[-1/sqrt(fan_in), 1/sqrt(fan_in)]: variance
    1 / (3 fan_in), the same as :func:`glorot_standard_`. (For ``ConvTranspose`` torch
    uses its swapped fan; here ``fans="torch_conv_transpose"`` gives the real one.)
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            torch_default_, (tensor,), tensor, generator=generator, fans=fans)
    rule = _schemes.torch_default()
    return _scaled("torch_default_", tensor, rule, generator, fans)


def critical_(
    tensor: Tensor,
    activation: GainLike = "tanh",
    sigma_b2: float = 0.0,
    generator: Generator | None = None,
    *,
    fans: FanLike = "torch",
) -> Tensor:
    """N(0, sigma_w2* / fan_in), sigma_w2* the critical weight variance of ``activation``
    at bias variance ``sigma_b2``: chi_1 = 1, the edge of chaos, where signals neither
    order nor become chaotic with depth (Schoenholz et al. 2017). Draw the layer's bias
    from N(0, sigma_b2) to match, e.g. ``init.normal_(bias, 0, sigma_b2 ** 0.5)``.

    >>> import torch
    >>> w = critical_(torch.empty(512, 1024), "tanh", 0.05, torch.Generator().manual_seed(0))
    >>> round(w.var().item() * 1024, 1)   # sigma_w2* = 1.76 for tanh at sigma_b2 = 0.05
    1.8
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            critical_, (tensor,), tensor, activation=activation, sigma_b2=sigma_b2,
            generator=generator, fans=fans)
    from .theory.meanfield import critical_sigma_w2

    fn = "critical_"
    if isinstance(activation, (int, float)):
        raise TypeError(f"{fn}: activation must be a name, callable or module, not a number")
    _s.check_number(fn, "sigma_b2", sigma_b2)
    try:
        sw2 = critical_sigma_w2(resolve_activation(activation), sigma_b2)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{fn}: {e}") from None
    return _scaled(fn, tensor, VarianceScaling(sw2, "fan_in", "normal"), generator, fans)


# --- orthogonal family ---------------------------------------------------------------


def _orthogonal_matrix(
    rows: int, cols: int, dtype: torch.dtype, device: torch.device, generator: Generator | None
) -> Tensor:
    """A uniformly (Haar) distributed matrix with orthonormal rows or columns
    (Mezzadri 2007: QR of a Gaussian matrix with the signs of R's diagonal fixed)."""
    flat = _s.normal(torch.empty(rows, cols, dtype=dtype, device=device), 0.0, 1.0, generator)
    if rows < cols:
        flat = flat.t()
    q, r = torch.linalg.qr(flat)
    q *= torch.sign(torch.diagonal(r, 0))
    out: Tensor = q.t() if rows < cols else q
    return out


def orthogonal_(tensor: Tensor, gain: GainLike = 1, generator: Generator | None = None) -> Tensor:
    """Saxe et al. 2014: a (semi-)orthogonal matrix times ``gain``; tensors with more than
    2 dims are flattened to (shape[0], rest). Same as ``torch.nn.init.orthogonal_``, and
    also for float16/bfloat16 (computed in float32)."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            orthogonal_, (tensor,), tensor, gain=gain, generator=generator)
    _s.check_floating(tensor, "orthogonal_")
    if tensor.dim() < 2:
        raise ValueError(
            f"orthogonal_: only tensors with 2 or more dimensions are supported; got shape "
            f"{tuple(tensor.shape)}"
        )
    g = _activation_gain("orthogonal_", gain)
    if _s.skip(tensor):
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    work = torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype
    def fill(t: Tensor, gen: Generator | None) -> None:
        q = _orthogonal_matrix(rows, cols, work, t.device, gen)
        if t.dtype == work:  # scale in place: no temporary (bit-equal to q * g)
            t.copy_(q.reshape(t.shape))
            if g != 1:
                t.mul_(g)
        else:  # scale in float32, round once
            t.copy_(q.reshape(t.shape) * g)

    if not is_dtensor(tensor) and not isinstance(generator, Stream):
        fill(tensor.detach(), generator)  # the common case, without on_full's bookkeeping
        return tensor
    with torch.no_grad():
        on_full(tensor, fill, generator)
    return tensor


def delta_orthogonal_(
    tensor: Tensor, gain: GainLike = 1.0, generator: Generator | None = None
) -> Tensor:
    """Xiao et al. 2018, "Dynamical Isometry and a Mean Field Theory of CNNs", Alg. 1:
    zero everywhere but the kernel's centre tap, which holds ``gain`` times an orthogonal
    (out, in) matrix. A conv so initialized is norm-preserving at init (out >= in).
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            delta_orthogonal_, (tensor,), tensor, gain=gain, generator=generator)
    _s.check_floating(tensor, "delta_orthogonal_")
    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError(
            f"delta_orthogonal_: expects a conv weight (out, in, *kernel) with 1-3 kernel dims;"
            f" got shape {shape}"
        )
    g = _activation_gain("delta_orthogonal_", gain)
    if _s.skip(tensor):
        return tensor
    work = torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype
    centre = tuple(k // 2 for k in shape[2:])
    def fill(t: Tensor, gen: Generator | None) -> None:
        q = _orthogonal_matrix(shape[0], shape[1], work, t.device, gen)
        t.zero_()
        index: tuple[slice | int, ...] = (slice(None), slice(None), *centre)
        t[index] = q * g

    with torch.no_grad():
        on_full(tensor, fill, generator)
    return tensor


def looks_linear_(
    tensor: Tensor,
    gain: GainLike = 1.0,
    *,
    mirror_in: bool = True,
    mirror_out: bool = True,
    generator: Generator | None = None,
) -> Tensor:
    """Balduzzi et al. 2017, "The Shattered Gradients Problem" (sec. 5, "looks linear"):
    W = s_out (x) s_in (x) A with s = [1, -1] on a mirrored axis and [1] otherwise; for a
    hidden layer W = [[A, -A], [-A, A]]. Units come in pairs (z, -z): a layer reads
    phi(z) - phi(-z) = psi(z) of its mirrored input (psi(z) = z for ReLU, GELU, SiLU,
    Hardswish) and writes (A psi(z), -A psi(z)), so a chain so initialized is a product
    of orthogonal maps at init: its second moment stays put at any depth and correlations
    are kept. ``mirror_in``: the input holds mirrored pairs (halves of dim 1);
    ``mirror_out``: write them (halves of dim 0); the first layer of a chain mirrors only
    its output, the last only its input.

    A is ``gain`` times an orthogonal (out', in' x kernel) matrix (out' = out / 2 when
    mirrored, in' likewise), scaled by sqrt(out' / (in' x kernel)) where it has more rows
    than columns so that each unit keeps its second moment; for a convolution with
    out' >= in' and an odd kernel, a delta-orthogonal kernel (Xiao et al. 2018), which is
    norm-preserving. Element std: gain / sqrt(in' x kernel). The gain for a nonlinearity
    is :func:`initscope._core.gain.looks_linear_gain` (1 for the four above).

    >>> w = looks_linear_(torch.empty(4, 6), generator=torch.Generator().manual_seed(0))
    >>> bool(torch.equal(w[:2, :3], -w[:2, 3:])) and bool(torch.equal(w[:2], -w[2:]))
    True
    """
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            looks_linear_, (tensor,), tensor, gain=gain, mirror_in=mirror_in,
            mirror_out=mirror_out, generator=generator)
    _s.check_floating(tensor, "looks_linear_")
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"looks_linear_: expects a weight (out, in, *kernel); got shape {shape}")
    for axis, mirrored in ((0, mirror_out), (1, mirror_in)):
        if mirrored and shape[axis] % 2:
            raise ValueError(
                f"looks_linear_: mirror_{'out' if axis == 0 else 'in'} needs an even number of "
                f"{'outputs' if axis == 0 else 'inputs'}; got shape {shape}")
    g = _activation_gain("looks_linear_", gain)
    if _s.skip(tensor):
        return tensor
    out_h = shape[0] // 2 if mirror_out else shape[0]
    in_h = shape[1] // 2 if mirror_in else shape[1]
    kernel = shape[2:]
    taps = math.prod(kernel)
    work = torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) else tensor.dtype
    delta = bool(kernel) and out_h >= in_h and all(k % 2 for k in kernel)

    def fill(t: Tensor, gen: Generator | None) -> None:
        if delta:
            q = _orthogonal_matrix(out_h, in_h, work, t.device, gen) * math.sqrt(out_h / in_h)
            a = torch.zeros((out_h, in_h, *kernel), dtype=work, device=t.device)
            centre: tuple[slice | int, ...] = (slice(None), slice(None),
                                               *(k // 2 for k in kernel))
            a[centre] = q
        else:
            cols = in_h * taps
            q = _orthogonal_matrix(out_h, cols, work, t.device, gen)
            if out_h > cols:
                q = q * math.sqrt(out_h / cols)
            a = q.reshape(out_h, in_h, *kernel)
        a = a * g
        sign_in = (1, -1) if mirror_in else (1,)
        sign_out = (1, -1) if mirror_out else (1,)
        for i, so in enumerate(sign_out):
            for j, si in enumerate(sign_in):
                block = t[i * out_h:(i + 1) * out_h, j * in_h:(j + 1) * in_h]
                block.copy_(a if so * si > 0 else -a)

    with torch.no_grad():
        on_full(tensor, fill, generator)
    return tensor


def sparse_(
    tensor: Tensor, sparsity: float, std: float = 0.01, generator: Generator | None = None
) -> Tensor:
    """Martens 2010: N(0, std^2) with a fraction ``sparsity`` of each column set to zero
    (``ceil(sparsity * rows)`` entries). Same as ``torch.nn.init.sparse_``, vectorised,
    and its zero pattern also follows ``generator`` (torch's ignores it)."""
    if type(tensor) is not Tensor and _has_torch_function(tensor):  # subclasses
        return _handle_torch_function(
            sparse_, (tensor,), tensor, sparsity=sparsity, std=std, generator=generator)
    fn = "sparse_"
    _s.check_floating(tensor, fn)
    if tensor.dim() != 2:
        raise ValueError(f"{fn}: only 2-D tensors are supported; got shape {tuple(tensor.shape)}")
    sp = _s.check_number(fn, "sparsity", sparsity)
    if not 0.0 <= sp <= 1.0:
        raise ValueError(f"{fn}: sparsity must be in [0, 1]; got {sparsity!r}")
    s = _s.check_number(fn, "std", std)
    if s < 0:
        raise ValueError(f"{fn}: std must be >= 0; got {std!r}")
    if _s.skip(tensor):
        return tensor
    rows, cols = tensor.shape
    num_zeros = math.ceil(sp * rows)
    def fill(t: Tensor, gen: Generator | None) -> None:
        _s.normal(t, 0.0, s, gen)
        if num_zeros:
            t.masked_fill_(_s.random_rows_mask(rows, cols, num_zeros, t.device, gen), 0.0)

    with torch.no_grad():
        on_full(tensor, fill, generator)
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Exactly ``torch.nn.init.calculate_gain`` (torch's historical table; ``param`` is
    used by leaky_relu only). For gains of any activation use :func:`initscope.gain`.
    """
    if not isinstance(nonlinearity, str):
        raise TypeError(
            f"calculate_gain: nonlinearity must be a name; got {type(nonlinearity).__name__}"
        )
    leaky = nonlinearity.strip().lower() == "leaky_relu"
    if param is not None and leaky:
        _s.check_number("calculate_gain", "param", param)
    return float(_gain(nonlinearity, param if leaky else None, criterion="torch"))


# --- torch.nn.init's private fan helpers, which custom layers call ---------------------


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """Exactly ``torch.nn.init._calculate_fan_in_and_fan_out``: (size(1), size(0)) times
    the receptive field, in torch's layout (custom layers copy ``nn.Linear``'s
    ``reset_parameters``, which calls it). For other layouts (transposed or grouped
    convolutions, fused blocks) :func:`initscope.fans` gives the real fans."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"_calculate_fan_in_and_fan_out: expected a tensor; got "
                        f"{type(tensor).__name__}")
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    """Exactly ``torch.nn.init._calculate_correct_fan``: the fan of ``mode`` ("fan_in"
    or "fan_out", any case)."""
    mode = mode.lower() if isinstance(mode, str) else mode
    valid = ("fan_in", "fan_out")
    if mode not in valid:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


# --- torch's deprecated names without the underscore -----------------------------------


def _deprecated(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    old, new = fn.__name__[:-1], fn.__name__

    @wraps(fn)
    def call(*args: object, **kwargs: object) -> Tensor:
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new}`.",
                      FutureWarning, stacklevel=2)
        return fn(*args, **kwargs)

    call.__name__ = call.__qualname__ = old
    call.__doc__ = f"Deprecated (as in torch.nn.init): use :func:`{new}`."
    return call


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
