"""Parameter roles read off the graph, on plain torch models (issue 16): the readout of a
language model and its tied embedding, queries, norms recognised by what they compute,
(in, out) dense layers, weight-norm parametrizations, frozen parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import initscope
from initscope._core.schemes import READOUT_EXCESS, readout
from tests.architectures import GPT


def test_readout_rule_gives_the_loss_it_derives_by_quadrature_and_monte_carlo():
    """E[logsumexp(z) - z_y] for z_i ~ N(0, s^2), s^2 = 2 eps ln V: ln V (1 + eps) to
    O(1/V); the rule's std on real draws of the head gives it."""
    for vocab in (100, 1000, 30000):
        s2 = readout(vocab).scale  # Var[w] fan_in = logit variance for unit inputs
        assert s2 == pytest.approx(2 * READOUT_EXCESS * math.log(vocab))
        # quadrature of E[exp(z)] (Gauss-Hermite): the mean of the softmax denominator
        x, w = np.polynomial.hermite_e.hermegauss(64)
        mean_exp = float((w * np.exp(np.sqrt(s2) * x)).sum() / w.sum())
        assert mean_exp == pytest.approx(math.exp(s2 / 2), rel=1e-12)
        # Monte Carlo on real tensors: a head drawn by the rule on unit-variance inputs
        g = torch.Generator().manual_seed(vocab)
        d = 256
        head = torch.empty(vocab, d)
        initscope.init.variance_scaling_(head, s2, "fan_in", "uniform", generator=g)
        h = torch.randn(64, d, generator=g, dtype=torch.float64)
        z = h @ head.double().T
        loss = float((z.logsumexp(-1) - z.mean(-1)).mean())
        assert loss / math.log(vocab) - 1 == pytest.approx(READOUT_EXCESS, abs=0.004), vocab


def test_tied_gpt_starts_near_ln_v_with_uniform_attention():
    torch.manual_seed(0)
    model = GPT(vocab=512, block=16, d=64)
    report = initscope.initialize(model, "auto", seed=0)
    rec = {r.name: r for r in report.records}
    assert rec["wte.weight"].scheme.startswith("readout (embedding tied to the output head)")
    assert rec["wpe.weight"].scheme.startswith("readout (embedding summed with it)")
    assert rec["wte.weight"].target_std == pytest.approx(
        math.sqrt(2 * READOUT_EXCESS * math.log(512) / 64))
    assert "query block zero" in rec["h.0.attn.c_attn.weight"].scheme
    ids = torch.randint(0, 512, (8, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = model(ids).double()
    loss = float((z.logsumexp(-1) - z.mean(-1)).mean())
    assert loss / math.log(512) - 1 == pytest.approx(READOUT_EXCESS, abs=0.005)
    w = model.h[0].attn.c_attn.weight.detach()
    assert bool((w[:64] == 0).all()) and float(w[64:].std()) > 0  # queries zero, k v drawn


class RMSNorm(nn.Module):
    """A norm torch does not know, with its gain stored as 1 + w (Gemma's)."""

    def __init__(self, d: int, offset: bool) -> None:
        super().__init__()
        self.offset = offset
        self.weight = nn.Parameter(torch.zeros(d) if offset else torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
        return x * (1 + self.weight if self.offset else self.weight)


class LayerScale(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((d,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


@pytest.mark.parametrize("offset", [False, True])
def test_norms_are_recognised_by_what_they_compute_and_their_gain_kept(offset):
    net = nn.Sequential(nn.Linear(8, 16), RMSNorm(16, offset), nn.Linear(16, 4), LayerScale(4))
    g = initscope.layer_graph(net)
    assert g["1"].kind == "norm" and g["3"].kind == "other"  # scale-invariant or not
    assert g["2"].input_source == "norm"
    report = initscope.initialize(net, "auto", seed=0)
    rec = {r.name: r for r in report.records}
    if offset:  # zeros mean a unit gain here: not overwritten with ones
        assert not rec["1.weight"].covered and bool((net[1].weight == 0).all())
    else:
        assert rec["1.weight"].scheme == "ones"
    assert not rec["3.gamma"].covered  # a layer scale is no norm: left as built


class Conv1D(nn.Module):
    """Hugging Face's GPT-2 dense layer: weight stored (in, out), y = x @ W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(
            *x.shape[:-1], self.nf)


def test_in_out_dense_layers_get_fans_and_splits_from_their_output_axis():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_attn = Conv1D(3 * 32, 32)
            self.c_fc = Conv1D(128, 32)
            self.c_proj = Conv1D(32, 128)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.c_attn(x).split(32, dim=2)
            a = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1))
            return self.c_proj(F.relu(self.c_fc(a.squeeze(1))))

    net = Block()
    g = initscope.layer_graph(net)
    assert (g["c_attn"].kind, g["c_attn"].splits) == ("linear", 3)
    report = initscope.initialize(net, "auto", seed=0)
    rec = {r.name: r for r in report.records}
    assert (rec["c_attn.weight"].fan_in, rec["c_attn.weight"].fan_out) == (32, 32)
    assert (rec["c_proj.weight"].fan_in, rec["c_proj.weight"].fan_out) == (128, 32)
    assert rec["c_proj.weight"].achieved_std == pytest.approx(math.sqrt(2 / 128), rel=0.05)
    w = net.c_attn.weight.detach()
    assert bool((w[:, :32] == 0).all())  # the query block, on the out axis
    assert float(w[:, 32:].std()) == pytest.approx(1 / math.sqrt(32), rel=0.1)


def test_weight_norm_originals_compute_the_drawn_weight():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(),
                        nn.utils.parametrizations.weight_norm(nn.Linear(64, 32)))
    report = initscope.initialize(net, "auto", seed=0)
    rec = {r.name: r for r in report.records}
    v = "2.parametrizations.weight.original1"
    assert rec[v].covered and "right_inverse" in rec[v].scheme
    w = net[2].weight.detach()
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 64), rel=0.1)  # ReLU's rule
    torch.manual_seed(1)
    other = nn.Sequential(nn.Linear(16, 64), nn.ReLU(),
                          nn.utils.parametrizations.weight_norm(nn.Linear(64, 32)))
    initscope.initialize(other, "auto", seed=0)
    assert torch.equal(other[2].weight, net[2].weight)  # same seed, same weight


def test_frozen_parameters_are_left_alone():
    net = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    net[0].weight.requires_grad_(False)
    before = net[0].weight.detach().clone()
    report = initscope.initialize(net, "auto", seed=0)
    assert torch.equal(net[0].weight, before)
    rec = {r.name: r for r in report.records}
    assert not rec["0.weight"].covered and rec["0.weight"].kept.startswith("frozen")
    assert "NOT COVERED, kept (frozen" in str(report)


def test_queries_keys_and_values_of_sdpa_are_read_off_the_graph():
    g = initscope.layer_graph(GPT())
    assert set(g["h.0.attn.c_attn"].attention) == {("query", 0), ("key", 1), ("value", 2)}
    assert g["h.0.attn.c_proj"].attention == ()


class _Tokens(nn.Module):
    """A ViT's stem: patches, a class token joined in front, learned positions added."""

    def __init__(self, d: int = 32, n: int = 16) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, stride=4)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, n + 1, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], dim=1)
        return t + self.pos


class _GatedBlock(nn.Module):
    """Pre-norm block: a SwiGLU MLP, a layer scale on the branch."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.gate, self.up, self.down = nn.Linear(d, 64), nn.Linear(d, 64), nn.Linear(64, d)
        self.gamma = nn.Parameter(1e-6 * torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        return x + self.gamma * self.down(F.silu(self.gate(h)) * self.up(h))


class _Experts(nn.Module):
    """A top-2 mixture of 4 experts: a router, stacked expert weights, a skip gain."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.router = nn.Linear(d, 4, bias=False)
        self.w = nn.Parameter(torch.randn(4, d, d) / d ** 0.5)
        self.skip = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores, chosen = torch.softmax(self.router(x), -1).topk(2, dim=-1)
        out = torch.einsum("btd,edf->btef", x, self.w)
        picked = out.gather(2, chosen[..., None].expand(-1, -1, -1, out.shape[-1]))
        return (scores[..., None] * picked).sum(2) + x * self.skip


class _ViTish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tokens, self.block, self.moe = _Tokens(), _GatedBlock(), _Experts()
        self.head = nn.Linear(32, 10)
        self.logit_scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.moe(self.block(self.tokens(x)))[:, 0]) * self.logit_scale.exp()


VIT_ROLES = {
    "tokens.cls": "class token (joined to the sequence)",
    "tokens.pos": "position embedding (added to the sequence)",
    "block.gate.weight": "MLP gate",
    "block.up.weight": "MLP up (multiplied by the gate)",
    "block.down.weight": "residual branch end",
    "block.gamma": "layer scale (a residual branch's per-channel gain)",
    "moe.router.weight": "router (its output holds a top-k choice of experts)",
    "moe.w": "stacked expert weights",
    "moe.skip": "per-channel skip gain (on the shortcut)",
    "logit_scale": "logit scale, used as exp(p)",
}


@pytest.mark.parametrize("how", ["fx", "dynamic"])
def test_roles_of_parameters_a_modules_own_code_uses(how):
    """Read off the first op that joins each parameter to the data, in both traces: the
    same names on plain torch modules as on the Hugging Face zoo."""
    from initscope.model._trace import trace_dynamic, trace_fx
    from initscope.model.graph import analyze, role_of

    model = _ViTish()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    trace = trace_fx(model) if how == "fx" else trace_dynamic(model, x)
    graph = analyze(trace, model)
    for name, role in VIT_ROLES.items():
        owner, _, local = name.rpartition(".")
        assert role_of(graph[owner], local) == role, (name, role_of(graph[owner], local))


class _TimmAttention(nn.Module):
    """timm's Attention: a fused QKV whose queries and keys pass q_norm / k_norm
    (Identity unless qk_norm) on their way to the attention."""

    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.q_norm, self.k_norm = nn.Identity(), nn.Identity()
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


@pytest.mark.parametrize("how", ["fx", "dynamic"])
def test_queries_and_keys_are_found_through_identity_modules(how):
    from initscope.model._trace import trace_dynamic, trace_fx
    from initscope.model.graph import analyze, role_of

    model = _TimmAttention()
    x = torch.randn(2, 8, 32, generator=torch.Generator().manual_seed(0))
    graph = analyze(trace_fx(model) if how == "fx" else trace_dynamic(model, x), model)
    assert role_of(graph["qkv"], "weight") == "query+key+value (fused)"
