"""The seed's claim in one picture: activation variance by depth under several schemes.

Writes docs/assets/variance_by_depth.png (shown in the README and on the home page)."""
from pathlib import Path

import torch
from torch import nn

import initscope
from initscope.report.plots import comparison_figure

torch.manual_seed(0)


def make() -> nn.Sequential:
    return nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(256, 256), nn.Tanh())])


c = initscope.compare(make, torch.randn(512, 256),
                      ["zeros", "uniform(-1,1)", "glorot_standard", "xavier", "auto"])
out = Path(__file__).resolve().parent.parent / "assets" / "variance_by_depth.png"
fig = comparison_figure(c, out=out)
print(c)
print(f"wrote {out.name}")
