"""Why does Xavier initialization work? Forward and backward variance, layer by layer.

Draws docs/assets/why_xavier_works.png, the page's picture of the same numbers."""
from pathlib import Path

import torch
from torch import nn

import initscope

torch.manual_seed(0)
width, depth = 256, 20


def make() -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers)


x = torch.randn(512, width)
c = initscope.compare(make, x, ["glorot_standard", "xavier"])
print("layer  E[x^2] standard  E[x^2] xavier  grad var standard  grad var xavier")
std, xav = (c.diagnoses[s].table for s in ("glorot_standard", "xavier"))
for i in (0, 4, 9, 14, 19):
    print(f"{i + 1:5d}  {std.act_second_moment[i]:15.2e}  {xav.act_second_moment[i]:13.2e}"
          f"  {std.grad_pre_var[i]:17.2e}  {xav.grad_pre_var[i]:15.2e}")
shrink_std = std.act_second_moment[19] / std.act_second_moment[0]
shrink_xav = xav.act_second_moment[19] / xav.act_second_moment[0]
print(f"activation E[x^2], layer 20 / layer 1: standard {shrink_std:.1e}, xavier {shrink_xav:.2f}")
assert shrink_std < 1e-3 < 0.05 < shrink_xav
from initscope.report.plots import comparison_figure  # noqa: E402

out = Path(__file__).resolve().parent.parent / "assets" / "why_xavier_works.png"
comparison_figure(c, out=out)
print(f"wrote {out.name}")

# Glorot & Bengio's own measure: the mean singular value of each layer-to-layer Jacobian
# d h_{l+1} / d h_l (they report ~0.5 for the standard init, ~0.8 for the normalized one).
from initscope.diagnostics import layer_jacobian_singular_values  # noqa: E402

for scheme in ("glorot_standard", "xavier"):
    model = make()
    initscope.initialize(model, scheme, seed=0)
    means = [r.mean for r in layer_jacobian_singular_values(model, x, samples=2)]
    print(f"mean Jacobian singular value, {scheme}: {sum(means) / len(means):.2f}")
    assert (0.4 < sum(means) / len(means) < 0.6) == (scheme == "glorot_standard")
