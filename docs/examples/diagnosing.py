"""Diagnosing a network that does not train: measure, read the verdicts, fix, measure again."""
import torch
from torch import nn

import initscope

torch.manual_seed(0)
model = nn.Sequential(*[m for _ in range(30) for m in (nn.Linear(256, 256), nn.ReLU())],
                      nn.Linear(256, 10))
initscope.initialize(model, "xavier", seed=0)  # Xavier's gain 1 on ReLU layers
x, y = torch.randn(512, 256), torch.randint(0, 10, (512,))
d = initscope.diagnose(model, x, target=y)
for v in d.verdicts:
    print("before:", str(v)[:160])
assert any(v.kind.startswith("vanishing") for v in d.verdicts)

initscope.initialize(model, "auto", seed=0)  # gain sqrt(2) after each ReLU (He et al.)
d = initscope.diagnose(model, x, target=y)
print("after: ", ", ".join(v.kind for v in d.verdicts) or "healthy: no problem found")
print(d.table[["name", "act_second_moment", "grad_pre_var"]].iloc[[0, 14, 29]].to_string())
assert d.healthy
