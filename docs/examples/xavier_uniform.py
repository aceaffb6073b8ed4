"""What is Xavier uniform? The same variance from a uniform, a normal or a truncated normal."""
import math

import torch

import initscope
from initscope import init

fan_in, fan_out = 300, 100
var = 2 / (fan_in + fan_out)
gen = torch.Generator().manual_seed(0)
u = init.xavier_uniform_(torch.empty(fan_out, fan_in), generator=gen)
n = init.xavier_normal_(torch.empty(fan_out, fan_in), generator=gen)
t = init.variance_scaling_(torch.empty(fan_out, fan_in), 1.0, "fan_avg", "truncated_normal",
                           generator=gen)
rule = initscope.VarianceScaling(1.0, "fan_avg", "truncated_normal")
draw = rule.draw(initscope.fans((fan_out, fan_in)))
print(f"target Var = 2/(fan_in+fan_out) = {var:.3e}")
print(f"uniform  U[-a, a], a = sqrt(3 Var) = {math.sqrt(3 * var):.4f}: measured var {u.var():.3e}")
print(f"normal   N(0, Var), std = {math.sqrt(var):.4f}: measured var {n.var():.3e}")
print(f"truncated at 2 std, underlying std {draw.underlying_std:.4f} "
      f"(= std / {math.sqrt(var) / draw.underlying_std:.4f}): measured var {t.var():.3e}")
for s in (u, n, t):
    assert abs(s.var().item() / var - 1) < 0.03  # 30k samples: std error under 1%
