"""Atomic whole-model initialization with an audit record.

New values for every parameter are computed first, into fresh tensors; only when all of
them exist are they copied into the model. A policy that raises, an impossible shape, a
bad override: the model is left bit-identical.

Randomness: each parameter is drawn from its own counter-based stream
(:class:`initscope.rng.Stream`), keyed by ``(seed, canonical qualified name)`` and indexed
by each element's position in the global tensor. Its values depend neither on the order
in which modules were built, nor on other models built in between, nor on how it is
sharded: a ``DTensor`` parameter (FSDP2 ``fully_shard``, tensor parallel, any mesh) is
filled shard by shard, with fans from its global shape, to exactly the values one
process computes. (Wrapper prefixes such as ``_orig_mod.`` of ``torch.compile`` are
stripped from names first.)
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._core.fans import Fans
from .._state import torch_rng_forked
from .._tabular import dataframe
from .._tensor_moments import variance
from .._threads import one_torch_thread, run_shared
from .._torch_sampling import check_seed
from ..guard import invariant_init
from ..rng import Stream, is_dtensor, on_full
from ._own import Own, hf_owners, own_values, parameter_seed
from .graph import LayerGraph, LayerInfo, layer_graph, role_of
from .policies import ParamInit, Plan, Policy, is_own_fill, normalize
from .schemes import apply_overrides, resolve, resolve_overrides


@dataclass(frozen=True)
class ParamRecord:
    """One row of the report: what happened to one parameter."""

    name: str
    shape: tuple[int, ...]
    layer: str | None
    kind: str | None
    scheme: str | None
    fan_in: int | None = None
    fan_out: int | None = None
    gain: float | None = None
    target_std: float | None = None
    achieved_std: float | None = None
    input: str | None = None
    covered: bool = True
    #: What the parameter is for, read off the graph ("query", "output head", "norm gain",
    #: "residual branch end", ...).
    role: str | None = None
    #: Why initscope did not apply its own rule: "frozen ...", "model's own init: ...",
    #: "as built: ..." (None when a rule of the scheme wrote it).
    kept: str | None = None


@dataclass
class InitReport:
    """Every parameter of the model, with the scheme applied and the std achieved.
    ``covered`` says initscope wrote the values (a rule of the scheme, or the model's own
    initialization drawn from initscope's seed: then ``kept`` says why); parameters left
    as they were (frozen, or set by nothing) are listed with ``covered=False`` and why."""

    records: list[ParamRecord]
    graph: LayerGraph = field(repr=False)
    seed: int = 0

    @property
    def uncovered(self) -> list[str]:
        return [r.name for r in self.records if not r.covered]

    def to_records(self) -> list[dict[str, Any]]:
        """Tidy rows (one dict per parameter)."""
        return [dict(r.__dict__) for r in self.records]

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is imported only here)."""
        return dataframe(self.to_records(), "InitReport.to_dataframe")

    def __str__(self) -> str:
        head = ("parameter", "shape", "role", "scheme", "fan_in", "gain", "target", "achieved",
                "input")
        rows = [head]
        for r in self.records:
            rows.append((
                r.name, "x".join(map(str, r.shape)), r.role or "",
                f"NOT COVERED, kept ({r.kept})" if r.kept and not r.covered else
                f"kept ({r.kept})" if r.kept else r.scheme or "NOT COVERED",
                "" if r.fan_in is None else str(r.fan_in), _num(r.gain), _num(r.target_std),
                _num(r.achieved_std), r.input or "",
            ))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        own = sum(1 for r in self.records if r.covered and r.kept)
        summary = (f"{len(self.records)} parameters, {len(self.uncovered)} not covered, "
                   f"{own} from the model's own init; "
                   f"graph by {self.graph.method}, seed {self.seed}")
        return "\n".join([*lines, summary, *self.graph.notes])


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def _owner(name: str, layers: Mapping[str, LayerInfo]) -> LayerInfo | None:
    parts = name.split(".")
    for k in range(len(parts) - 1, -1, -1):
        info = layers.get(".".join(parts[:k]))
        if info is not None:
            return info
    return None


def _sharers(graph: LayerGraph) -> dict[int, LayerInfo]:
    """For each parameter held directly by two or more layers (tied embeddings), the
    layer that decides it: one with a readout role, else one the forward calls."""
    held: dict[int, list[LayerInfo]] = {}
    for info in graph:
        for p in info.module.parameters(recurse=False):
            held.setdefault(id(p), []).append(info)
    return {pid: min(infos, key=lambda i: (i.readout is None, i.order < 0, i.order))
            for pid, infos in held.items() if len(infos) > 1}


def _input_label(info: LayerInfo) -> str:
    if info.input_activation is not None:
        return f"{info.input_source}:{info.input_activation.name}"
    return info.input_source


def _user_class(m: nn.Module) -> type:
    """The module's own class: FSDP2 swaps in a subclass defined in torch.distributed."""
    return next((c for c in type(m).__mro__
                 if not c.__module__.startswith("torch.distributed")), type(m))


def _own_init(info: LayerInfo, seed: int) -> Plan | None:
    """A custom module's own ``init_weights()``/``reset_parameters()``, as a plan for its
    parameters. The method runs on the module itself with its ``torch.nn.init`` calls
    answered by the parameters' counter streams (:func:`initscope.guard.invariant_init`;
    other draws from torch's generator seeded from (seed, layer name)); every parameter
    and buffer of the module is put back as it was before this returns, so the model
    changes only when :func:`initialize` writes all values at the end. (A copy would be
    simpler, but FSDP2 modules cannot be copied.)"""
    m = info.module
    cls = _user_class(m)
    method = next((getattr(m, n) for n in ("init_weights", "reset_parameters")
                   if callable(getattr(m, n, None)) and cls.__module__.split(".")[0] != "torch"),
                  None)
    if method is None:
        return None
    name = method.__name__
    modules = list(m.modules())
    slots = [(sub, dict(sub._parameters), dict(sub._buffers)) for sub in modules]
    saved = [(t, t.detach().clone()) for t in (*m.parameters(), *m.buffers())]
    try:
        with torch_rng_forked(m) as reseed, invariant_init(m, seed, prefix=info.name):
            reseed(parameter_seed(seed, info.name))
            getattr(m, name)()
        values = {n: p.detach().clone() for n, p in m.named_parameters(recurse=False)}
    finally:
        with torch.no_grad():
            for sub, params, buffers in slots:
                sub._parameters.clear()
                sub._parameters.update(params)
                sub._buffers.clear()
                sub._buffers.update(buffers)
            for t, old in saved:
                t.copy_(old)

    return {n: _copying(f"{cls.__name__}.{name}()", v) for n, v in values.items()}


def _copying(label: str, value: torch.Tensor, fans: Fans | None = None,
             gain: float | None = None, kept: str | None = None) -> ParamInit:
    """A step that writes ``value``, computed beforehand (a module's own init, the
    originals of a parametrization): elementwise, so a shard takes its part."""
    return ParamInit(label, lambda t, g: t.copy_(value), fans, gain, None,
                     elementwise=True, kept=kept)


#: The label of values taken from the model's own initialization.
OWN_INIT = "model's own init"


def _own_step(value: torch.Tensor, owner: str, why: str) -> ParamInit:
    """Write ``value`` (what the model's own init gave this parameter, drawn from
    initscope's seed), reported as kept with ``why``."""
    return _copying(f"{owner}._init_weights", value, kept=f"{OWN_INIT}: {why}")


def _through_parametrization(name: str, graph: LayerGraph,
                             plan_of: Callable[[LayerInfo], Plan | None], seed: int,
                             cache: dict[str, dict[str, torch.Tensor]]) -> ParamInit | None:
    """A parametrized weight (``torch.nn.utils.parametrize``, e.g. weight norm's g and v):
    the layer's rule draws the weight it computes, and the parametrization's
    ``right_inverse`` gives the originals that compute it (for weight norm g = ||v||,
    v = the drawn weight, as ``weight_norm`` sets them up). None where the layer has no
    rule for it or the chain has more than one parametrization."""
    host, _, rest = name.partition(".parametrizations.")
    tensor_name, _, original = rest.partition(".")
    info = graph.layers.get(host)
    if info is None:
        return None
    plan = plan_of(info)
    step = plan.get(tensor_name) if plan else None
    chain = getattr(getattr(info.module, "parametrizations", None), tensor_name, None)
    if step is None or chain is None or len(chain) != 1:
        return None
    key = f"{host}.{tensor_name}"
    if key not in cache:
        with torch.no_grad():
            current = getattr(info.module, tensor_name)
            w = torch.empty(current.shape, dtype=current.dtype, device=current.device)
            step.fill(w, Stream(seed, key).bind(w))
            inv = chain[0].right_inverse(w)
        parts = (inv,) if isinstance(inv, torch.Tensor) else tuple(inv)
        cache[key] = {("original" if isinstance(inv, torch.Tensor) else f"original{i}"):
                      t.detach().clone() for i, t in enumerate(parts)}
    value = cache[key].get(original)
    if value is None:
        return None
    return _copying(f"{step.scheme} (via {type(chain[0]).__name__}.right_inverse)", value,
                    step.fans, step.gain)


#: Why "auto" keeps a Hugging Face model's own scale for its hidden weights.
OWN_SCALE = ("its scale goes with the learning rates the model is trained at (norms fix "
             "the forward); variance-keeping weights trained 17-33% worse "
             "(benchmarks/results/design_measurements.md)")


#: Why "auto" keeps a Hugging Face model's own classification head (its classes are not
#: an input embedding's tokens, so no loss at init to derive it from).
OWN_HEAD = ("a classification head: its scale sets how fast the layers below learn, and the "
            "readout rule's small logits trained the zoo's ResNet 21% worse over 8 seeds "
            "(docs/results/real-models)")


def _against_premise(info: LayerInfo, local: str, param: torch.Tensor,
                     mine: Own) -> str | None:
    """Why any scheme keeps the model's own value ``mine`` here, or None: where the
    model's own init contradicts the premise of every rule a scheme applies to this role
    (a bias starts at zero, a norm gain at one, a weight at random values), the model
    means something the graph cannot see (Mamba's dt bias sets each channel's time
    step; Gemma's norms compute (1 + w); a branch that starts switched off)."""
    if local.rsplit(".", 1)[-1].startswith("bias") and not mine.all_equal(0.0):
        return "the model sets this bias to non-zero values"
    if info.kind == "norm" and local == "weight" and not mine.all_equal(1.0):
        return "the model's norm gain does not start at 1"
    if param.dim() >= 2 and mine.constant:
        return "the model starts this weight at a constant (a switched-off branch)"
    return None


def _parts_from_model(info: LayerInfo, local: str, param: torch.Tensor,
                      mine: Own | None) -> str | None:
    """Why "auto" keeps the model's own value here, or None to apply its rule. A model
    with its own initialization (Hugging Face's) keeps it except where "auto" derives a
    role's value with confidence: the head over an input embedding's tokens (logits at
    ln V) and the embeddings tied to or summed with it. A classification head keeps the
    model's own scale (OWN_HEAD: no loss at init to derive it from, and the rule's
    measured effect goes both ways). Everywhere else the model knows more than the graph: where its
    own init contradicts the premise of the rule "auto" would apply (Mamba's dt bias,
    (1 + w) norm gains, a zero-initialized branch) and where it does not (the scale of
    hidden weights, which under Adam sets each layer's relative learning rate: the
    measurements are in benchmarks/results/design_measurements.md)."""
    if mine is None:
        return None
    against = _against_premise(info, local, param, mine)
    if against is not None:
        return against
    bias = local.rsplit(".", 1)[-1].startswith("bias")
    if info.input_source == "unused":
        return "the forward never calls this layer as a module: no role to read"
    if info.readout is not None:
        return None if info.readout.tokens else OWN_HEAD
    if info.kind == "norm" or bias:
        return None  # (ones and zeros, as the model's own: nothing to keep)
    return OWN_SCALE


#: Why "auto" keeps a residual branch's last norm gain at 0 in a model without its own
#: init method (timm, torchvision): the constructor chose it, and timm's ResNet-18 trained
#: to 0.0008 with it against 0.057 at gain 1 (benchmarks/scripts/timm_training.py).
ZERO_BRANCH = ("the model starts this residual branch's last norm gain at 0, so the block "
               "starts as the identity (Goyal et al. 2017; timm's zero_init_last, "
               "torchvision's zero_init_residual)")


def _switched_off(info: LayerInfo, local: str, param: torch.Tensor) -> bool:
    """Whether ``param`` is a residual branch's last norm gain that the model holds at
    exactly 0: a deliberate choice (a block that starts as the identity), never what a
    default constructor leaves, so "auto" keeps it where the model has no init method
    to ask (a Hugging Face model's is asked: _against_premise)."""
    return (info.kind == "norm" and info.branch_end and local == "weight"
            and param.numel() > 0 and not param.is_meta
            and not bool(param.detach().any()))


def _warn_unmatched(overrides: Mapping[str | type[nn.Module], object] | None,
                    graph: LayerGraph) -> None:
    """Say which name overrides match no layer of the graph (a typo, or a layer the
    graph does not see): they would otherwise be ignored in silence."""
    import fnmatch
    import warnings

    names = [info.name for info in graph]
    for key in overrides or {}:
        if isinstance(key, str) and not any(fnmatch.fnmatchcase(n, key) for n in names):
            close = [n for n in names if n and key.split("*")[0] in n][:5] or names[:5]
            warnings.warn(f"initialize: override {key!r} matches no layer, so it changes "
                          f"nothing; layers are named like {close}", UserWarning, stacklevel=3)


#: One parameter to draw: qualified name, parameter, its layer, how.
_Job = tuple[str, nn.Parameter, LayerInfo, ParamInit]


def initialize(
    model: nn.Module,
    scheme: str | Policy = "auto",
    *,
    example_inputs: Any = None,
    seed: int | None = None,
    overrides: Mapping[str | type[nn.Module], str | Policy] | None = None,
    graph: LayerGraph | None = None,
    atomic: bool = True,
) -> InitReport:
    """Initialize every parameter of ``model`` from its layer graph; return the audit.

    Args:
        model: any ``nn.Module``; on the meta device, materialize first with ``to_empty``.
        scheme: a scheme name (``initscope.model.policies.SCHEMES`` or ``"uniform(a,b)"``),
            a recipe name (``initscope.model.recipes.RECIPES``: fixup, gpt2, ...), or a
            policy function ``LayerInfo -> plan | None`` (one registry resolves them:
            :mod:`initscope.model.schemes`).
        example_inputs: inputs to trace by running the model, when torch.fx cannot.
        seed: makes every parameter a function of (seed, name); None draws a seed.
        overrides: per qualified name (exact or glob) or module type, another scheme,
            recipe or policy.
        graph: a precomputed :func:`layer_graph`.
        atomic: compute every new value in a buffer of its own and write them all at the
            end, so that the model is bit-identical after any error (the default). False
            draws into the parameters directly: no second copy of the model in memory and
            no copy pass (faster: benchmarks/results/model_init.md), but an error in a custom
            initializer part-way leaves the parameters before it rewritten. Policies and
            overrides are checked before anything is drawn either way.

    Examples:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
        ...                           torch.nn.Linear(64, 8))
        >>> report = initialize(net, "auto", seed=0)
        >>> [round(r.gain, 4) for r in report.records if r.name.endswith("weight")]
        [1.0, 1.4142]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(atomic, bool):
        raise TypeError(f"atomic must be True or False; got {atomic!r}")
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    else:
        seed = check_seed("initialize", seed)
    base = resolve(scheme)  # names and overrides are validated before any tracing
    resolved = resolve_overrides(overrides)
    if graph is not None:
        graph.require_of(model, "initialize")
    else:
        graph = layer_graph(model, example_inputs)
    rule = apply_overrides(base, resolved, graph)
    _warn_unmatched(overrides, graph)

    # First every decision (policies, overrides, a module's own init), then the draws:
    # a policy that fails has changed nothing, atomic or not.
    plans: dict[str, Plan | None] = {}
    todo: list[ParamRecord | _Job] = []
    owners = hf_owners(model)
    own: dict[str, Own | None] | None = None  # the model's own init, when asked
    # the steps that copy such values, by id: atomic mode takes the values as the buffer
    handed: dict[int, Own] = {}
    careful = scheme == "auto"  # "auto" defers to the model where their premises part
    sharers = _sharers(graph)
    reparametrized: dict[str, dict[str, torch.Tensor]] = {}

    def plan_of(info: LayerInfo, name: str, shape: tuple[int, ...]) -> Plan | None:
        """The layer's plan, decided once (its policy, else a module's own init)."""
        if info.name not in plans:
            try:
                plans[info.name] = normalize(rule(info), info) or (
                    None if info.name in owners else _own_init(info, seed))
            except (ValueError, TypeError) as e:  # say which parameter could not be planned
                if f"{info.name!r}" in str(e):
                    raise
                raise type(e)(f"cannot initialize {name!r} (layer {info.name!r}, "
                              f"{type(info.module).__name__}, shape {shape}): {e}") from e
        return plans[info.name]

    for name, param in model.named_parameters():
        info = _owner(name, graph.layers)
        other = sharers.get(id(param))
        if other is not None and info is not None and other is not info and (
                info.order < 0 or info.readout is None):
            # A tied matrix is named once, after its first module (maybe one the forward
            # never calls, as T5's `shared`); the layer that gives it a role decides.
            local_name = next(n for n, p in other.module.named_parameters(recurse=False)
                              if p is param)
            info = other
        else:
            local_name = None
        if not param.requires_grad:
            local = local_name or (name[len(info.name) + 1:] if info and info.name else name)
            todo.append(ParamRecord(
                name, tuple(param.shape), info.name if info else None,
                info.kind if info else None, None, covered=False,
                role=role_of(info, local) if info else None,
                kept="frozen (requires_grad=False): left as it is"))
            continue
        if info is None:
            todo.append(ParamRecord(name, tuple(param.shape), None, None, None,
                                    covered=False, kept="as built: no layer of the graph owns it"))
            continue
        hf = owners.get(info.name)
        plan = plan_of(info, name, tuple(param.shape))
        local = local_name or (name[len(info.name) + 1:] if info.name else name)
        step = plan.get(local) if plan else None
        if step is None and ".parametrizations." in name:
            step = _through_parametrization(
                name, graph, functools.partial(plan_of, name=name, shape=tuple(param.shape)),
                seed, reparametrized)
        # A layer named in `overrides` gets what was asked for it ("auto" there keeps
        # the model's own as "auto" does); the base scheme keeps what contradicts its
        # premise.
        asked = resolved.scheme_for(info)
        as_auto = asked == "auto" if asked is not None else careful
        kept = "as built: no rule for it"
        if hf is not None:
            if own is None:
                own = own_values(model, seed, owners)
            mine = own.get(name)
            why = ("no rule of this scheme for it" if step is None else
                   _parts_from_model(info, local, param, mine) if as_auto else
                   None if mine is None or asked is not None else
                   _against_premise(info, local, param, mine))
            if why is not None and mine is not None:
                step = _own_step(mine.value, type(hf).__name__, why)
                handed[id(step)] = mine
            elif step is None:
                kept = "as built: no rule for it, and the model's own init does not set it"
        elif step is not None and as_auto and _switched_off(info, local, param):
            step, kept = None, f"as built: {ZERO_BRANCH}"
        if step is None:
            todo.append(ParamRecord(name, tuple(param.shape), info.name, info.kind, None,
                                    input=_input_label(info), covered=False,
                                    role=role_of(info, local), kept=kept))
            continue
        if param.is_meta:
            raise ValueError(
                f"parameter {name!r} is on the meta device; materialize the model first "
                "(model.to_empty(device=...)) and then initialize it"
            )
        todo.append((name, param, info, step))

    done: dict[int, tuple[ParamRecord, torch.Tensor | None]] = {}
    together: list[tuple[int, _Job]] = []  # own draws not run yet: in any order, the same

    def draw(i: int, job: _Job) -> None:
        done[i] = _draw(*job, seed, atomic, handed.get(id(job[3])))

    def draw_together() -> None:
        # Large parameters one after another, each on all threads; the others at once,
        # one per thread: parameters of a few 100k elements no longer pay a hand-off
        # each (benchmarks/results/design_measurements.md).
        shared = []
        for i, job in together:
            if job[1].numel() >= _ALONE:
                draw(i, job)
            else:
                shared.append(functools.partial(draw, i, job))
        run_shared(shared)
        together.clear()

    # Elementwise draws run on the counter stream's worker threads and the audit on one
    # torch thread: torch's OpenMP workers, woken by an op between two draws, spin on
    # the cores those threads need (benchmarks/results/design_measurements.md).
    # Whole-matrix fills (QR, custom) get torch's threads back.
    single: contextlib.ExitStack | None = None
    try:
        for i, item in enumerate(todo):
            if isinstance(item, ParamRecord):
                done[i] = (item, None)
                continue
            step, param = item[3], item[1]
            if step.elementwise and single is None:
                single = contextlib.ExitStack()
                single.enter_context(one_torch_thread())
            if is_own_fill(step.fill) and step.elementwise and param.device.type == "cpu" and \
                    not is_dtensor(param):
                together.append((i, item))
                continue
            draw_together()  # the parameters before this one are drawn before it
            if not step.elementwise and single is not None:
                single.close()
                single = None
            draw(i, item)
        draw_together()
    finally:
        if single is not None:
            single.close()
    # Every new value exists: now, and only now, write them (shapes, dtypes and devices
    # match by construction, so copy_ cannot fail half-way).
    with torch.no_grad():
        for i, item in enumerate(todo):
            value = done[i][1]
            if value is not None and not isinstance(item, ParamRecord):
                item[1].copy_(value)
    return InitReport([done[i][0] for i in range(len(todo))], graph, seed)


def _writing_into(fill: Any, name: str) -> Any:
    """``fill`` such that its values land in the tensor it is given: a fill that returns
    a new tensor (``lambda t, g: torch.randn_like(t)``) instead of writing in place has
    that tensor copied in, in both modes (atomic mode would otherwise copy a buffer no
    one wrote); one of another shape is refused, naming the parameter."""

    def run(t: torch.Tensor, g: Any) -> torch.Tensor:
        out = fill(t, g)
        if isinstance(out, torch.Tensor) and out is not t and not is_dtensor(t):
            if tuple(out.shape) != tuple(t.shape):
                raise ValueError(
                    f"the initializer of {name!r} returned a tensor of shape "
                    f"{tuple(out.shape)} for a parameter of shape {tuple(t.shape)}: a fill "
                    "writes into the tensor it is given (or returns one of its shape)")
            if out.data_ptr() != t.data_ptr() or out.stride() != t.stride():
                with torch.no_grad():
                    t.copy_(out)
        return t

    return run


#: Pure draws of at least this many elements run alone, on all threads (see
#: _threads.run_shared); smaller ones share the threads, one parameter each.
_ALONE = 1 << 21


def _draw(name: str, param: nn.Parameter, info: LayerInfo, step: ParamInit, seed: int,
          atomic: bool, own: Own | None = None) -> tuple[ParamRecord, torch.Tensor | None]:
    """Draw one parameter, into itself or into a new buffer to be copied in later; its
    audit record and that buffer (None when drawn in place). ``own``: the model's own
    values that ``step`` copies, in a tensor no one else holds, with their moments:
    atomic mode takes the tensor as the buffer and the audit the moments (no second
    buffer, no copy, no pass: 0.2 s on a 134M-parameter LLaMA)."""
    in_place = not atomic and param.is_contiguous()
    handed = None if own is None else own.value
    if in_place or handed is None or is_dtensor(param) or handed.shape != param.shape or \
            handed.dtype != param.dtype or handed.device != param.device:
        handed = None
    value = param.detach() if in_place else handed if handed is not None else torch.empty_like(
        param, memory_format=torch.contiguous_format).detach()
    stream = Stream(seed, name)._audited().bind(value)
    if handed is None:
        fill = _writing_into(step.fill, name)
        if step.elementwise:
            fill(value, stream)
        else:
            on_full(value, fill, stream)
    mine: torch.Tensor = value.to_local() if is_dtensor(value) else value  # type: ignore[attr-defined]
    known = (own.mean, own.mean_square) if own is not None else stream.moments_of(mine)
    with one_torch_thread():  # the same reduction order on any thread count: same report
        achieved = math.sqrt(variance(mine, known)) if mine.numel() > 1 else math.nan
    f = step.fans
    record = ParamRecord(
        name, tuple(param.shape), info.name, info.kind, step.scheme,
        f.fan_in if f else None, f.fan_out if f else None, step.gain, step.target_std,
        achieved, _input_label(info), role=role_of(info, name.rpartition(".")[2]),
        kept=step.kept,
    )
    return record, None if in_place else value

