"""What happens if all weights are 0 or 1? Every unit of a layer computes the same thing."""
import torch
from torch import nn

import initscope


def make() -> nn.Sequential:
    return nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                         nn.Linear(64, 10))


x, y = torch.randn(256, 32), torch.randint(0, 10, (256,))
for scheme in ("zeros", "ones", "auto"):
    model = make()
    initscope.initialize(model, scheme, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(50):  # training does not break the symmetry: identical units get
        loss = nn.functional.cross_entropy(model(x), y)  # identical gradients
        opt.zero_grad()
        loss.backward()
        opt.step()
    w = model[2].weight.detach()
    distinct_rows = torch.unique(w, dim=0).shape[0]
    d = initscope.diagnose(model, x, target=y)
    kinds = sorted({v.kind for v in d.verdicts}) or ["healthy"]
    print(f"{scheme:5s}: after 50 steps layer 2 has {distinct_rows:2d} distinct units of 64; "
          f"diagnose: {', '.join(kinds)}")
    if scheme == "auto":
        assert distinct_rows == 64
    else:
        assert distinct_rows == 1 and "symmetry" in kinds
