"""muP without model surgery: a wide MLP from a narrow base, Adam's per-parameter rates,
and the coordinate check that shows the widths agree."""
import torch
from torch import nn

import initscope


def mlp(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(16, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(),
                         nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 10))


model = mlp(1024)
plan = initscope.mup(model, base=mlp(64), optimizer="adam", seed=0)  # initializes in place
print(plan)
opt = torch.optim.Adam(plan.param_groups(lr=1e-2))
print("groups (lr, eps):", [(g["lr"], g["eps"]) for g in opt.param_groups])

g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 16, generator=g), torch.randint(0, 10, (64,), generator=g)
for param in ("mup", "sp"):
    cc = initscope.coord_check(mlp, [128, 256, 512, 1024], base=64, batch=x, target=y,
                               steps=3, optimizer="adam", lr=1e-2, parametrization=param,
                               seeds=(0, 1))
    print()
    print(cc)
    worst = max(abs(cc.slope(m)) for m, _ in cc.slopes)
    assert (worst <= 0.1) == (param == "mup"), worst
