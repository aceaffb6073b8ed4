"""What is saturation? Sigmoid and tanh units stuck where their derivative is ~0."""
import torch
from torch import nn

import initscope

torch.manual_seed(0)
x = torch.randn(512, 256)
print(f"{'activation':10s} {'scheme':14s} {'saturated units, mean over layers':>34s}")
result = {}
for act in (nn.Tanh, nn.Sigmoid):
    for scheme in ("uniform(-1,1)", "auto"):
        model = nn.Sequential(*[m for _ in range(5) for m in (nn.Linear(256, 256), act())])
        initscope.initialize(model, scheme, seed=0)
        d = initscope.diagnose(model, x)
        frac = float(d.table.saturated.dropna().mean())
        result[act.__name__, scheme] = frac
        print(f"{act.__name__:10s} {scheme:14s} {frac:34.1%}")
# |tanh| > 0.99 or sigmoid outside [0.01, 0.99]: diagnose's default thresholds
assert result["Tanh", "uniform(-1,1)"] > 0.5 > 0.05 > result["Tanh", "auto"]
