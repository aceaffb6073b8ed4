"""initialize(model, "auto") on real Hugging Face models (issue 16): every parameter written
or kept with a reason, frozen tensors and buffers untouched, the same seed giving the
same weights across builds, and at init a language model's loss near ln V and its
attention no sharper than under the model's own init."""

from __future__ import annotations

import math

import pytest
import torch

import initscope
from tests import hf_zoo as Z

pytest.importorskip("transformers")

LM = [n for n, (_, _, task) in Z.ZOO.items() if task == "lm"]


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


@pytest.fixture(scope="module", params=sorted(Z.ZOO))
def zoo(request):
    """(name, model under its own init, the same under "auto", report, inputs)."""
    name = request.param
    batch = Z.inputs(name)
    own = Z.build(name)
    model = Z.build(name)
    report = initscope.initialize(model, "auto", seed=0, example_inputs=batch)
    own.eval()
    model.eval()
    return name, own, model, report, batch


def test_every_parameter_is_written_or_kept_with_a_reason(zoo):
    name, _, model, report, _ = zoo
    assert [r.name for r in report.records] == [n for n, _ in model.named_parameters()]
    for r in report.records:
        assert r.covered or r.kept, (name, r.name)
        if r.kept:
            assert r.kept.split(":")[0] in ("frozen (requires_grad=False)", "as built",
                                            "model's own init"), r.kept


def test_frozen_tensors_and_buffers_are_bit_identical_afterwards():
    """Whisper's sinusoidal position table is frozen; a frozen layer of one's own too."""
    batch = Z.inputs("whisper")
    model = Z.build("whisper")
    model.model.decoder.layers[0].fc1.requires_grad_(False)
    before = _state(model)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    params = {n for n, _ in model.named_parameters()}
    assert "model.encoder.embed_positions.weight" in frozen
    report = initscope.initialize(model, "auto", seed=0, example_inputs=batch)
    after = _state(model)
    for n in frozen | (set(before) - params - {"proj_out.weight"}):  # (tied to the embedding)
        assert torch.equal(before[n], after[n]), n
    kept = {r.name: r.kept for r in report.records}
    assert kept["model.decoder.layers.0.fc1.weight"].startswith("frozen")


@pytest.mark.parametrize("name", sorted(Z.ZOO))
def test_buffers_are_untouched(name):
    model = Z.build(name)
    params = {n for n, _ in model.named_parameters()}
    before = {k: v for k, v in _state(model).items() if k not in params}
    tied = {k for k, v in model.state_dict(keep_vars=True).items()
            if isinstance(v, torch.nn.Parameter)}
    initscope.initialize(model, "auto", seed=0, example_inputs=Z.inputs(name))
    after = _state(model)
    for k, v in before.items():
        if k not in tied:
            assert torch.equal(v, after[k]), k


@pytest.mark.parametrize("name", sorted(Z.ZOO))
def test_same_seed_same_weights_across_builds(name):
    """Two builds with different torch seeds (different own-init draws) end up the same."""
    batch = Z.inputs(name)
    a, b = Z.build(name, torch_seed=0), Z.build(name, torch_seed=1)
    for m in (a, b):
        initscope.initialize(m, "auto", seed=7, example_inputs=batch)
    sa, sb = _state(a), _state(b)
    differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert differ == [], differ


def test_forward_is_finite(zoo):
    name, _, model, _, batch = zoo
    assert bool(torch.isfinite(Z.logits_of(model, batch)).all()), name


@pytest.mark.parametrize("name", LM)
def test_language_model_loss_at_init_is_near_ln_v(name):
    """The expected loss over uniformly random targets (exactly: logsumexp - mean of the
    logits) is within 5% of ln V under "auto", as the readout rule derives (+1%)."""
    model = Z.build(name)
    batch = Z.inputs(name)
    initscope.initialize(model, "auto", seed=0, example_inputs=batch)
    model.eval()
    logits = Z.logits_of(model, batch)
    ln_v = math.log(logits.shape[-1])
    loss = Z.expected_loss(logits)
    assert abs(loss / ln_v - 1) <= 0.05, (name, loss, ln_v)
    # The rule's own +1%, where the head reads the final norm's output; T5 multiplies that
    # by d^-1/2 before its tied head (a scalar product the graph passes through), so its
    # logits start 8x smaller still: at ln V.
    want = 0.0 if name == "t5" else 0.01
    assert loss / ln_v - 1 == pytest.approx(want, abs=0.005), (name, loss, ln_v)


def test_attention_is_no_sharper_than_under_the_models_own_init(zoo):
    name, own, model, _, batch = zoo
    h_own, h_auto = Z.attention_entropy(own, batch), Z.attention_entropy(model, batch)
    if h_own is None:
        pytest.skip(f"{name} returns no attention weights")
    assert h_auto >= 0.95 * h_own, (name, h_auto, h_own)


def test_roles_are_read_off_the_graph():
    g = initscope.layer_graph(Z.build("gpt2"), Z.inputs("gpt2"))
    c_attn = g["transformer.h.0.attn.c_attn"]
    assert (c_attn.kind, c_attn.splits) == ("linear", 3)  # Conv1D, stored (in, out)
    assert set(c_attn.attention) == {("query", 0), ("key", 1), ("value", 2)}
    assert g["lm_head"].readout == initscope.model.graph.Readout(Z.VOCAB, 1.0,
                                                                 "transformer.wte")
    assert g["transformer.wpe"].readout is not None  # summed with the tied embedding
    assert g["transformer.h.0.ln_1"].kind == "norm"
    llama = initscope.layer_graph(Z.build("llama"), Z.inputs("llama"))
    assert llama["model.layers.0.input_layernorm"].kind == "norm"  # LlamaRMSNorm
    assert llama["model.layers.0.self_attn.q_proj"].attention == (("query", None),)
    assert llama["model.layers.0.self_attn.k_proj"].attention == (("key", None),)
    assert llama["model.layers.0.self_attn.v_proj"].attention == (("value", None),)
    assert llama["lm_head"].readout.tied is None


def test_gpt2_conv1d_fans_and_gain_read_the_in_out_layout():
    model = Z.build("gpt2")
    batch = Z.inputs("gpt2")
    # "he" applies its rule everywhere ("auto" keeps GPT-2's own hidden weights)
    report = initscope.initialize(model, "he", seed=0, example_inputs=batch)
    rec = {r.name: r for r in report.records}
    fc = rec["transformer.h.0.mlp.c_proj.weight"]  # (256, 64): in 256, out 64
    assert (fc.fan_in, fc.fan_out) == (256, 64)
    assert fc.achieved_std == pytest.approx(fc.gain / 16, rel=0.02)
    d = initscope.diagnose(model, batch)
    row = next(s for s in d.layers if s.name == "transformer.h.0.mlp.c_proj")
    assert row.gain_used == pytest.approx(fc.gain, rel=0.05)


def test_the_models_own_values_are_kept_where_auto_would_harm():
    model = Z.build("mamba")
    batch = Z.inputs("mamba")
    own = Z.build("mamba", torch_seed=3)
    report = initscope.initialize(model, "auto", seed=0, example_inputs=batch)
    rec = {r.name: r for r in report.records}
    dt = rec["backbone.layers.0.mixer.dt_proj.bias"]
    assert dt.covered and dt.kept.startswith("model's own init: the model sets this bias")
    # dt = softplus(bias) in [dt_min, dt_max] = [0.001, 0.1], as Mamba's own init draws it
    with torch.no_grad():
        dt_value = torch.nn.functional.softplus(model.backbone.layers[0].mixer.dt_proj.bias)
    assert float(dt_value.min()) >= 0.001 and float(dt_value.max()) <= 0.1 + 1e-6
    a_log = "backbone.layers.0.mixer.A_log"
    assert rec[a_log].kept.startswith("model's own init")
    assert torch.equal(dict(model.named_parameters())[a_log], dict(own.named_parameters())[a_log])


@pytest.mark.parametrize("scheme", ["xavier", "he", "orthogonal", "gpt2", "t_fixup", "fixup"])
def test_every_scheme_keeps_what_contradicts_its_premise(scheme):
    """Not only "auto": a named scheme or recipe zeroes biases, starts norm gains at one
    and draws weights at random, and where the model's own init says otherwise (Mamba's
    dt bias: each channel's time step) the model's value stays, with the reason."""
    model = Z.build("mamba")
    if scheme in ("t_fixup", "deepnorm"):  # transformer rules: Mamba has no attention
        with pytest.warns(UserWarning, match=f"recipe '{scheme}' does not apply"):
            report = initscope.initialize(model, scheme, seed=0,
                                          example_inputs=Z.inputs("mamba"))
    else:
        report = initscope.initialize(model, scheme, seed=0, example_inputs=Z.inputs("mamba"))
    rec = {r.name: r for r in report.records}
    for layer in range(2):
        dt = rec[f"backbone.layers.{layer}.mixer.dt_proj.bias"]
        assert dt.covered and dt.kept == ("model's own init: the model sets this bias to "
                                          "non-zero values"), dt
        with torch.no_grad():
            value = torch.nn.functional.softplus(
                model.backbone.layers[layer].mixer.dt_proj.bias)
        assert float(value.min()) >= 0.001 and float(value.max()) <= 0.1 + 1e-6
    # and the scheme's own rule still applies where it does not contradict the model
    w = rec["backbone.layers.0.mixer.in_proj.weight"]
    assert w.covered and w.kept is None


def test_a_layer_named_in_overrides_gets_what_was_asked():
    """The model's value stays under the base scheme; a layer the user names in
    ``overrides`` gets the override's rule, premise or not ("auto" there keeps the
    model's own as "auto" does)."""
    model = Z.build("mamba")
    report = initscope.initialize(
        model, "xavier", seed=0, example_inputs=Z.inputs("mamba"),
        overrides={"backbone.layers.0.mixer.dt_proj": "xavier",
                   "backbone.layers.1.mixer.in_proj": "auto"})
    rec = {r.name: r for r in report.records}
    asked = rec["backbone.layers.0.mixer.dt_proj.bias"]
    assert asked.kept is None and asked.scheme == "zeros"
    assert not model.backbone.layers[0].mixer.dt_proj.bias.detach().any()
    assert rec["backbone.layers.1.mixer.dt_proj.bias"].kept.startswith("model's own init")
    assert rec["backbone.layers.1.mixer.in_proj.weight"].kept.startswith("model's own init")
    assert rec["backbone.layers.0.mixer.in_proj.weight"].kept is None


#: The verdicts that are real on the zoo under the models' own init, each explained in
#: docs/guides/real-models.md: ConvNeXt's gradient shrinks about x0.01 across the
#: downsampling layer between its two stages (a 2x2 conv with std 0.02 at fan_in 64: gain
#: 0.16). "auto" keeps that layer's own scale, so the same holds under it.
REAL_UNDER_OWN_INIT = {"convnext": {"vanishing_gradients"}}

#: ConvNeXt's first over last hidden gradient variance, measured over builds (torch seeds
#: 0-5, own init) and "auto" seeds 0-5: 0.0089-0.014 and 0.0094-0.012. It straddles
#: diagnose's threshold (VANISH = 0.01), so whether the verdict fires depends on the draw:
#: the test asserts the band and that the verdict fires exactly when the ratio is below.
CONVNEXT_RATIO = (0.006, 0.02)


def _convnext_ratio(report) -> float:
    layers = {s.name: s for s in report.layers}
    first = layers["convnext.encoder.stages.0.layers.0.pwconv2"].grad_pre_var
    return first / layers["convnext.encoder.stages.1.layers.0.pwconv2"].grad_pre_var


@pytest.mark.parametrize("name", sorted(Z.ZOO))
def test_diagnose_raises_only_real_alarms(name):
    """Under the model's own init and under "auto" only what is real (layer scales of
    1e-6, branches of std 0.02, heads and tied embeddings are understood); a real one
    fires where its measure crosses the threshold."""
    from initscope.diagnostics.verdicts import VANISH

    batch = Z.inputs(name)
    task = Z.ZOO[name][2]
    target = batch["input_ids"] if task == "lm" and "input_ids" in batch and \
        "decoder_input_ids" not in batch else None
    own = Z.build(name)
    auto = Z.build(name)
    initscope.initialize(auto, "auto", seed=0, example_inputs=batch)
    for which, model in (("own", own), ("auto", auto)):
        report = initscope.diagnose(model, batch, target=target)
        got = {v.kind for v in report.verdicts}
        real = REAL_UNDER_OWN_INIT.get(name, set())
        assert got <= real, (name, which, got)
        if name == "convnext":
            ratio = _convnext_ratio(report)
            assert CONVNEXT_RATIO[0] < ratio < CONVNEXT_RATIO[1], (which, ratio)
            assert ("vanishing_gradients" in got) == (ratio < VANISH), (which, ratio, got)
        else:
            assert got == real, (name, which, got)


@pytest.mark.parametrize("recipe", ["deepnorm", "t_fixup"])
def test_transformer_recipes_scale_values_not_queries_or_keys(recipe):
    """DeepNet and T-Fixup scale the value, attention-output and MLP weights; queries and
    keys keep gain 1 (separate q/k/v projections as in BERT, read off the graph)."""
    from initscope._core import schemes as rules

    model = Z.build("bert")
    report = initscope.initialize(model, recipe, seed=0, example_inputs=Z.inputs("bert"))
    rec = {r.name: r.scheme for r in report.records}
    layer = "bert.encoder.layer.0.attention"
    factor = rules.deepnorm_beta(2) if recipe == "deepnorm" else rules.t_fixup_factor(2)
    assert " x " not in rec[f"{layer}.self.query.weight"]
    assert " x " not in rec[f"{layer}.self.key.weight"]
    for name in (f"{layer}.self.value.weight", f"{layer}.output.dense.weight",
                 "bert.encoder.layer.0.output.dense.weight"):
        assert rec[name].endswith(f" x {factor:.3g}"), (name, rec[name])


@pytest.mark.parametrize("recipe", ["deepnorm", "t_fixup"])
def test_transformer_recipes_use_the_encoder_decoder_formulas(recipe):
    from initscope._core import schemes as rules

    model = Z.build("t5")
    report = initscope.initialize(model, recipe, seed=0, example_inputs=Z.inputs("t5"))
    rec = {r.name: r.scheme for r in report.records}
    pair = (rules.deepnorm_betas_encoder_decoder if recipe == "deepnorm"
            else rules.t_fixup_factors_encoder_decoder)(2, 2)
    enc, dec = pair
    assert rec["encoder.block.1.layer.0.SelfAttention.v.weight"].endswith(f" x {enc:.3g}")
    assert rec["decoder.block.1.layer.1.EncDecAttention.o.weight"].endswith(f" x {dec:.3g}")
    assert " x " not in rec["decoder.block.0.layer.1.EncDecAttention.q.weight"]


def test_lsuv_calibrates_gpt2s_conv1d_layers_on_a_keyword_batch():
    model = Z.build("gpt2")
    report = initscope.lsuv(model, Z.inputs("gpt2"), seed=0)
    names = {r.name for r in report.records}
    assert "transformer.h.0.attn.c_attn" in names and "transformer.h.1.mlp.c_proj" in names
    assert all(abs(r.std_after - 1) < 0.05 for r in report.records)


#: The roles the graph reads off each zoo model's forward (issue 16, "What to build" 1),
#: for one parameter of each kind the layer's class alone does not name.
ROLES = {
    "llama": {"model.layers.0.mlp.gate_proj.weight": "MLP gate",
              "model.layers.0.mlp.up_proj.weight": "MLP up (multiplied by the gate)",
              "model.layers.0.self_attn.q_proj.weight": "query",
              "model.layers.0.mlp.down_proj.weight": "residual branch end"},
    "mixtral": {"model.layers.0.mlp.gate.weight":
                "router (its output holds a top-k choice of experts)",
                "model.layers.0.mlp.experts.gate_up_proj": "stacked expert weights",
                "model.layers.0.mlp.experts.down_proj": "stacked expert weights"},
    "vit": {"vit.embeddings.cls_token": "class token (joined to the sequence)",
            "vit.embeddings.position_embeddings": "position embedding (added to the sequence)",
            "vit.layers.0.mlp.fc1.weight": "MLP in"},
    "clip": {"logit_scale": "logit scale, used as exp(p)",
             "vision_model.embeddings.class_embedding": "class token (joined to the sequence)",
             "vision_model.embeddings.position_embedding.weight":
             "position embedding (indices the model computes)"},
    "convnext": {"convnext.encoder.stages.0.layers.0.layer_scale_parameter":
                 "layer scale (a residual branch's per-channel gain)",
                 "convnext.encoder.stages.0.layers.0.pwconv1.weight": "MLP in"},
    "mamba": {"backbone.layers.0.mixer.A_log":
              "decay rate, used as -exp(p) (a state-space model's A)",
              "backbone.layers.0.mixer.D": "per-channel skip gain (on the shortcut)"},
    "t5": {"encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight":
           "relative position bias (added to attention scores)"},
    "wav2vec2": {"wav2vec2.masked_spec_embed":
                 "mask embedding (written where the input is masked)",
                 "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0":
                 "weight norm: magnitude g",
                 "wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1":
                 "weight norm: direction v"},
    "whisper": {"model.encoder.embed_positions.weight":
                "position embedding (indices the model computes)"},
}


@pytest.mark.parametrize("name", sorted(ROLES))
def test_each_report_row_names_the_role_read_off_the_graph(name):
    model = Z.build(name)
    report = initscope.initialize(model, "auto", seed=0, example_inputs=Z.inputs(name))
    got = {r.name: r.role for r in report.records}
    for param, role in ROLES[name].items():
        assert got[param] == role, (param, got[param])
    assert not [n for n, r in got.items() if not r or r.startswith("other (")], name


def test_no_report_row_of_the_zoo_lacks_a_role(zoo):
    name, _, _, report, _ = zoo
    assert not [(r.name, r.role) for r in report.records
                if not r.role or r.role.startswith(("other (", "used in"))], name


@pytest.mark.parametrize(("name", "head"), [("vit", "classifier"), ("convnext", "classifier"),
                                            ("resnet", "classifier.1")])
def test_a_classification_head_keeps_the_models_own_init(name, head):
    """Its classes are not the input's tokens: no loss at init to derive its scale from,
    and the readout rule trained the ResNet worse (docs/guides/real-models.md). The value
    is the model's own law, drawn from initscope's seed."""
    from initscope.model.apply import OWN_HEAD

    model = Z.build(name)
    report = initscope.initialize(model, "auto", seed=0, example_inputs=Z.inputs(name))
    rec = {r.name: r for r in report.records}[f"{head}.weight"]
    assert rec.covered and rec.kept == f"model's own init: {OWN_HEAD}", rec
    assert rec.role == "output head"
    own = Z.build(name).get_parameter(f"{head}.weight").detach()
    got = model.get_parameter(f"{head}.weight").detach()
    assert not torch.equal(got, own)  # drawn again, from initscope's seed...
    assert float(got.std()) == pytest.approx(float(own.std()), rel=0.15)  # ...by the same law
