"""The layer graph on real architectures: activations, residual branches, fused QKV."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from initscope import layer_graph
from tests.architectures import (
    GPT,
    ConvNet,
    DataDependent,
    ResNet18,
    SwiGLU,
    mlp,
)


def _act(info):
    return None if info.input_activation is None else info.input_activation.name


def test_mlp_sees_each_activation_and_the_edges():
    net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.LeakyReLU(0.2),
                        nn.Dropout(0.1), nn.Linear(16, 4))
    g = layer_graph(net)
    assert g.method == "fx"
    assert [(i.input_source, _act(i)) for i in g] == [
        ("input", None), ("activation", "tanh"), ("activation", "leaky_relu(0.2)")]
    assert g["0"].output_activation.name == "tanh" and g["5"].output_consumer == "output"
    assert g["0"].is_first and not g["2"].is_first


def test_functional_activations_and_conv_kinds():
    g = layer_graph(ConvNet())
    assert _act(g["grouped"]) == "relu"            # F.relu(stem(x))
    assert _act(g["depthwise"]) == "gelu"          # through max_pool2d
    assert g["pointwise"].input_source == "layer"  # depthwise -> pointwise, no nonlinearity
    assert g["bn"].kind == "norm"
    assert _act(g["up"]) == "relu" and g["up"].kind == "conv_transpose"
    assert _act(g["head"]) == "leaky_relu(0.2)"


def test_resnet18_residual_branches_and_their_ends():
    g = layer_graph(ResNet18(num_classes=10))
    assert g.num_residual_branches == 8
    ends = sorted(i.name for i in g if i.branch_end)
    assert ends == sorted(f"layer{s}.{b}.bn2" for s in range(1, 5) for b in range(2))
    assert g["layer1.0.conv1"].residual_branches and not g["conv1"].residual_branches
    assert g["layer2.0.downsample.0"].residual_branches == ()  # the shortcut, not the branch
    assert _act(g["layer1.0.conv2"]) == "relu"
    assert g["conv1"].is_first and _act(g["layer1.0.conv1"]) == "relu"
    assert _act(g["fc"]) == "relu"  # through avgpool and flatten


def test_gpt_fused_qkv_attention_and_residuals():
    g = layer_graph(GPT(layers=2))
    assert g["h.0.attn.c_attn"].splits == 3
    assert g["h.0.attn.c_attn"].output_consumer == "attention"
    assert g["h.0.attn.c_proj"].input_source == "attention"
    assert _act(g["h.0.c_proj"]) == "gelu_tanh"
    assert g.num_residual_branches == 4
    assert {i.name for i in g if i.branch_end and i.kind == "linear"} == {
        "h.0.attn.c_proj", "h.0.c_proj", "h.1.attn.c_proj", "h.1.c_proj"}
    assert g["wpe"].residual_branches == ()  # token + position embedding is no residual
    assert not g.unresolved


def test_glu_gate_passes_the_gate_activation_on():
    g = layer_graph(SwiGLU(16, 32))
    assert g["gate"].output_activation.name == "silu"
    assert g["up"].output_consumer == "gate"
    assert (g["down"].input_source, _act(g["down"])) == ("gate", "silu")


def test_fx_untraceable_model_falls_back_and_says_so():
    with pytest.raises(ValueError, match=r"could not trace DataDependent.*example_inputs="):
        layer_graph(DataDependent())
    g = layer_graph(DataDependent(), torch.randn(4, 8))
    assert g.method == "dynamic" and "traced by running it" in g.notes[0]
    assert _act(g["b"]) == "tanh" and g["b"].output_activation.name == "elu(1)"


def test_torch_transformer_encoder_by_running_it():
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    g = layer_graph(enc, torch.randn(2, 5, 16))
    assert g["layers.0.self_attn"].kind == "attention"
    assert _act(g["layers.1.linear2"]) == "relu"       # its F.relu, inside the container
    assert g["layers.1.self_attn"].input_source == "norm"  # post-norm
    assert "layers.0.self_attn.out_proj" not in g.layers  # owned by the attention module


def test_custom_activation_module_is_read_numerically():
    class Swish(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.sigmoid(x)

    net = nn.Sequential(nn.Linear(4, 4), Swish(), nn.Linear(4, 4))
    g = layer_graph(net)
    from initscope import gain
    from initscope._core.gain import gain_of

    assert gain_of(g["2"].input_activation) == pytest.approx(gain("silu"), rel=1e-7)


def test_hooks_are_removed_even_when_the_model_raises():
    class Boom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > -1e9:  # untraceable, and it raises when run
                raise RuntimeError("boom")
            return self.a(x)

    m = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        layer_graph(m, torch.randn(2, 4))
    assert not m.a._forward_hooks and not m.a._forward_pre_hooks
    from torch.overrides import _get_current_function_mode_stack

    assert not _get_current_function_mode_stack()


def test_deep_mlp_graph_is_linear_time():
    g = layer_graph(mlp(100, 8, nn.Tanh))
    assert len(g) == 100 and all(_act(i) == "tanh" for i in list(g)[1:])


def test_a_plain_sequential_chain_gives_the_trace_fx_gives():
    """The Sequential fast path builds exactly fx's trace (node for node) for chains of
    leaf modules and nested Sequentials, and steps aside for anything else."""
    from initscope.model._trace import trace_fx, trace_sequential
    from tests.architectures import mlp

    chains = [
        mlp(6, 16, nn.Tanh),
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Sequential(nn.Conv2d(8, 8, 1), nn.GELU(), nn.Sequential(nn.Identity())),
                      nn.Flatten(), nn.Dropout(0.1), nn.LazyLinear(4)),
        nn.Sequential(nn.LSTM(4, 8)),
        nn.Sequential(),
    ]
    for chain in chains:
        assert trace_sequential(chain).nodes == trace_fx(chain).nodes

    class Sub(nn.Sequential):
        def forward(self, x):
            return super().forward(x) * 2

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return torch.relu(self.lin(x)) + x

    patched = nn.Sequential(nn.Linear(4, 4))
    patched.forward = lambda x: x
    hooked = nn.Sequential(nn.Linear(4, 4))
    hooked.register_forward_hook(lambda m, a, o: o)
    for other in (Sub(nn.Linear(4, 4)), nn.Sequential(nn.Linear(4, 4), Block()), patched,
                  hooked, nn.Sequential(nn.Sequential(Block())), Block()):
        assert trace_sequential(other) is None
    # and the graph built on it is the one fx's trace gives (activations seen, order)
    model = mlp(6, 16, nn.Tanh)
    g = layer_graph(model)
    assert [(i.name, i.output_activation.name if i.output_activation else None)
            for i in sorted(g, key=lambda i: i.order)][:2] == [("0", "tanh"), ("2", "tanh")]
