"""A Hugging Face model's own initialization as initscope reads it (initscope.model._own):
its random fills come from the parameters' counter streams (the same law, values that
do not depend on the thread count), torch's generators are left as they were, and the
values reach the model once, by the audit's numbers, in atomic mode and not."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import initscope
from initscope._tensor_moments import moments, moments_in_parts
from initscope.guard import invariant_init
from initscope.model._own import Own, own_values
from initscope.rng import Stream

transformers = pytest.importorskip("transformers")


def _llama(d: int = 512) -> torch.nn.Module:
    """One LLaMA block wide enough (512 x 1024 = 2^19 elements) for the counter stream
    to share its chunks with the helper threads."""
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=1000, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=1,
        num_attention_heads=8, max_position_embeddings=64))


BATCH = {"input_ids": torch.randint(0, 1000, (2, 8), generator=torch.Generator().manual_seed(0))}


def _initialize(model: torch.nn.Module, **kw: object) -> initscope.InitReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return initscope.initialize(model, "auto", seed=3, example_inputs=BATCH, **kw)


def test_the_own_pass_draws_from_the_parameters_counter_streams():
    """LLaMA's _init_weights draws N(0, 0.02) for a Linear weight: the kept value is that
    parameter's stream at that law, element for element."""
    model = _llama()
    report = _initialize(model)
    name = "model.layers.0.mlp.up_proj.weight"
    record = next(r for r in report.records if r.name == name)
    assert record.kept is not None and record.kept.startswith("model's own init")
    w = model.get_parameter(name).detach()
    want = Stream(3, name).normal_(torch.empty_like(w), 0.0, model.config.initializer_range)
    assert torch.equal(w, want)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_own_values_and_the_report_do_not_depend_on_the_thread_count(threads):
    from initscope import _threads

    before = torch.get_num_threads()
    reference = _llama()
    _initialize(reference)  # on the suite's thread count
    ref_report = _initialize(reference)
    torch.set_num_threads(threads)
    _threads.reset_pool()
    try:
        model = _llama()
        report = _initialize(model)
    finally:
        torch.set_num_threads(before)
        _threads.reset_pool()
    for (n, a), b in zip(reference.named_parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b), n
    assert [r.achieved_std for r in report.records] == \
        [r.achieved_std for r in ref_report.records]


def test_torch_generators_are_left_as_they_were():
    model = _llama(64)
    torch.manual_seed(11)
    state = torch.get_rng_state()
    _initialize(model)
    assert torch.equal(torch.get_rng_state(), state)


def test_atomic_and_in_place_give_the_same_values_and_report():
    """Atomic mode takes the own pass's tensors as its buffers and its sums as the audit's;
    atomic=False copies them into the parameters and reads the same sums."""
    a, b = _llama(), _llama()
    ra, rb = _initialize(a), _initialize(b, atomic=False)
    for (n, x), y in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(x, y), n
    for x, y in zip(ra.records, rb.records, strict=True):
        assert (x.name, x.kept, x.achieved_std) == (y.name, y.kept, y.achieved_std) or \
            (math.isnan(x.achieved_std) and math.isnan(y.achieved_std))


def test_the_audit_of_a_kept_weight_is_its_standard_deviation():
    model = _llama()
    report = _initialize(model)
    for r in report.records:
        if r.kept and r.kept.startswith("model's own init") and r.shape[0] > 1:
            got = float(model.get_parameter(r.name).detach().double().std())
            assert r.achieved_std == pytest.approx(got, rel=1e-5), r.name


def test_own_values_are_none_where_the_pass_leaves_a_parameter_unset():
    model = _llama(64)
    extra = torch.nn.Parameter(torch.full((4, 4), 123.0))
    model.model.layers[0].register_parameter("extra", extra)  # no _init_weights rule
    found = own_values(model, seed=0)
    assert found["model.layers.0.extra"] is None
    assert torch.equal(extra.detach(), torch.full((4, 4), 123.0))  # the model unchanged
    up = found["model.layers.0.mlp.up_proj.weight"]
    assert up is not None and not up.constant


@pytest.mark.parametrize(("values", "constant", "ones"), [
    (torch.ones(1000), True, True),
    (torch.zeros(3, 3), True, False),
    (torch.full((10,), 1e-6), True, False),
    (1 + 1e-7 * torch.randn(1000, generator=torch.Generator().manual_seed(0)), False, False),
    (torch.randn(50, generator=torch.Generator().manual_seed(0)), False, False),
    (torch.ones(1), False, True),
    (torch.empty(0), False, True),
])
def test_own_tells_constant_values_from_their_sums_or_extremes(values, constant, ones):
    """The spread read off the sums decides where it is clear; a spread within rounding
    (1 + 1e-7 noise) is settled by the least and greatest value."""
    mean, square = moments(values) if values.numel() else (0.0, 0.0)
    own = Own(values, mean, square)
    assert own.constant is constant
    assert own.all_equal(1.0) is ones


@pytest.mark.parametrize("n", [1000, 3 << 20])
def test_moments_in_parts_do_not_depend_on_the_thread_count(n):
    from initscope import _threads

    t = torch.randn(n, generator=torch.Generator().manual_seed(1)) * 3 + 1
    before = torch.get_num_threads()
    got = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            _threads.reset_pool()
            got.append(moments_in_parts(t))
    finally:
        torch.set_num_threads(before)
        _threads.reset_pool()
    assert got[0] == got[1]
    exact = t.double()
    assert got[0][0] == pytest.approx(float(exact.mean()), rel=1e-6)
    assert got[0][1] == pytest.approx(float((exact * exact).mean()), rel=1e-6)


def test_a_routed_tensor_method_fills_a_large_parameter_under_no_grad():
    """Tensor.normal_ on a parameter of 2^20 elements inside invariant_init and no_grad:
    the stream's helper threads (where grad mode is on) write through views of it.
    (It raised 'a view of a view which was created in no_grad mode' before.)"""
    m = torch.nn.Linear(1024, 1024)
    with torch.no_grad(), invariant_init(m, seed=0):
        m.weight.normal_(0.0, 0.02)
        m.bias.uniform_(-1.0, 1.0)
    want = Stream(0, "weight").normal_(torch.empty(1024, 1024), 0.0, 0.02)
    assert torch.equal(m.weight.detach(), want)
    assert m.weight.requires_grad and m.weight.grad_fn is None
