"""From torch.nn.init: what is the same, and what initscope fixes."""
import math

import torch
from torch import nn

import initscope
from initscope import init

# Same names, signatures and (for a shared generator) the same numbers.
a = init.kaiming_normal_(torch.empty(64, 32), generator=torch.Generator().manual_seed(0))
b = nn.init.kaiming_normal_(torch.empty(64, 32), generator=torch.Generator().manual_seed(0))
print("kaiming_normal_ identical:", torch.equal(a, b))

# 1. ConvTranspose2d(16, 32, 4) stores its weight as (in, out, kH, kW): torch's helper
#    swaps the fans; fans="torch_conv_transpose" gets them right.
w = nn.ConvTranspose2d(16, 32, 4).weight
print("ConvTranspose2d(16, 32, 4): torch's fan_in",
      nn.init._calculate_fan_in_and_fan_out(w)[0], "| initscope",
      initscope.fans(tuple(w.shape), layout="torch_conv_transpose").fan_in)

# 2. Gains for activations torch's table does not know, computed by quadrature.
for act in ("gelu", "silu", "mish"):
    print(f"gain({act!r}) = {initscope.gain(act):.4f}", end="; ")
print("torch: calculate_gain('gelu') raises")

# 3. bf16 truncated normal: sampled in float32 and rounded once, bounds kept.
t = init.trunc_normal_(torch.empty(4096, dtype=torch.bfloat16), std=1.0, a=-0.5, b=0.5)
print("bf16 trunc_normal_ within [-0.5, 0.5]:", bool(t.float().abs().max() <= 0.5))

# 4. nn.Linear's default init has variance 1/(3 fan_in): a gain of 1/sqrt(3).
lin = nn.Linear(1024, 1024)
print(f"nn.Linear default: Var(w) * fan_in = {lin.weight.var().item() * 1024:.3f} (1/3)")
assert torch.equal(a, b) and abs(lin.weight.var().item() * 1024 - 1 / 3) < 0.01
assert math.isfinite(initscope.gain("mish"))
