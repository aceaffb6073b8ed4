"""muP without model surgery (issue 18): the plan against the ``mup`` package it must
equal where they overlap, its invariants (width == base is the scheme itself), the tied
readout's forward multiplier, checkpoints, and bad input."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from torch import nn

import initscope
from initscope._core import mup as rules
from initscope.model._mup import base_shapes, mup, mup_from_state_dict
from tests.architectures import GPT

mup_pkg = pytest.importorskip("mup")

BASE, WIDE = 64, 512  # m = 8: a power of 2, so a folded 1/m is exact in float32


def plain(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(16, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(),
                         nn.Linear(d, d), nn.ReLU(), nn.Linear(d, 10))


def with_mureadout(d: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(16, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU(),
                         nn.Linear(d, d), nn.ReLU(), mup_pkg.MuReadout(d, 10))


def _pair(optimizer: str, lr: float, wd: float) -> tuple[nn.Module, nn.Module, Any, Any]:
    """initscope's plan on a plain MLP and mup's MuReadout + Mu optimizer on the same
    architecture, started from the same effective weights."""
    ours = plain(WIDE)
    plan = mup(ours, base=plain(BASE), optimizer=optimizer, scheme="torch_default", seed=0)
    theirs = with_mureadout(WIDE)
    mup_pkg.set_base_shapes(theirs, with_mureadout(BASE))
    m = WIDE / BASE
    with torch.no_grad():
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            # MuReadout computes W (x / m): its W is ours times m (exact: m = 8)
            q.copy_(p * m if name == "6.weight" else p)
    kw = {"lr": lr, "weight_decay": wd}
    if optimizer == "sgd":
        opt_ours = torch.optim.SGD(plan.param_groups(**kw))
        opt_theirs = mup_pkg.MuSGD(theirs.parameters(), **kw)
    else:
        impl = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
        opt_ours = impl(plan.param_groups(**kw))
        opt_theirs = (mup_pkg.MuAdamW if optimizer == "adamw" else mup_pkg.MuAdam)(
            theirs.parameters(), **kw)
    return ours, theirs, opt_ours, opt_theirs


def _step_together(pairs: Any, x: torch.Tensor, target: torch.Tensor) -> None:
    """One optimizer step of each (model, optimizer) on the same batch: cross-entropy of
    its output (class logits, or a language model's (B, T, V) against (B, T))."""
    for model, opt in pairs:
        out = model(x)
        loss = nn.functional.cross_entropy(out.flatten(0, -2), target.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out, h = [], x
    for layer in model:
        h = layer(h)
        out.append(h.detach().clone())
    return out


@pytest.mark.parametrize("optimizer,lr,wd", [("adam", 1e-2, 0.0), ("adam", 1e-2, 1e-3),
                                             ("adamw", 1e-2, 0.1), ("sgd", 0.5, 1e-3)])
def test_trajectory_equals_mureadout_with_mu_optimizers(optimizer, lr, wd):
    """10 steps at a large rate: every layer's output equals mup's (MuReadout +
    MuAdam/MuAdamW/MuSGD, set_base_shapes) to 1e-6 relative; plain nn.Linear layers,
    the readout's 1/m folded into its init, LR and eps."""
    ours, theirs, opt_a, opt_b = _pair(optimizer, lr, wd)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        x = torch.randn(64, 16, generator=g)
        y = torch.randint(0, 10, (64,), generator=g)
        _step_together(((ours, opt_a), (theirs, opt_b)), x, y)
        for a, b in zip(_outputs(ours, x), _outputs(theirs, x), strict=True):
            scale = b.abs().max().item()
            assert (a - b).abs().max().item() <= 1e-6 * scale, (optimizer, scale)


def test_init_std_equals_mup_rescaled_default_init():
    """Per parameter, initscope's muP std (scheme "torch_default" at the base) is mup's:
    torch's default init rescaled by set_base_shapes (biases and MuReadout), the readout
    read through its 1/m. Sample stds of mup's tensors, within 4 standard errors."""
    ours = plain(WIDE)
    plan = mup(ours, base=plain(BASE), optimizer="adam", scheme="torch_default", seed=0)
    torch.manual_seed(0)
    theirs = with_mureadout(WIDE)
    mup_pkg.set_base_shapes(theirs, with_mureadout(BASE))
    m = WIDE / BASE
    for e, (name, q) in zip(plan, theirs.named_parameters(), strict=True):
        std = q.detach().double().std().item() / (m if name == "6.weight" else 1.0)
        assert e.init_std == pytest.approx(std, rel=4 / math.sqrt(2 * q.numel())), name
        p = dict(ours.named_parameters())[e.name]
        assert p.detach().double().std().item() == pytest.approx(
            e.init_std, rel=4 / math.sqrt(2 * p.numel())), name


def test_at_the_base_width_it_is_the_scheme_bit_for_bit():
    for scheme in ("auto", "xavier", "gpt2"):
        model, ref = GPT(d=64), GPT(d=64)
        plan = mup(model, base=GPT(d=64), optimizer="adamw", scheme=scheme, seed=3)
        initscope.initialize(ref, scheme, seed=3)
        for (n, a), b in zip(model.named_parameters(), ref.parameters(), strict=True):
            assert torch.equal(a, b), (scheme, n)
        assert all(e.rule == rules.MupRule("scalar", 1.0) for e in plan)
        assert all(e.rule.forward == 1.0 and not e.hooked for e in plan)


def test_tied_readout_gets_a_forward_multiplier_and_a_constant_init():
    """The tied embedding keeps its base std at every width (the paper's constant init;
    mup's MuSharedReadout rescales it by sqrt(m): mup#55) and lm_head reads its input
    times 1/m through a hook the plan lists; the logits at init shrink as 1/m."""
    model = GPT(d=256)
    plan = mup(model, base=GPT(d=64), optimizer="adam", seed=0)
    e = next(e for e in plan if e.name == "wte.weight")
    assert e.rule.kind == "vector" and e.hooked == ("lm_head",) and e.rule.forward == 0.25
    base = mup(GPT(d=64), base=GPT(d=64), optimizer="adam", seed=0)
    assert e.init_std == pytest.approx(next(b for b in base if b.name == "wte.weight")
                                       .init_std)
    ids = torch.randint(0, 96, (4, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hooked = model(ids)
        plan.detach()
        bare = model(ids)
        plan.attach()
        again = model(ids)
    assert torch.allclose(hooked, bare * 0.25, rtol=1e-5, atol=1e-7)
    assert torch.equal(hooked, again)


def test_state_dict_round_trip_gives_the_same_plan():
    model = GPT(d=128)
    plan = mup(model, base=GPT(d=64), optimizer="adamw", seed=0)
    state = {"model": model.state_dict(), "mup": plan.state_dict()}
    restored = GPT(d=128)
    restored.load_state_dict(state["model"])
    again = mup_from_state_dict(restored, state["mup"])
    assert [(e.name, e.rule, e.hooked) for e in again] == \
        [(e.name, e.rule, e.hooked) for e in plan]
    for (n, a), b in zip(restored.named_parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b), n  # the restored weights are not re-initialized
    ids = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(restored(ids), model(ids))  # the hook is back
    groups = [(g["lr"], g["eps"], len(g["params"])) for g in again.param_groups(lr=1e-3)]
    assert groups == [(g["lr"], g["eps"], len(g["params"]))
                      for g in plan.param_groups(lr=1e-3)]


def test_delta_model_says_which_dimensions_grow():
    dims = base_shapes(plain(256), plain(64), delta=plain(128))
    assert dims["0.weight"] == (64, None) and dims["6.weight"] == (None, 64)
    assert dims["2.weight"] == (64, 64)
    # at the base width with a delta, the dimensions still count as width dimensions
    same = base_shapes(plain(64), plain(64), delta=plain(128))
    assert same["2.weight"] == (64, 64)


def test_bad_input_is_named_and_leaves_the_model_as_it_was():
    model = plain(128)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="optimizer 'adagrad': one of adam, adamw, sgd"):
        mup(model, base=plain(64), optimizer="adagrad")
    with pytest.raises(ValueError, match="missing"):
        mup(model, base=nn.Sequential(nn.Linear(16, 64)))
    with pytest.raises(TypeError, match=r"an nn\.Module or a dict of parameter shapes"):
        mup(model, base=[(64, 16)])  # type: ignore[arg-type]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before, strict=True))


WIDTHS = [64, 128, 256, 512, 1024]


def _coord(optimizer: str, lr: float, parametrization: str, readout_zero: bool = True) -> Any:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 16, generator=g), torch.randint(0, 10, (64,), generator=g)
    return initscope.coord_check(plain, WIDTHS, base=64, batch=x, target=y,
                                 steps=3, optimizer=optimizer, lr=lr,
                                 parametrization=parametrization, seeds=(0, 1, 2),
                                 readout_zero=readout_zero)


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("sgd", 0.5)])
def test_coordinate_check_is_flat_under_mup_and_not_under_sp(optimizer, lr):
    """The coordinate check on the MLP (widths 64-1024, base 64, 3 seeds, a large rate):
    after 3 steps every layer's mean |output| is width-independent under muP with the
    readout started at zero (|slope of log2 l1 on log2 width| <= 0.1; measured <= 0.004)
    and grows under the standard parametrization (hidden and readout 0.3-1.4)."""
    mu = _coord(optimizer, lr, "mup")
    assert mu.verdicts == [], [str(v) for v in mu.verdicts]
    assert all(abs(mu.slope(m)) <= 0.1 for m, _ in mu.slopes), str(mu)
    sp = _coord(optimizer, lr, "sp")
    assert sp.slope("6") > 0.3 and max(sp.slope(m) for m in ("2", "4")) > 0.3, str(sp)
    assert {v.module for v in sp.verdicts} >= {"6"}
    assert "grows as width^" in str(sp.verdicts[-1]) and "learning rate" in str(sp)


def test_readout_started_at_its_init_leaves_a_finite_width_term():
    """Without readout_zero the readout's init (std ~ 1/width, muP's) feeds the first
    updates of every layer below through the backward pass: at width 64 that term is
    not negligible, and the last hidden layer's slope after 3 steps at Adam 1e-2 is
    0.12 (measured; 0.05 at 3e-3). It is muP's own finite-width correction (it vanishes
    as width^-1/2), which is why the must-show check above starts the readout at zero
    as the mup package's examples do. Here: it is there, and it is small."""
    mu = _coord("adam", 1e-2, "mup", readout_zero=False)
    assert 0.05 < mu.slope("5") < 0.2, str(mu)


def _lm_batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, vocab, (8, 16), generator=torch.Generator().manual_seed(0))
    return ids, ids.roll(-1, 1)


def _gpt(d: int) -> nn.Module:
    return GPT(vocab=96, d=d, layers=2, heads=4)


def _hf_gpt2(d: int) -> nn.Module:
    import transformers as T

    return T.GPT2LMHeadModel(T.GPT2Config(
        vocab_size=96, n_positions=16, n_embd=d, n_layer=2, n_head=4, bos_token_id=0,
        eos_token_id=0, attn_implementation="eager"))


def _hf_llama(d: int) -> nn.Module:
    import transformers as T

    return T.LlamaForCausalLM(T.LlamaConfig(
        vocab_size=96, hidden_size=d, intermediate_size=2 * d, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16,
        attn_implementation="eager", tie_word_embeddings=False))


TRANSFORMERS = {"gpt": (_gpt, "lm_head"), "hf_gpt2": (_hf_gpt2, "lm_head"),
                "hf_llama": (_hf_llama, None)}


#: Where the bound is NOT met after 3 steps (reported in the issue's note, with a
#: proposal): (model, optimizer) -> (module, measured slope range after 3 steps).
UNMET = {
    # a tied readout's logits carry muP's vanishing terms W0 x / m and W0 dx / m
    # (~ width^-1/2): W0 is the input embedding and cannot start at zero. -0.11 after
    # 30 steps (tied GPT, Adam 3e-3)
    ("gpt", "adam"): ("lm_head", (-0.3, 0.0)), ("gpt", "sgd"): ("lm_head", (-0.3, 0.0)),
    ("hf_gpt2", "adam"): ("lm_head", (-0.3, 0.0)),
    ("hf_gpt2", "sgd"): ("lm_head", (-0.3, 0.0)),
    # the zero-started readout's first SGD updates, -0.12 after 1 step, -0.11 after 3,
    # -0.07 after 10: the logit change sums x_t . x_s over the batch's 128 tokens, whose
    # cross terms (~ sqrt(width)) weigh at width 64
    ("hf_llama", "sgd"): ("lm_head", (-0.16, -0.06)),
}


@pytest.mark.parametrize("optimizer,lr", [("adam", 3e-3), ("sgd", 0.1)])
@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_coordinate_check_on_transformers(name, optimizer, lr):
    """The coordinate check on initscope's tied GPT, Hugging Face GPT-2 (tied, Conv1D,
    fused QKV with its own ``scaling``) and LLaMA (untied, separate q/k/v, GQA; its
    readout starts at zero): widths 64-1024, 3 seeds, 3 steps. Every layer |slope| <=
    0.1 (measured <= 0.08) except the cases in ``UNMET``, each asserted at what it
    measures, so that a change either way shows. The rates: Adam 3e-3 and SGD 0.1, large
    for these models; at Adam 1e-2 the width-64 base moves its features by order one in
    3 steps and hidden layers reach -0.24 (GPT-2's c_proj, LLaMA's o_proj), at SGD 0.25
    GPT-2's c_proj -0.16: both reported in the issue's note."""
    build, tied = TRANSFORMERS[name]
    ids, target = _lm_batch(96)
    batch = ids if name == "gpt" else {"input_ids": ids}
    cc = initscope.coord_check(build, WIDTHS, base=64, batch=batch, target=target,
                               steps=3, optimizer=optimizer, lr=lr, seeds=(0, 1, 2),
                               readout_zero=tied is None)
    unmet, (lo, hi) = UNMET.get((name, optimizer), (None, (0.0, 0.0)))
    rest = {m: cc.slope(m) for m, t in cc.slopes if t == 3 and m != unmet}
    assert all(abs(v) <= 0.1 for v in rest.values()), str(cc)
    # a verdict names the first step out of bounds; after 3 steps only the unmet one
    assert {v.module for v in cc.verdicts if abs(cc.slope(v.module)) > 0.1} == \
        ({unmet} if unmet else set()), str(cc)
    if unmet:
        assert lo < cc.slope(unmet) < hi, str(cc)
    if tied:
        assert -0.6 < cc.slope(tied, 0) < -0.35  # -1/2 in theory; measured -0.44 to -0.51
        assert "a readout tied to the input embedding" in str(cc.verdicts[-1])


def test_coord_check_rejects_bad_arguments():
    x = torch.randn(4, 16)
    with pytest.raises(ValueError, match="at least 3 different widths"):
        initscope.coord_check(plain, [64, 128], base=64, batch=x)
    with pytest.raises(ValueError, match="parametrization 'ntk': 'mup' or 'sp'"):
        initscope.coord_check(plain, [64, 128, 256], base=64, batch=x, parametrization="ntk")


class _Attention(nn.Module):
    """Separate q/k/v projections, ``scale`` for the logits (None: 1/sqrt(d_head))."""

    def __init__(self, d: int, heads: int, scale: float | None = None) -> None:
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.num_heads, self.scale = heads, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.num_heads, -1).transpose(1, 2)
                   for z in (self.q(x), self.k(x), self.v(x)))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                       scale=self.scale)
        return self.o(y.transpose(1, 2).reshape(b, t, d))


class _Untied(nn.Module):
    """A one-block pre-LN transformer with an untied readout (``readout`` builds it)."""

    def __init__(self, d: int, readout: Any = nn.Linear, scale: float | None = None) -> None:
        super().__init__()
        self.emb = nn.Embedding(32, d)
        self.ln1, self.attn = nn.LayerNorm(d), _Attention(d, 4, scale)
        self.ln2, self.fc, self.proj = nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.Linear(2 * d, d)
        self.ln_f, self.out = nn.LayerNorm(d), readout(d, 32)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        x = x + self.attn(self.ln1(x))
        x = x + self.proj(torch.relu(self.fc(self.ln2(x))))
        return self.out(self.ln_f(x))


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("sgd", 0.3)])
def test_transformer_trajectory_equals_mup_with_its_1_over_d_attention(optimizer, lr):
    """An untied transformer: initscope's plan (the attention's 1/d_head folded into the
    separate query projection, the readout's 1/m into its tensor; plain modules) equals
    mup's (MuReadout, the attention code edited to scale logits by sqrt(d_base)/d_head,
    set_base_shapes, MuAdam/MuSGD): every output within 1e-6 relative over 10 steps,
    widths 64 -> 256 (d_head 16 -> 64: theta = 1/2, exact in float32)."""
    base_d, d = 64, 256
    ours = _Untied(d)
    plan = mup(ours, base=_Untied(base_d), optimizer=optimizer, scheme="torch_default")
    (att,) = plan.attention
    assert (att.query, att.how, att.d_head_base, att.d_head, att.theta) == \
        ("attn.q", "fold", 16, 64, 0.5)
    theirs = _Untied(d, mup_pkg.MuReadout, scale=math.sqrt(16) / 64)
    mup_pkg.set_base_shapes(theirs, _Untied(base_d, mup_pkg.MuReadout, scale=0.25))
    with torch.no_grad():
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            q.copy_(p / 0.5 if name.startswith("attn.q.") else
                    p * (d / base_d) if name == "out.weight" else p)
    kw = {"lr": lr, "weight_decay": 0.0}
    if optimizer == "sgd":
        opt_a, opt_b = torch.optim.SGD(plan.param_groups(**kw)), \
            mup_pkg.MuSGD(theirs.parameters(), **kw)
    else:
        opt_a, opt_b = torch.optim.Adam(plan.param_groups(**kw)), \
            mup_pkg.MuAdam(theirs.parameters(), **kw)
    g = torch.Generator().manual_seed(2)
    for _ in range(10):
        ids = torch.randint(0, 32, (4, 12), generator=g)
        _step_together(((ours, opt_a), (theirs, opt_b)), ids, ids)
        with torch.no_grad():
            a, b = ours(ids), theirs(ids)
        assert (a - b).abs().max().item() <= 1e-6 * b.abs().max().item()


def test_attention_multiplier_as_hook_on_a_fused_qkv():
    """The tests' GPT: fused c_attn, no ``scaling``: a forward hook multiplies the query
    block of c_attn's output by sqrt(d_head_base / d_head); the same as scaling the
    query rows of the weight and bias by hand. detach() removes it."""
    model = GPT(d=256)
    plan = mup(model, base=GPT(d=64), optimizer="adam", scheme="xavier")
    assert [(a.query, a.how, a.theta, a.block, a.splits) for a in plan.attention] == \
        [(f"h.{i}.attn.c_attn", "hook", 0.5, 0, 3) for i in range(3)]
    ids = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hooked = model(ids)
        plan.detach()
        manual = copy.deepcopy(model)
        for i in range(3):
            c = manual.h[i].attn.c_attn
            c.weight[:256] *= 0.5
            c.bias[:256] *= 0.5
        tied = next(e for e in plan if e.name == "wte.weight")
        manual.lm_head.register_forward_pre_hook(lambda m, a: (a[0] * tied.rule.forward,))
        by_hand = manual(ids)
        plan.attach()
        assert torch.allclose(hooked, by_hand, rtol=1e-5, atol=1e-6)
        assert torch.equal(model(ids), hooked)
    assert "hook on h.0.attn.c_attn's query block (0 of 3)" in str(plan)


@pytest.mark.parametrize("build", [_hf_gpt2, _hf_llama])
def test_attention_multiplier_as_hugging_face_scaling(build):
    """Hugging Face attentions carry ``scaling``: the plan multiplies it (no hook, no
    tensor changed), detach() restores it, a failed mup() leaves it as built."""
    model = build(256)
    ids = {"input_ids": torch.randint(0, 96, (2, 8))}
    plan = mup(model, base=build(64), optimizer="adamw", example_inputs=ids)
    attn = [m for m in model.modules() if hasattr(m, "scaling") and hasattr(m, "head_dim")]
    assert len(plan.attention) == len(attn) == 2
    for a, m in zip(plan.attention, attn, strict=True):
        assert (a.how, a.d_head_base, a.d_head, a.theta) == ("scaling", 16, 64, 0.5)
        assert m.scaling == pytest.approx(64 ** -0.5 * 0.5)
    assert "scaling 0.125 -> 0.0625" in str(plan)
    with torch.no_grad():  # the forward reads the attribute: halving it changes the output
        scaled = model.eval()(**ids).logits
        plan.detach()
        unscaled = model(**ids).logits
        plan.attach()
    assert not torch.allclose(scaled, unscaled, rtol=1e-3, atol=1e-5)
    restored = build(256)  # a checkpoint: the weights and the plan's state
    restored.load_state_dict(model.state_dict())
    again = mup_from_state_dict(restored, plan.state_dict(), example_inputs=ids)
    assert again.attention == plan.attention
    with torch.no_grad():  # eval: GPT-2's dropout
        assert torch.equal(restored.eval()(**ids).logits, model.eval()(**ids).logits)
    plan.detach()
    assert all(m.scaling == pytest.approx(0.125) for m in attn)
    again = build(256)
    with pytest.raises(ValueError, match="optimizer"):
        mup(again, base=build(64), optimizer="lamb", example_inputs=ids)
    assert all(m.scaling == pytest.approx(0.125) for m in again.modules()
               if hasattr(m, "scaling") and hasattr(m, "head_dim"))


def test_multihead_attention_says_it_cannot():
    class M(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(d, 4, batch_first=True)
            self.out = nn.Linear(d, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.attn(x, x, x)[0])

    plan = mup(M(128), base=M(64), example_inputs=torch.randn(2, 5, 128))
    (a,) = plan.attention
    assert a.how == "not applied" and "MultiheadAttention" in a.note
    assert "MultiheadAttention scales its logits" in str(plan)


class _ResMLP(nn.Module):
    """Pre-LN residual MLP blocks; ``branch`` multiplies every branch's output and
    ``readout`` the readout's input (the oracle's explicit multipliers; 1 in ours)."""

    def __init__(self, d: int, depth: int, branch: float = 1.0, readout: float = 1.0) -> None:
        super().__init__()
        self.inp = nn.Linear(12, d)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "ln": nn.LayerNorm(d), "fc1": nn.Linear(d, d), "fc2": nn.Linear(d, d)})
            for _ in range(depth))
        self.ln_f, self.out = nn.LayerNorm(d), nn.Linear(d, 5)
        self.branch, self.readout = branch, readout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for b in self.blocks:
            h = h + self.branch * b["fc2"](torch.relu(b["fc1"](b["ln"](h))))
        return self.out(self.ln_f(h) * self.readout)


def _completep_groups(model: _ResMLP, optimizer: str, lr: float, m_w: float, m_l: float,
                      alpha: float) -> list[dict[str, Any]]:
    """The oracle: CompleteP's per-parameter rules written out for the unfolded model
    (Dey et al. 2025, Table 1; Yang et al. 2021, Table 3), the multipliers explicit in
    its forward. Adam: hidden lr / m_w, every block parameter lr x m_L^(alpha-1) and eps
    x m_L^-alpha; SGD: vector-like lr x m_w, block parameters lr x m_L^(2 alpha - 1)."""
    groups = []
    for name, p in model.named_parameters():
        hidden = name.startswith("blocks.") and name.endswith("weight") and "ln" not in name
        in_block = name.startswith("blocks.")
        if optimizer == "sgd":
            g_lr = lr * (1.0 if hidden or name == "out.bias" else m_w)  # vector-like: x m
            if in_block:
                g_lr *= m_l ** (2 * alpha - 1)
            groups.append({"params": [p], "lr": g_lr})
        else:
            g_lr = lr / m_w if hidden else lr
            eps = 1e-8
            if in_block:
                g_lr *= m_l ** (alpha - 1)
                eps *= m_l ** -alpha
            groups.append({"params": [p], "lr": g_lr, "eps": eps})
    return groups


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-2), ("sgd", 0.2)])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_depth_transfer_equals_explicit_completep(optimizer, lr, alpha):
    """Depth (and width) transfer: width 64 -> 128 and 2 -> 8 residual blocks. The plan
    folds each branch's (L / L_base)^-alpha into its last layer and the readout's 1/m
    into its tensor; the oracle keeps both multipliers in its forward with CompleteP's
    rules written out by hand (alpha = 1) or Depth-muP's (alpha = 0.5). 10 steps:
    every output within 1e-6 relative."""
    m_w, m_l = 2.0, 4.0
    ours = _ResMLP(128, 8)
    plan = mup(ours, base=_ResMLP(64, 2), optimizer=optimizer, scheme="torch_default",
               depth_alpha=alpha)
    assert plan.depth == (m_l, alpha)
    theta = m_l ** -alpha
    theirs = _ResMLP(128, 8, branch=theta, readout=1 / m_w)
    with torch.no_grad():
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            q.copy_(p / theta if ".fc2." in name else p * m_w if name == "out.weight" else p)
    opt_a = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(
        plan.param_groups(lr=lr))
    opt_b = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(
        _completep_groups(theirs, optimizer, lr, m_w, m_l, alpha))
    g = torch.Generator().manual_seed(3)
    for _ in range(10):
        x, y = torch.randn(32, 12, generator=g), torch.randint(0, 5, (32,), generator=g)
        _step_together(((ours, opt_a), (theirs, opt_b)), x, y)
        with torch.no_grad():
            a, b = ours(x), theirs(x)
        assert (a - b).abs().max().item() <= 1e-6 * b.abs().max().item()
    assert "depth x4 (alpha" in str(plan)


def test_depth_needs_a_base_model_and_a_valid_alpha():
    with pytest.raises(ValueError, match=r"alpha 2\.0: in"):
        mup(_ResMLP(64, 4), base=_ResMLP(64, 2), depth_alpha=2.0)
    with pytest.raises(ValueError, match="base must be a model"):
        mup(_ResMLP(64, 4), base={n: tuple(p.shape) for n, p in
                                  _ResMLP(64, 2).named_parameters()}, depth_alpha=1.0)
    with pytest.raises(ValueError, match="pass depth_alpha"):
        mup(_ResMLP(64, 4), base=_ResMLP(64, 2))


def test_plan_survives_torch_compile():
    """mup() on a torch.compile'd model plans the module it compiles (the same tensors)
    and gives the plain model's plan and weights; training the compiled model
    with its param_groups (the attention and tied-readout hooks traced by dynamo) follows
    the eager model step for step. Backend aot_eager: dynamo's graph capture with
    hooks, without a C++ build."""
    eager = GPT(d=128)
    plan = mup(eager, base=GPT(d=64), optimizer="adamw", seed=4)
    compiled = torch.compile(GPT(d=128), backend="aot_eager")
    cplan = mup(compiled, base=GPT(d=64), optimizer="adamw", seed=4)
    assert [(e.name, e.rule, e.init_std) for e in cplan] == \
        [(e.name, e.rule, e.init_std) for e in plan]
    for (n, a), b in zip(compiled.named_parameters(), eager.parameters(), strict=True):
        assert torch.equal(a, b), n
    ids = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    opts = [torch.optim.AdamW(p.param_groups(lr=1e-2, weight_decay=0.1))
            for p in (plan, cplan)]
    for _ in range(3):
        _step_together(zip((eager, compiled), opts, strict=True), ids, ids)
        with torch.no_grad():
            a, b = compiled(ids), eager(ids)
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_attention_numerator_as_mup_attn_mult():
    """attention_numerator=8 (mup's attn_mult): logits 8 / d_head at every width, so
    theta = 8 / (d_head / sqrt(d_head)): 1 at d_head 64, 2 at 16 (the base itself)."""
    wide = mup(_Untied(256), base=_Untied(64), attention_numerator=8.0)
    assert [(a.how, a.theta) for a in wide.attention] == [("none", 1.0)]
    narrow = mup(_Untied(64), base=_Untied(64), attention_numerator=8.0)
    assert [(a.how, a.theta) for a in narrow.attention] == [("fold", 2.0)]
    with pytest.raises(ValueError, match=r"numerator -1\.0"):
        mup(_Untied(64), base=_Untied(64), attention_numerator=-1.0)


def test_query_block_hook_refuses_a_sharded_output():
    """A tensor-parallel shard of a fused QKV's output holds some features of each block:
    the hook cannot tell which are queries and says so instead of scaling the wrong
    ones."""
    from initscope.model._mup import _scale_block

    hook = _scale_block(0.5, 0, 3, 768, "h.0.attn.c_attn")
    full = hook(None, (), torch.ones(2, 768))
    assert full[:, :256].eq(0.5).all() and full[:, 256:].eq(1.0).all()
    with pytest.raises(RuntimeError, match=r"got 384 of its 768 output features"):
        hook(None, (), torch.ones(2, 384))


@pytest.mark.parametrize("d", [64, 128])
def test_readout_zero_on_a_tied_readout_says_it_cannot(d):
    plan = mup(GPT(d=d), base=GPT(d=64), readout_zero=True)
    assert not any(e.zero for e in plan)
    assert plan.notes == ["readout_zero: not applied: the readout is tied to the input "
                          "embedding (wte.weight), which cannot start at zero"]
    assert plan.notes[0] in str(plan)


@pytest.mark.parametrize("build", [_hf_gpt2, _hf_llama])
def test_hugging_face_at_the_base_width_is_auto_bit_for_bit(build):
    """At width == base a Hugging Face model is exactly what initialize(model, "auto")
    makes (its own init kept where "auto" keeps it), every multiplier 1, no hook, its
    ``scaling`` untouched; at 4x the width a kept hidden weight is the base's drawn std
    / 2."""
    ids = {"input_ids": torch.randint(0, 96, (2, 8))}
    model, ref = build(64), build(64)
    plan = mup(model, base=build(64), optimizer="adam", seed=5, example_inputs=ids)
    initscope.initialize(ref, "auto", seed=5, example_inputs=ids)
    for (n, a), b in zip(model.named_parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b), n
    assert all(e.rule == rules.MupRule("scalar", 1.0) and not e.hooked for e in plan)
    assert all(a.how == "none" for a in plan.attention)
    wide = mup(build(256), base=build(64), optimizer="adam", seed=5, example_inputs=ids)
    mlp = next(e for e in wide if e.name.endswith(("0.mlp.c_fc.weight", "0.mlp.up_proj.weight")))
    base_std = dict(ref.named_parameters())[mlp.name].detach().double().pow(2).mean().sqrt()
    assert mlp.init_std == pytest.approx(float(base_std) / 2, rel=1e-9)
