"""What initialization methods exist? Every scheme on one layer: Linear(512, 256) after a ReLU."""
from torch import nn

import initscope

schemes = ["zeros", "ones", "uniform(-0.3,0.3)", "uniform(-1,1)", "glorot_standard",
           "torch_default", "lecun", "xavier", "he", "orthogonal", "auto"]
print(f"{'scheme':18s} {'what the weight gets':28s} {'target std':>10s} {'measured':>9s}")
for scheme in schemes:
    model = nn.Sequential(nn.Linear(128, 512), nn.ReLU(), nn.Linear(512, 256))
    report = initscope.initialize(model, scheme, seed=0)
    r = next(r for r in report.records if r.name == "2.weight")
    target = "" if r.target_std is None else f"{r.target_std:.4f}"
    print(f"{scheme:18s} {r.scheme:28s} {target:>10s} {r.achieved_std:9.4f}")
    if r.target_std:
        assert abs(r.achieved_std / r.target_std - 1) < 0.02
