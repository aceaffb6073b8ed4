"""muP without model surgery: a wide MLP from a narrow base, Adam's per-parameter rates,
the coordinate check that shows the widths agree, and a Hugging Face GPT-2 whose
attention gets its 1/d_head through the module's own ``scaling``."""
import torch
import transformers
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
    cc = initscope.coord_check(mlp, [64, 128, 256, 512, 1024], base=64, batch=x, target=y,
                               steps=3, optimizer="adam", lr=1e-2, parametrization=param,
                               seeds=(0, 1), readout_zero=True)
    print()
    print(cc)
    worst = max(abs(cc.slope(m)) for m, _ in cc.slopes)
    assert (worst <= 0.1) == (param == "mup"), worst


def gpt2(d: int) -> nn.Module:
    transformers.logging.set_verbosity_error()
    return transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=96, n_positions=16, n_embd=d, n_layer=2, n_head=4, bos_token_id=0,
        eos_token_id=0))


ids = {"input_ids": torch.randint(0, 96, (2, 16), generator=g)}
plan = initscope.mup(gpt2(256), base=gpt2(64), optimizer="adamw", example_inputs=ids)
print()
lines = str(plan).splitlines()  # the header, the tied readout, the attentions, a summary
print("\n".join([lines[0]] + [ln for ln in lines[1:] if "hook" in ln or
                                 ln.startswith(("attention", "muP"))]))
