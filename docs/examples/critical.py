"""Critical initialization: the edge of chaos of mean-field theory (Schoenholz et al. 2017)."""
import torch
from torch import nn

from initscope import init, theory

sw2 = theory.critical_sigma_w2("tanh", sigma_b2=0.05)
print(f"tanh, sigma_b^2 = 0.05: critical sigma_w^2 = {sw2:.4f}")
for s in (1.2, sw2, 2.5):
    ds = theory.depth_scales("tanh", s, 0.05)
    print(f"  sigma_w^2 = {s:.3f}: chi_1 = {ds.chi1:.3f}, correlation depth xi_c = "
          f"{ds.xi_c:.3g} layers")
assert abs(sw2 - 1.76) < 0.01

# init.critical_ sets a layer there: weights N(0, sigma_w^2 / fan_in), bias N(0, sigma_b^2)
torch.manual_seed(0)
layers = [nn.Linear(512, 512) for _ in range(50)]
for layer in layers:
    init.critical_(layer.weight, "tanh", sigma_b2=0.05)
    init.normal_(layer.bias, 0.0, 0.05 ** 0.5)
h = torch.randn(256, 512)
with torch.no_grad():
    for layer in layers:
        pre = layer(h)
        h = torch.tanh(pre)
q_pred, q_meas = theory.q_star("tanh", sw2, 0.05), pre.pow(2).mean().item()
print(f"pre-activation second moment at layer 50: predicted q* = {q_pred:.3f}, "
      f"measured {q_meas:.3f}")
assert abs(q_meas / q_pred - 1) < 0.1
