"""Why is good initialization essential? Same network, same data, same steps of SGD.

Draws docs/assets/why_init_matters.png: the signal and gradient by layer at init, the
picture behind the accuracies."""
from pathlib import Path

import torch
from torch import nn

import initscope

# A task a linear model solves: the class is the argmax of a fixed random projection.
gen = torch.Generator().manual_seed(0)
teacher = torch.randn(64, 10, generator=gen)
x = torch.randn(4096, 64, generator=gen)
y = (x @ teacher).argmax(1)


def make(depth: int = 10, width: int = 128) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = 64
    for _ in range(depth):  # deep tanh network, as in Glorot & Bengio
        layers += [nn.Linear(d, width), nn.Tanh()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, 10))


def train(model: nn.Module, steps: int = 300, batch: int = 64, lr: float = 0.1) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.randint(0, len(x), (steps, batch), generator=torch.Generator().manual_seed(1))
    for idx in order:
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


accuracy = {}
for scheme in ("glorot_standard", "xavier", "auto"):
    model = make()
    initscope.initialize(model, scheme, seed=0)
    accuracy[scheme] = train(model)
    print(f"{scheme:16s} training accuracy after 300 SGD steps: {accuracy[scheme]:.1%}")
print("chance: 10%")
assert accuracy["glorot_standard"] < 0.3 < 0.6 < min(accuracy["xavier"], accuracy["auto"])

from initscope.report.plots import comparison_figure  # noqa: E402

c = initscope.compare(make, x[:512], ["glorot_standard", "xavier", "auto"],
                      target=y[:512])
out = Path(__file__).resolve().parent.parent / "assets" / "why_init_matters.png"
comparison_figure(c, out=out)
print(f"wrote {out.name}")
