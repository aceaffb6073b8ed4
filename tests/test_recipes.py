"""Recipes: each paper's rule, checked on the architecture it was written for."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initscope import initialize
from initscope.model.recipes import RECIPES
from tests.architectures import GPT, ResNet18, mlp


def _std(t: torch.Tensor) -> float:
    return float(t.detach().std())


def test_zero_last_bn_makes_every_resnet_block_start_as_identity():
    model = ResNet18(num_classes=10)
    initialize(model, "zero_last_bn", seed=0)
    for stage in range(1, 5):
        for block in getattr(model, f"layer{stage}"):
            assert torch.count_nonzero(block.bn2.weight) == 0
            assert torch.all(block.bn1.weight == 1)
    model.eval()  # each block is then relu(shortcut(x)): check one identity block
    block = model.layer1[1]
    x = torch.relu(torch.randn(2, 64, 8, 8))
    with torch.no_grad():
        assert torch.allclose(block(x), x)


def _bn2_gains(model: nn.Module) -> list[torch.Tensor]:
    return [m.bn2.weight for m in model.modules() if hasattr(m, "bn2")]


def test_auto_keeps_a_residual_branch_the_model_starts_switched_off():
    """torchvision's zero_init_residual (timm's default zero_init_last) is the model's
    choice: "auto" keeps those zeros, says so, and is then zero_last_bn to the bit."""
    model = ResNet18(num_classes=10, zero_init_residual=True)
    report = initialize(model, "auto", seed=0)
    kept = {r.name: r for r in report.records if r.kept}
    names = {f"layer{s}.{b}.bn2.weight" for s in range(1, 5) for b in range(2)}
    assert set(kept) == names
    for r in kept.values():
        assert not r.covered and r.kept.startswith("as built:") and "Goyal" in r.kept, r
    assert all(torch.count_nonzero(w) == 0 for w in _bn2_gains(model))
    recipe = ResNet18(num_classes=10)
    initialize(recipe, "zero_last_bn", seed=0)
    for (n, p), q in zip(model.state_dict().items(), recipe.state_dict().values(),
                         strict=True):
        assert torch.equal(p, q), n


def test_a_zero_gain_is_kept_only_at_a_branch_end_and_only_by_auto():
    model = ResNet18(num_classes=10, zero_init_residual=True)
    nn.init.zeros_(model.layer1[0].bn1.weight)  # inside the branch: not the identity trick
    nn.init.zeros_(model.layer2[0].downsample[1].weight)  # on the shortcut
    nn.init.constant_(model.layer3[0].bn2.weight, 0.5)  # not switched off
    initialize(model, "auto", seed=0)
    assert torch.all(model.layer1[0].bn1.weight == 1)
    assert torch.all(model.layer2[0].downsample[1].weight == 1)
    assert torch.all(model.layer3[0].bn2.weight == 1)
    assert torch.count_nonzero(model.layer1[0].bn2.weight) == 0
    asked = ResNet18(num_classes=10, zero_init_residual=True)
    initialize(asked, "he", seed=0)  # the scheme asked for applies its rule everywhere
    assert all(torch.all(w == 1) for w in _bn2_gains(asked))
    # "auto" named for a layer keeps what the model chose there, as the base "auto" does
    initialize(asked := ResNet18(num_classes=10, zero_init_residual=True), "he", seed=0,
               overrides={"layer1.*": "auto"})
    gains = _bn2_gains(asked)
    assert all(torch.count_nonzero(w) == 0 for w in gains[:2])
    assert all(torch.all(w == 1) for w in gains[2:])


def test_skipinit_switches_every_gpt_branch_off():
    model = GPT(layers=3)
    initialize(model, "skipinit", seed=0)
    x = torch.randn(2, 16, 64)
    with torch.no_grad():
        for block in model.h:
            assert torch.equal(block(x), x)
    assert torch.count_nonzero(model.h[0].attn.c_attn.weight) > 0  # only branch ends are zero


def test_fixup_on_resnet18():
    model = ResNet18(num_classes=10)
    report = {r.name: r for r in initialize(model, "fixup", seed=0).records}
    branches = 8  # L
    # m = 2 weight layers per branch: the first scaled by L^(-1/(2m-2)) = L^(-1/2)
    conv1 = report["layer3.0.conv1.weight"]
    he_std = math.sqrt(2.0 / (128 * 9))
    assert conv1.target_std == pytest.approx(he_std / math.sqrt(branches))
    assert _std(model.layer3[0].conv1.weight) == pytest.approx(conv1.target_std, rel=0.05)
    assert torch.count_nonzero(model.layer3[0].conv2.weight) == 0  # last layer of a branch
    assert torch.count_nonzero(model.fc.weight) == 0 and torch.count_nonzero(model.fc.bias) == 0
    assert torch.count_nonzero(model.layer2[0].downsample[0].weight) > 0  # shortcut untouched


def test_gpt2_scales_the_residual_projections():
    model = GPT(d=256, layers=4)
    initialize(model, "gpt2", seed=0)
    branch_std = 0.02 / math.sqrt(2 * 4)
    for block in model.h:
        assert _std(block.attn.c_proj.weight) == pytest.approx(branch_std, rel=0.05)
        assert _std(block.c_proj.weight) == pytest.approx(branch_std, rel=0.05)
        assert _std(block.c_fc.weight) == pytest.approx(0.02, rel=0.05)
        assert _std(block.attn.c_attn.weight) == pytest.approx(0.02, rel=0.05)
        assert torch.count_nonzero(block.c_fc.bias) == 0
    assert _std(model.wte.weight) == pytest.approx(0.02, rel=0.05)


def test_t_fixup_and_deepnorm_scale_values_not_queries():
    n, d = 4, 256
    for name, factor in (("t_fixup", 0.67 * n ** -0.25), ("deepnorm", (8 * n) ** -0.25)):
        model = GPT(d=d, layers=n)
        initialize(model, name, seed=0)
        xavier_qkv = math.sqrt(2 / (d + d))
        q, k, v = model.h[0].attn.c_attn.weight.detach().chunk(3, dim=0)
        assert _std(q) == pytest.approx(xavier_qkv, rel=0.05)
        assert _std(k) == pytest.approx(xavier_qkv, rel=0.05)
        assert _std(v) == pytest.approx(xavier_qkv * factor, rel=0.05), name
        fc = model.h[1].c_fc.weight
        assert _std(fc) == pytest.approx(math.sqrt(2 / (d + 4 * d)) * factor, rel=0.05)
        if name == "t_fixup":
            assert _std(model.wte.weight) == pytest.approx(d**-0.5, rel=0.05)


def test_t_fixup_on_torch_multihead_attention():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 4,
                                enable_nested_tensor=False)
    initialize(enc, "t_fixup", example_inputs=torch.randn(2, 5, 64), seed=0)
    factor = 0.67 * 4 ** -0.25  # 8 branches: 4 blocks
    w = enc.layers[0].self_attn.in_proj_weight.detach()
    q, v = w[:64], w[128:]
    assert _std(v) / _std(q) == pytest.approx(factor, rel=0.15)


def test_small_embedding():
    model = GPT()
    initialize(model, "small_embedding", seed=0)
    assert model.wte.weight.abs().max() <= 1e-4 and model.wpe.weight.abs().max() <= 1e-4


#: Which recipe finds nothing to act on in which model, and says so (issue 16, item 3:
#: "say when they do not apply rather than doing nothing"): the GPT's pre-norm branches
#: end in linear layers, the ResNet has no attention, the MLP no residual branch, no
#: attention and no embedding.
DOES_NOT_APPLY = {
    "GPT": {"zero_last_bn"},
    "ResNet18": {"t_fixup", "deepnorm", "small_embedding"},
    "Sequential": set(RECIPES),
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_every_recipe_covers_every_parameter_and_says_where_it_does_not_apply(recipe):
    import warnings

    for model, x in ((GPT(), torch.randint(0, 96, (2, 16))),
                     (ResNet18(num_classes=10), torch.randn(2, 3, 32, 32)),
                     (mlp(3, 16, nn.ReLU), torch.randn(4, 16))):
        name = type(model).__name__
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            report = initialize(model, recipe, seed=0)
        said = [str(w.message) for w in caught if "does not apply" in str(w.message)]
        assert bool(said) == (recipe in DOES_NOT_APPLY[name]), (recipe, name, said)
        assert all(w.filename == __file__ for w in caught), [w.filename for w in caught]
        assert report.uncovered == [], (recipe, name)
        with torch.no_grad():
            assert torch.isfinite(model(x)).all()


def test_unknown_names_list_schemes_and_recipes():
    with pytest.raises(ValueError, match=r"unknown scheme 'fixupp'.*'auto'.*'fixup'.*'gpt2'"):
        initialize(GPT(), "fixupp")
