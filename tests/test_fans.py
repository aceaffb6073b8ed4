"""Fans: hand-computed values for every layout, and an oracle that counts connections in
real torch layers."""

from __future__ import annotations

import pytest
import torch

from initscope import Fans, fans


@pytest.mark.parametrize(
    ("shape", "kwargs", "expected"),
    [
        # torch Linear (out, in)
        ((256, 512), {}, Fans(512, 256, 1)),
        # torch Conv2d (out, in/groups, kh, kw)
        ((64, 32, 3, 3), {}, Fans(288, 576, 9)),
        ((64, 8, 3, 3), {"groups": 4}, Fans(72, 144, 9)),
        # depthwise: out = in = 32, groups = 32, weight (32, 1, 3, 3)
        ((32, 1, 3, 3), {"groups": 32}, Fans(9, 9, 9)),
        # Conv1d / Conv3d
        ((16, 8, 5), {}, Fans(40, 80, 5)),
        ((16, 8, 3, 3, 3), {}, Fans(216, 432, 27)),
        # ConvTranspose2d(in=32, out=64): weight (in, out/groups, kh, kw)
        ((32, 64, 3, 3), {"layout": "torch_conv_transpose"}, Fans(288, 576, 9)),
        ((32, 16, 3, 3), {"layout": "torch_conv_transpose", "groups": 4}, Fans(72, 144, 9)),
        # jax / keras kernels (*k, in, out); grouped: (*k, in/groups, out)
        ((512, 256), {"layout": "jax"}, Fans(512, 256, 1)),
        ((3, 3, 32, 64), {"layout": "jax"}, Fans(288, 576, 9)),
        ((3, 3, 8, 64), {"layout": "keras", "groups": 4}, Fans(72, 144, 9)),
        # embedding (num_embeddings, dim): a lookup reads one row
        ((50000, 768), {"layout": "embedding"}, Fans(1, 768, 1)),
        # fused QKV in_proj (3 * d, d) and LSTM gates (4 * h, in)
        ((3 * 512, 512), {"splits": 3}, Fans(512, 512, 1)),
        ((4 * 128, 64), {"splits": 4}, Fans(64, 128, 1)),
        # stacked experts (E, out, in) and jax experts (E, in, out)
        ((8, 1024, 256), {"batch_axes": (0,)}, Fans(256, 1024, 1)),
        ((8, 256, 1024), {"layout": "jax", "batch_axes": (0,)}, Fans(256, 1024, 1)),
        # explicit axes
        ((5, 7, 3), {"in_axis": 0, "out_axis": 2}, Fans(35, 21, 7)),
    ],
)
def test_hand_computed(shape, kwargs, expected):
    f = fans(shape, **kwargs)
    assert f == expected
    assert f.fan_avg == (expected.fan_in + expected.fan_out) / 2


def test_matches_torch_where_torch_is_right():
    helper = torch.nn.init._calculate_fan_in_and_fan_out
    for shape in [(256, 512), (64, 32, 3, 3), (16, 8, 5), (16, 8, 3, 3, 3), (7, 3)]:
        f = fans(shape)
        assert (f.fan_in, f.fan_out) == helper(torch.empty(shape))


def _connections(layer: torch.nn.Module, in_shape: tuple[int, ...]) -> tuple[int, int]:
    """Count, with all weights set to 1, how many inputs reach one interior output unit
    (fan_in) and how many outputs one interior input unit reaches (fan_out)."""
    with torch.no_grad():
        layer.weight.fill_(1.0)
    x = torch.ones(1, *in_shape, requires_grad=True)
    y = layer(x)
    centre = tuple(s // 2 for s in y.shape[2:])
    (g,) = torch.autograd.grad(y[(0, 0, *centre)], x)
    fan_in = int((g != 0).sum())
    tangent = torch.zeros_like(x)
    tangent[(0, 0, *(s // 2 for s in in_shape[1:]))] = 1.0
    with torch.no_grad():  # the layer is linear: the difference is exactly the response
        fan_out = int((layer(x + tangent) - y != 0).sum())
    return fan_in, fan_out


@pytest.mark.parametrize(
    ("layer", "in_shape", "layout", "groups"),
    [
        (torch.nn.Conv1d(8, 16, 5, bias=False), (8, 21), "torch", 1),
        (torch.nn.Conv2d(12, 8, 3, groups=4, bias=False), (12, 11, 11), "torch", 4),
        (torch.nn.Conv2d(6, 6, 3, groups=6, bias=False), (6, 9, 9), "torch", 6),
        (torch.nn.Conv3d(4, 6, 3, bias=False), (4, 7, 7, 7), "torch", 1),
        (torch.nn.ConvTranspose1d(8, 16, 5, bias=False), (8, 21), "torch_conv_transpose", 1),
        (torch.nn.ConvTranspose2d(12, 8, 3, groups=4, bias=False), (12, 9, 9),
         "torch_conv_transpose", 4),
        (torch.nn.ConvTranspose2d(4, 10, 3, groups=2, bias=False), (4, 9, 9),
         "torch_conv_transpose", 2),
    ],
)
def test_fans_count_the_real_connections(layer, in_shape, layout, groups):
    fan_in, fan_out = _connections(layer, in_shape)
    f = fans(tuple(layer.weight.shape), layout=layout, groups=groups)
    assert (f.fan_in, f.fan_out) == (fan_in, fan_out)


def test_torch_helper_is_wrong_for_transposed_and_grouped():
    """The reason for layouts: torch's helper swaps ConvTranspose fans, ignores groups."""
    t = torch.nn.ConvTranspose2d(12, 8, 3, groups=4, bias=False)
    torch_in, torch_out = torch.nn.init._calculate_fan_in_and_fan_out(t.weight)
    real = _connections(t, (12, 9, 9))
    assert (torch_in, torch_out) != real
    assert (fans(tuple(t.weight.shape), layout="torch_conv_transpose", groups=4)[:2]) == real


def test_linear_connections():
    layer = torch.nn.Linear(20, 30, bias=False)
    f = fans(tuple(layer.weight.shape))
    assert (f.fan_in, f.fan_out) == (20, 30)


@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        ((), {}, r"not defined for shape \(\)"),
        ((5,), {}, r"not defined for shape \(5,\).*biases have no fans"),
        ((8, 4, 3), {"batch_axes": (0, 1)}, "batch axes"),
        ((0, 5), {}, r"shape \(0, 5\).*fan_out=0"),
        ((4, 0, 3), {}, "fan_in=0"),
        ((64, 8, 3, 3), {"groups": 3}, "groups=3 does not divide the output channels"),
        ((32, 16, 3, 3), {"layout": "torch_conv_transpose", "groups": 5},
         "groups=5 does not divide the input channels"),
        ((10, 5), {"splits": 3}, "splits=3 does not divide"),
        ((10, 5), {"layout": "tf"}, r"unknown layout 'tf'; valid: 'torch', 'torch_conv_transpose'"),
        ((10, 5), {"groups": 0}, "groups must be an int >= 1"),
        ((10, 5), {"in_axis": 0}, "both in_axis and out_axis"),
        ((10, 5), {"in_axis": 0, "out_axis": 0}, "two different"),
        ((10, 5), {"in_axis": 0, "out_axis": 2}, "out of range"),
        ((10, 5, 3), {"layout": "embedding"}, "num_embeddings, dim"),
        ((10, -5), {}, "non-negative ints"),
    ],
)
def test_bad_shapes_raise_naming_the_shape(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fans(shape, **kwargs)
