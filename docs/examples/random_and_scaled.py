"""Why random numbers, and why scale them by the layer size?"""
import math

import torch

torch.manual_seed(0)
width, depth = 1000, 10
x = torch.randn(256, width)
print("std of the weights      E[x^2] after layer:  1         5         10")
for label, std in [("N(0, 1)", 1.0), ("N(0, 0.01^2)", 0.01),
                   ("N(0, 1/fan_in)", 1 / math.sqrt(width))]:
    h, moments = x, []
    for _ in range(depth):  # linear layers: E[y^2] = fan_in * Var(w) * E[x^2]
        h = h @ (torch.randn(width, width) * std)
        moments.append(h.pow(2).mean().item())
    print(f"{label:22s}  {moments[0]:9.2e} {moments[4]:9.2e} {moments[9]:9.2e}")
    if std == 1 / math.sqrt(width):
        assert 0.5 < moments[9] < 2
    else:
        assert moments[9] > 1e20 or moments[9] < 1e-8
print("fan_in * Var(w) is the factor per layer: 1000, 0.1 and 1")
