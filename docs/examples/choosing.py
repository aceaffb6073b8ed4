"""Choosing an initialization for your architecture: "auto" reads the graph of each."""
import torch
from torch import nn

import initscope


class Block(nn.Module):  # a pre-norm transformer block
    def __init__(self, d: int = 64, heads: int = 4) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.proj(nn.functional.gelu(self.fc(self.ln2(x))))


models = {
    "MLP (ReLU)": nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10)),
    "CNN (SiLU, grouped)": nn.Sequential(nn.Conv2d(3, 32, 3), nn.SiLU(),
                                         nn.Conv2d(32, 32, 3, groups=4), nn.SiLU()),
    "Transformer block": Block(),
    "LSTM": nn.LSTM(16, 32),
}
for label, model in models.items():
    report = initscope.initialize(model, "auto", seed=0)
    print(f"== {label}")
    for r in report.records:
        if r.name.endswith("weight") or "weight" in r.name:
            gain = "" if r.gain is None else f"gain {r.gain:.3f}"
            print(f"  {r.name:20s} {r.scheme:32s} {gain:11s} input: {r.input}")
    assert not report.uncovered
