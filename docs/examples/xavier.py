"""What is Xavier initialization? Glorot & Bengio (2010), eq. 16."""
import math

import torch

from initscope import init

fan_in, fan_out = 512, 256
w = torch.empty(fan_out, fan_in)  # a Linear(512, 256) weight: (out, in)
init.xavier_uniform_(w, generator=torch.Generator().manual_seed(0))

bound = math.sqrt(6 / (fan_in + fan_out))  # U[-bound, bound]
target_var = 2 / (fan_in + fan_out)  # = bound^2 / 3
print(f"bound sqrt(6/(fan_in+fan_out)) = {bound:.5f}, largest |w| = {w.abs().max():.5f}")
print(f"target variance 2/(fan_in+fan_out) = {target_var:.3e}, measured = {w.var():.3e}")
assert w.abs().max() <= bound
assert abs(w.var().item() / target_var - 1) < 0.02  # 131k samples: std error 0.4%

# the same numbers as torch's, from the same generator
t = torch.nn.init.xavier_uniform_(torch.empty(fan_out, fan_in),
                                  generator=torch.Generator().manual_seed(0))
print("identical to torch.nn.init.xavier_uniform_:", torch.equal(w, t))
assert torch.equal(w, t)
