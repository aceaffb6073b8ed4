"""Standard architectures, defined here so the tests need no torchvision or downloads."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def mlp(depth: int, width: int, act: type[nn.Module], d_in: int | None = None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if (i == 0 and d_in) else width, width), act()]
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """A small encoder-decoder CNN with grouped, depthwise and transposed convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.grouped = nn.Conv2d(32, 64, 3, padding=1, groups=4)
        self.depthwise = nn.Conv2d(64, 64, 3, padding=1, groups=64)
        self.pointwise = nn.Conv2d(64, 64, 1)
        self.bn = nn.BatchNorm2d(64)
        self.up = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1, groups=2)
        self.head = nn.Conv2d(32, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        x = F.max_pool2d(F.gelu(self.grouped(x)), 2)
        x = torch.relu(self.bn(self.pointwise(self.depthwise(x))))
        x = F.leaky_relu(self.up(x), 0.2)
        return self.head(x)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


def torchvision_resnet_init(model: nn.Module) -> None:
    """What torchvision's ResNet constructor does after building its modules (each of
    which ran its own reset_parameters()): He normal with fan_out on every convolution,
    weight 1 and bias 0 on every BatchNorm / GroupNorm (torchvision/models/resnet.py)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class ResNet18(nn.Module):
    """He et al. 2016's ResNet-18, laid out as torchvision's (same parameter names) and
    initialized as torchvision's constructor does (:func:`torchvision_resnet_init`);
    ``zero_init_residual`` zeroes each block's last BatchNorm gain, as torchvision's
    option of that name (and timm's default ``zero_init_last``) does."""

    def __init__(self, num_classes: int = 1000, zero_init_residual: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (cout, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, cout, stride),
                                                         BasicBlock(cout, cout)))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        torchvision_resnet_init(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    """A nanoGPT-style decoder with tied input/output embeddings."""

    def __init__(self, vocab: int = 96, block: int = 16, d: int = 64, layers: int = 3,
                 heads: int = 4) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        self.h = nn.ModuleList([GPTBlock(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class SwiGLU(nn.Module):
    """Shazeer 2020's gated feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d, hidden, bias=False)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class DataDependent(nn.Module):
    """Control flow on a tensor value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.a(x))
        if h.sum() > -math.inf:
            h = F.elu(self.b(h))
        return h


class Zoo(nn.Module):
    """One of each remaining layer type: EmbeddingBag, Conv1d, ConvTranspose1d/3d, Conv3d,
    GroupNorm, GRU and an Elman RNN."""

    def __init__(self) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(50, 16, mode="mean")
        self.conv1d = nn.Conv1d(16, 16, 3, padding=1)
        self.deconv1d = nn.ConvTranspose1d(16, 8, 4, stride=2, padding=1, groups=2)
        self.gn = nn.GroupNorm(4, 8)
        self.gru = nn.GRU(8, 12, batch_first=True)
        self.rnn = nn.RNN(12, 12, nonlinearity="relu", batch_first=True)
        self.conv3d = nn.Conv3d(1, 4, 3, padding=1)
        self.deconv3d = nn.ConvTranspose3d(4, 2, 2, stride=2)

    def forward(self, idx: torch.Tensor, offsets: torch.Tensor, vol: torch.Tensor):
        h = self.bag(idx, offsets).unsqueeze(-1).expand(-1, -1, 6)  # (B, 16, 6)
        h = F.silu(self.gn(self.deconv1d(torch.tanh(self.conv1d(h)))))  # (B, 8, 12)
        h, _ = self.gru(h.transpose(1, 2))
        h, _ = self.rnn(h)
        v = self.deconv3d(F.relu(self.conv3d(vol)))
        return h.mean() + v.mean()
