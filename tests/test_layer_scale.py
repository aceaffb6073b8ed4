"""A layer scale read as one (issue 16, "What to build" 5: "layer scale and zero-init
branches understood"): timm's ConvNeXt multiplies each block's last layer by gamma
(1e-6 at init) before adding an Identity shortcut. The gamma's role is "layer scale", the
layer it multiplies is marked, and diagnose's forward trend does not read that layer's
own output (it grew x76 over timm's convnext_atto under timm's own init, a false
"exploding_forward" while the stream it feeds stays put). Written here as timm 1.0 writes
it (timm/models/convnext.py), since timm does not import beside the pinned CPU torch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initscope
from initscope.model.graph import role_of


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(c, 4 * c), nn.GELU(), nn.Linear(4 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.mlp = Mlp(c)
        self.gamma = nn.Parameter(1e-6 * torch.ones(c))
        self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.mlp(self.norm(x)).permute(0, 3, 1, 2)
        x = x.mul(self.gamma.reshape(1, -1, 1, 1))
        return x + self.shortcut(shortcut)


class ConvNeXt(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (8, 16, 32, 64)) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 4, stride=4), LayerNorm2d(widths[0]))
        stages = []
        for i, c in enumerate(widths):
            down = nn.Identity() if i == 0 else nn.Sequential(
                LayerNorm2d(widths[i - 1]), nn.Conv2d(widths[i - 1], c, 2, stride=2))
            stages.append(nn.Sequential(down, Block(c), Block(c)))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(widths[-1], 10)
        for m in self.modules():  # timm's _init_weights: trunc_normal(0.02), zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02,
                                      generator=torch.Generator().manual_seed(0))
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


X = torch.randn(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("how", ["fx", "dynamic"])
def test_the_gamma_is_a_layer_scale_and_marks_the_layer_it_multiplies(how):
    from initscope.model._trace import trace_dynamic, trace_fx
    from initscope.model.graph import analyze

    model = ConvNeXt()
    graph = analyze(trace_fx(model) if how == "fx" else trace_dynamic(model, X), model)
    block = graph["stages.1.1"]
    assert role_of(block, "gamma") == "layer scale (a residual branch's per-channel gain)"
    assert {i.name for i in graph if i.layer_scaled} == {
        f"stages.{s}.{b}.mlp.fc2" for s in range(4) for b in (1, 2)}


def test_the_forward_trend_does_not_read_a_layer_scaled_output():
    """The fc2 outputs grow x~70 from the first block to the last under std 0.02 (their
    fan_in grows 8x, and so does fc1's), multiplied by 1e-6 before they join the stream.
    Measured, and no forward verdict for it. (The backward trend still compares the fc2
    layers: their gradients are gamma times the stream's in every block, like with like,
    and here they shrink across the std-0.02 downsampling convolutions as in the zoo's
    ConvNeXt: a real verdict, docs/guides/real-models.md.)"""
    model = ConvNeXt()
    d = initscope.diagnose(model, X)
    layers = {s.name: s for s in d.layers}
    growth = (layers["stages.3.2.mlp.fc2"].act_second_moment
              / layers["stages.0.1.mlp.fc2"].act_second_moment)
    assert growth > 30  # EXPLODE_WARN: it would warn if read
    assert not [v for v in d.verdicts if v.kind == "exploding_forward"], d.verdicts
    assert all("fc2" not in v.evidence for v in d.verdicts if "forward" in v.kind)
