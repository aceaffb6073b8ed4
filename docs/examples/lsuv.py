"""LSUV (Mishkin & Matas 2016): calibrate every layer on a batch so its output has unit variance."""
import torch
from torch import nn

import initscope

torch.manual_seed(0)
model = nn.Sequential(*[m for _ in range(20) for m in (nn.Linear(128, 128), nn.ELU())])
batch = torch.randn(256, 128)
initscope.initialize(model, "glorot_standard", seed=0)  # badly scaled to begin with
report = initscope.lsuv(model, batch)
with torch.no_grad():
    h, stds = batch, []
    for m in model:
        h = m(h)
        if isinstance(m, nn.Linear):
            stds.append(h.std().item())
print("output std of each Linear after LSUV:", " ".join(f"{s:.3f}" for s in stds[:5]), "...",
      f"{stds[-1]:.3f}")
assert all(abs(s - 1) < 1e-3 for s in stds)
print(f"{len(report.records)} layers calibrated in one forward pass")
