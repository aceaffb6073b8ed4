"""How were weights initialized historically? U[-0.3, 0.3], U[0, 1], U[-1, 1] on a deep tanh net."""
import torch
from torch import nn

import initscope

torch.manual_seed(0)


def make() -> nn.Sequential:
    return nn.Sequential(*[m for _ in range(10) for m in (nn.Linear(256, 256), nn.Tanh())])


x = torch.randn(512, 256)
c = initscope.compare(make, x, ["uniform(-0.3,0.3)", "uniform(0,1)", "uniform(-1,1)",
                                "glorot_standard", "xavier"])
print(f"{'scheme':18s} {'E[x^2] layer 1':>14s} {'layer 10':>10s}  verdicts")
for scheme, d in c.diagnoses.items():
    a = d.table.act_second_moment
    kinds = ", ".join(sorted({v.kind for v in d.verdicts})) or "healthy"
    print(f"{scheme:18s} {a.iloc[0]:14.3g} {a.iloc[9]:10.3g}  {kinds}")
assert not c.diagnoses["xavier"].verdicts or all(
    v.kind not in ("saturation", "symmetry") for v in c.diagnoses["xavier"].verdicts)
assert any(v.kind == "saturation" for v in c.diagnoses["uniform(-1,1)"].verdicts)
