"""Issue 14, items 5 and 6: code written for torch.nn.init runs unchanged on
initscope.init (NumPy and 0-d tensor numbers, torch's private fan helpers, the
deprecated names, case-insensitive modes, zero-element warnings, tensor subclasses),
and every remaining validation gap gives a clear error naming the bad value."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

import initscope
from initscope import init

# --- numbers as code written for torch passes them --------------------------------------

def test_numpy_and_0d_tensor_numbers_are_accepted():
    g = torch.Generator().manual_seed(0)
    w = init.normal_(torch.empty(256, 256), 0.0, np.float32(0.02), generator=g)
    assert float(w.std()) == pytest.approx(0.02, rel=0.02)
    init.uniform_(w, np.float64(-1), torch.tensor(1.0))
    assert float(w.abs().max()) <= 1.0
    a = init.xavier_uniform_(torch.empty(64, 64), gain=torch.tensor(1.5),
                             generator=torch.Generator().manual_seed(1))
    b = init.xavier_uniform_(torch.empty(64, 64), gain=1.5,
                             generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    init.constant_(w, np.int64(3))
    assert bool((w == 3).all())
    init.trunc_normal_(w, std=np.float32(0.02), a=np.float32(-0.04), b=torch.tensor(0.04))
    assert float(w.abs().max()) <= 0.04 + 1e-9


@pytest.mark.parametrize("bad", [torch.tensor([0.1, 0.2]), np.array([1.0, 2.0]), True,
                                 torch.tensor(True), "0.1", None, 1 + 2j])
def test_what_is_not_a_real_number_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="std must be a finite number"):
        init.normal_(torch.empty(3, 3), 0.0, bad)


def test_torch_private_fan_helpers_agree_with_torch():
    for shape in [(4, 3), (8, 4, 3, 3), (6, 2, 5), (2, 3, 1, 2, 2)]:
        t = torch.empty(shape)
        assert init._calculate_fan_in_and_fan_out(t) == \
            nn.init._calculate_fan_in_and_fan_out(t)
        for mode in ("fan_in", "fan_out", "FAN_IN", "Fan_Out"):
            assert init._calculate_correct_fan(t, mode) == nn.init._calculate_correct_fan(t, mode)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(torch.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init._calculate_correct_fan(torch.empty(3, 3), "fan_avg")


def test_a_custom_layer_copying_nn_linear_reset_parameters_runs_on_initscope_init():
    class MyLinear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.empty(8, 16))
            self.bias = nn.Parameter(torch.empty(8))
            self.reset_parameters()

        def reset_parameters(self) -> None:  # nn.Linear's, with `init` swapped
            init.kaiming_uniform_(self.weight, a=math.sqrt(5))
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    m = MyLinear()
    assert float(m.weight.detach().abs().max()) <= 0.25
    assert float(m.bias.detach().abs().max()) <= 0.25


@pytest.mark.parametrize("name", ["uniform", "normal", "constant", "eye", "dirac",
                                  "xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal", "orthogonal", "sparse"])
def test_deprecated_names_warn_as_torch_does_and_work(name):
    args = {"constant": (0.5,), "sparse": (0.1,)}.get(name, ())
    shape = (4, 4, 3) if name == "dirac" else (6, 6)
    t = torch.empty(shape)
    with pytest.warns(FutureWarning, match=f"nn.init.{name}` is now deprecated"):
        out = getattr(init, name)(t, *args)
    assert out is t and bool(torch.isfinite(t).all())


def test_modes_are_case_insensitive_as_in_torch():
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = init.kaiming_normal_(torch.empty(32, 64), mode="FAN_OUT", generator=g())
    b = init.kaiming_normal_(torch.empty(32, 64), mode="fan_out", generator=g())
    assert torch.equal(a, b)
    init.variance_scaling_(torch.empty(4, 4), 1.0, "Fan_Avg", "Uniform")


@pytest.mark.parametrize("fn", [init.kaiming_uniform_, init.kaiming_normal_])
def test_zero_element_tensors_warn_where_torch_warns(fn):
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        fn(torch.empty(0, 3))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        getattr(nn.init, fn.__name__)(torch.empty(0, 3))


class Logged(torch.Tensor):
    """A tensor subclass that records the torch functions dispatched to it."""

    calls: ClassVar[list[str]] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "constant_",
                                  "ones_", "zeros_", "xavier_uniform_", "xavier_normal_",
                                  "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                                  "he_normal_", "lecun_uniform_", "variance_scaling_"])
def test_tensor_subclasses_overriding_torch_function_are_dispatched_to(name):
    t = torch.empty(8, 8).as_subclass(Logged)
    Logged.calls.clear()
    args = (0.5,) if name == "constant_" else ()
    out = getattr(init, name)(t, *args)
    assert name in Logged.calls  # the subclass saw the initializer itself
    assert isinstance(out, Logged) and bool(torch.isfinite(out).all())


# --- NumPy and JAX shells ------------------------------------------------------------------

def test_numpy_takes_numpy_integer_seeds_and_refuses_float_shapes():
    from initscope import numpy as inp

    a = inp.he_normal(np.int64(3), (4, 5))
    assert np.array_equal(a, inp.he_normal(3, (4, 5)))
    assert inp.he_normal(0, (np.int64(4), np.int32(5))).shape == (4, 5)
    with pytest.raises(ValueError, match=r"2\.7 is not"):
        inp.he_normal(0, (2.7, 3))


def test_jax_refuses_float_shapes_and_out_of_range_column_axes():
    jax = pytest.importorskip("jax")
    from initscope import jax as ijax

    with pytest.raises(ValueError, match=r"2\.7 is not"):
        ijax.he_normal()(jax.random.key(0), (2.7, 3))
    with pytest.raises(ValueError, match="column_axis=5 is out of range"):
        ijax.orthogonal(column_axis=5)(jax.random.key(0), (3, 4))
    with pytest.raises(TypeError, match="column_axis must be an int"):
        ijax.orthogonal(column_axis=1.0)


# --- item 6: the smaller validation gaps ---------------------------------------------------

def test_extreme_arguments_get_clear_errors():
    with pytest.raises(ValueError, match=r"a=1e\+200 \(the leaky_relu slope\)"):
        init.kaiming_uniform_(torch.empty(3, 3), a=1e200)
    w = torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"beyond torch\.float32's range"):
        init.normal_(w, std=1e300)
    with pytest.raises(ValueError, match=r"beyond torch\.float16's range"):
        init.uniform_(torch.empty(3, dtype=torch.float16), -1e5, 1e5)
    with pytest.raises(ValueError, match=r"beyond torch\.float32's range"):
        init.constant_(w, 1e39)
    assert bool((w == 0).all())  # nothing written
    init.normal_(torch.empty(3, dtype=torch.float64), std=1e300)  # float64 holds it
    with pytest.raises(ValueError, match="groups must be an int"):
        init.dirac_(torch.empty(4, 4, 3, 3), groups=True)


def test_fans_of_a_tensor_are_its_shapes_fans():
    t = torch.empty(64, 32, 3, 3)
    assert initscope.fans(t) == initscope.fans((64, 32, 3, 3))
    with pytest.raises(ValueError, match=r"'a' is not"):
        initscope.fans((3, "a"))


def test_an_override_that_matches_no_layer_is_said():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.warns(UserWarning, match=r"override 'blocks\.\*' matches no layer"):
        initscope.initialize(net, "auto", seed=0, overrides={"blocks.*": "zeros"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        initscope.initialize(net, "auto", seed=0, overrides={"2": "zeros"})
    assert bool((net[2].weight == 0).all())


def test_a_zero_size_layer_is_named_in_the_error():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns on its own zero-element init
        net = nn.Sequential(nn.Linear(0, 4), nn.ReLU(), nn.Linear(4, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"cannot initialize '0\.weight' \(layer '0', Linear"):
        initscope.initialize(net, "auto", seed=0)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize("seed", [2**70, -(2**64)])
def test_seeds_beyond_64_bits_are_refused(seed):
    net = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="seed must lie in"):
        initscope.initialize(net, "auto", seed=seed)
    with pytest.raises(ValueError, match="seed must lie in"):
        initscope.diagnose(net, torch.randn(8, 4), seed=seed)


def test_diagnose_reads_dataclass_outputs():
    @dataclasses.dataclass
    class Output:
        logits: torch.Tensor
        aux: int = 0

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            return Output(self.lin(x))

    d = initscope.diagnose(Model(), torch.randn(16, 8))
    assert math.isfinite(d.loss) and d.layers[0].grad_pre_var > 0


def test_zero_size_layers_and_empty_batches():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = nn.Sequential(nn.Linear(4, 0), nn.ReLU(), nn.Linear(0, 3))
    d = initscope.diagnose(net, torch.randn(8, 4))
    assert d.layers[0].units == 0 and math.isnan(d.layers[0].pre_second_moment)
    with pytest.raises(ValueError, match=r"inputs hold no values \(shape \(0, 4\)\)"):
        initscope.diagnose(nn.Sequential(nn.Linear(4, 4)), torch.randn(0, 4))
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    with initscope.diagnostics.Monitor(model, every=1) as mon:
        model(torch.randn(0, 4))  # an empty batch in the user's own forward
        model(torch.randn(5, 4))
    assert len(mon.records) == 1


def test_all_frozen_models_are_diagnosed_and_inputs_get_no_grad():
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    for p in net.parameters():
        p.requires_grad_(False)
    d = initscope.diagnose(net, torch.randn(32, 8))
    assert all(s.grad_pre_var > 0 for s in d.layers)
    assert all(p.grad is None for p in net.parameters())
    x = torch.randn(32, 8, requires_grad=True)
    initscope.diagnose(nn.Sequential(nn.Linear(8, 8)), x)
    assert x.grad is None


def test_a_frozen_model_on_token_inputs_is_diagnosed_forward_only():
    """No parameter requires grad and the input is integer: no graph to differentiate;
    the forward statistics are measured, the gradients left unmeasured (NaN)."""
    net = nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
    for p in net.parameters():
        p.requires_grad_(False)
    d = initscope.diagnose(net, torch.randint(0, 50, (8, 5)))
    assert all(math.isfinite(s.pre_second_moment) for s in d.layers)
    assert all(math.isnan(s.grad_pre_var) for s in d.layers)

