"""diagnose(): each verdict fires on the model built to have its fault and stays silent on
a healthy one; statistics equal a brute-force computation; nothing is left behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initscope
from initscope import diagnose
from tests.architectures import ConvNet, ResNet18, mlp

X = torch.randn(256, 256, generator=torch.Generator().manual_seed(0))


def _kinds(model: nn.Module, x: torch.Tensor = X) -> list[str]:
    return [v.kind for v in diagnose(model, x).verdicts]


def _init(model: nn.Module, scheme: str) -> nn.Module:
    initscope.initialize(model, scheme, seed=0)
    return model


def test_healthy_he_relu_network_is_silent():
    assert _kinds(_init(mlp(30, 256, nn.ReLU), "he")) == []


def test_zeros_fire_symmetry():
    kinds = _kinds(_init(mlp(10, 256, nn.Tanh), "zeros"))
    assert kinds == ["symmetry"]


def test_ones_fire_symmetry():
    assert "symmetry" in _kinds(_init(mlp(10, 256, nn.Tanh), "ones"))


def test_glorot_standard_tanh_30_layers_vanishes():
    kinds = _kinds(_init(mlp(30, 256, nn.Tanh), "glorot_standard"))
    assert "vanishing_gradients" in kinds and "vanishing_forward" in kinds


def test_uniform_sigmoid_saturates():
    d = diagnose(_init(mlp(10, 256, nn.Sigmoid), "uniform(-1,1)"), X)
    assert [(v.kind, v.severity) for v in d.verdicts] == [("saturation", "failure"),
                                                          ("gain_mismatch", "warning")]
    assert "sigmoid" in d.verdicts[0].evidence


def test_uniform_relu_explodes_and_xavier_relu_vanishes():
    assert "exploding_forward" in _kinds(_init(mlp(10, 256, nn.ReLU), "uniform(-1,1)"))
    assert "vanishing_forward" in _kinds(_init(mlp(30, 256, nn.ReLU), "glorot_standard"))


def test_dead_relu_units():
    model = _init(mlp(4, 256, nn.ReLU), "he")
    with torch.no_grad():
        model[2].bias.fill_(-100.0)
    d = diagnose(model, X)
    assert "dead_units" in [v.kind for v in d.verdicts]
    assert d.layers[1].dead == 1.0


def test_rank_collapse():
    model = _init(mlp(5, 256, nn.Tanh), "auto")
    with torch.no_grad():  # a rank-1 weight maps every input onto one direction
        u, v = torch.randn(256, 1), torch.randn(1, 256)
        model[4].weight.copy_(u @ v / 256)
    assert "rank_collapse" in _kinds(model)


def test_the_gain_hint_names_a_mismatched_layer():
    d = diagnose(_init(mlp(30, 256, nn.Tanh), "glorot_standard"), X)
    fix = next(v.fix for v in d.verdicts if v.kind == "vanishing_gradients")
    assert "carry gain 0.5" in fix and "needs 1.59" in fix


def test_statistics_equal_brute_force():
    """Keep every activation of a small MLP, compute each statistic by hand."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(),
                          nn.Linear(32, 8))
    x = torch.randn(64, 16)
    d = diagnose(model, x, seed=3)
    pre, acts = [], []
    h = x
    for layer in model:
        h = layer(h)
        if isinstance(layer, nn.Linear):
            h.retain_grad()
            pre.append(h)
        else:
            acts.append(h)
    r = torch.randn(h.shape, generator=torch.Generator().manual_seed(3))
    (h * r).sum().backward()
    s0, s1, s2 = d.layers
    assert s0.pre_second_moment == pytest.approx(pre[0].pow(2).mean().item(), rel=1e-5)
    assert s0.act_second_moment == pytest.approx(acts[0].pow(2).mean().item(), rel=1e-5)
    assert s0.saturated == pytest.approx((acts[0].abs() > 0.99).float().mean().item())
    assert s1.dead == pytest.approx((acts[1].amax(0) == 0).float().mean().item())
    for s, p in zip(d.layers, pre, strict=True):
        assert s.grad_pre_var == pytest.approx(p.grad.var().item(), rel=1e-5)
    assert s2.grad_weight_var == pytest.approx(model[4].weight.grad.var().item(), rel=1e-5)
    gain = (16 * model[0].weight.pow(2).mean()).sqrt().item()
    assert s0.gain_used == pytest.approx(gain, rel=1e-6)
    svals = torch.linalg.svdvals((acts[0] - acts[0].mean(0)).double())
    p_ = svals / svals.sum()
    assert s0.effective_rank == pytest.approx(torch.exp(-(p_ * p_.log()).sum()).item(), rel=1e-6)


def test_nothing_is_left_behind():
    model = ConvNet()
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    model.head.weight.grad = torch.full_like(model.head.weight, 7.0)
    d = diagnose(model, x)
    assert not model.training
    assert torch.all(model.head.weight.grad == 7.0) and model.stem.weight.grad is None
    assert all(not m._forward_hooks for m in model.modules())
    assert all(not p._post_accumulate_grad_hooks for p in model.parameters())
    assert d.layers[0].name == "stem"


def test_a_weight_shared_by_two_layers_reports_its_summed_gradient():
    # gradients are read (and dropped) as autograd finishes each parameter: a tied
    # weight is finished once, after both uses, and both layers report that gradient
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16))
    model[2].weight = model[0].weight
    x = torch.randn(32, 16)
    d = diagnose(model, x, seed=1)
    r = torch.randn(32, 16, generator=torch.Generator().manual_seed(1))
    (model(x) * r).sum().backward()
    want = model[0].weight.grad.var().item()
    assert [s.grad_weight_var for s in d.layers] == pytest.approx([want, want], rel=1e-5)


def test_conv_units_are_channels_and_targets_give_cross_entropy():
    model = ResNet18(num_classes=10)
    d = diagnose(model, torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))
    assert d.layers[0].name == "conv1" and d.layers[0].units == 64
    assert 1.0 < d.loss < 5.0  # cross-entropy of 10 classes at init: about log 10
    assert d.verdicts == []


def test_report_outputs():
    d = diagnose(_init(mlp(3, 32, nn.Tanh), "zeros"), torch.randn(16, 32))
    assert "symmetry" in str(d) and "act E[x^2]" in str(d)
    assert list(d.table["name"]) == ["0", "2", "4"]
    assert not d.healthy


def test_cli_default_is_glorot_and_bengio(tmp_path, capsys):
    from initscope.cli import main

    out = tmp_path / "d.json"
    report = tmp_path / "reports" / "gb.html"  # `make demo`'s: a folder not there yet
    assert main(["diagnose", "--batch", "32", "--json", str(out), "--out",
                 str(report)]) == 1  # problems found
    text = capsys.readouterr().out
    standard, normalized = text.split("== ")[1:]
    assert "vanishing_gradients" in standard and "healthy" in normalized
    assert "J sv" in standard  # the built-in job shows the Jacobian column
    import json

    runs = json.loads(out.read_text())
    assert len(runs) == 2 and len(runs[0]["layers"]) == 6
    jac = [[r["jacobian_sv_mean"] for r in run["layers"][1:-1]] for run in runs]
    assert max(jac[0]) < 0.55 < 0.6 < min(jac[1])  # Glorot & Bengio: ~0.5 vs ~0.8
    for label in ("standard", "normalized"):
        assert (tmp_path / "reports" / f"gb-{label}.html").stat().st_size > 10_000


def test_cli_target(capsys):
    from initscope.cli import main

    assert main(["diagnose", "tests.architectures:ConvNet", "--input-shape", "3,16,16",
                 "--batch", "4", "--scheme", "auto"]) == 0
    assert "healthy" in capsys.readouterr().out
    assert main(["diagnose", "tests.architectures:Nope", "--input-shape", "3"]) == 2
    assert "has no callable 'Nope'" in capsys.readouterr().err
    assert main(["diagnose", "tests.architectures:ConvNet"]) == 2
    assert "--input-shape" in capsys.readouterr().err


def test_theory_beside_measurement():
    """The mean-field prediction for the model's own weights sits next to each measured
    second moment; it agrees on a wide random network and is flagged where units are
    correlated, which the theory assumes away."""
    model = _init(mlp(6, 512, nn.Tanh), "xavier")
    d = diagnose(model, torch.randn(256, 512, generator=torch.Generator().manual_seed(1)))
    for s in d.layers:
        assert s.pre_second_moment == pytest.approx(s.predicted_pre_second_moment, rel=0.05)
        assert s.theory_note == ""
        # backward: the chain's ratios, anchored at the last layer's measured variance
        assert s.grad_pre_var == pytest.approx(s.predicted_grad_pre_var, rel=0.05)
    assert d.layers[-1].predicted_grad_pre_var == d.layers[-1].grad_pre_var
    assert d.layers[0].grad_pre_var < 0.5 * d.layers[-1].grad_pre_var  # a trend to predict
    assert "theory" in str(d)
    corr = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64))
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():  # rank 1 with same-sign rows: every unit moves together
        u, v = torch.randn(64, 1, generator=g).abs(), torch.randn(1, 64, generator=g)
        corr[0].weight.copy_(u @ v / 8)
        corr[2].weight.fill_(1 / 8)  # adds the correlated units coherently
        corr[0].bias.zero_()
        corr[2].bias.zero_()
    d = diagnose(corr, torch.randn(256, 64, generator=g))
    assert d.layers[1].theory_note.startswith("measured")
    assert "correlated (effective rank" in d.layers[1].theory_note


def test_theory_note_names_the_broken_assumption():
    """A LayerNorm whose gamma is no longer 1 breaks the theory's "length 1 after a
    normalization"; the note says so, and the next layer inherits the departure."""
    m = nn.Sequential(nn.Linear(256, 256), nn.LayerNorm(256), nn.Linear(256, 256), nn.Tanh(),
                      nn.Linear(256, 8))
    with torch.no_grad():
        m[1].weight.fill_(3.0)
    d = diagnose(m, torch.randn(256, 256, generator=torch.Generator().manual_seed(0)))
    notes = {s.name: s.theory_note for s in d.layers}
    assert "from a normalization" in notes["2"]
    assert "inherits the departure of layer 2" in notes["4"]
    assert notes["0"] == ""


def test_histograms_count_every_value():
    d = diagnose(_init(mlp(3, 64, nn.Tanh), "xavier"), torch.randn(128, 64))
    for s in d.layers:
        counts, lo, hi = s.act_hist
        assert sum(counts) == 128 * 64 and (lo, hi) == (-1.0, 1.0)
        gcounts, glo, ghi = s.grad_hist
        assert sum(gcounts) == 128 * 64 and glo == -ghi


def test_compare_and_figures(tmp_path):
    from initscope import compare
    from initscope.report.plots import diagnosis_figure

    c = compare(lambda: mlp(10, 128, nn.Tanh), torch.randn(128, 128),
                ["zeros", "glorot_standard", "xavier"])
    verdicts = {s: [v.kind for v in d.verdicts] for s, d in c.diagnoses.items()}
    assert verdicts["zeros"] == ["symmetry"] and verdicts["xavier"] == []
    assert "vanishing_forward" in verdicts["glorot_standard"]
    table = c.table
    assert len(table) == 3 * 10 and set(table["scheme"]) == {"zeros", "glorot_standard",
                                                              "xavier"}
    for fig_path, make in ((tmp_path / "c.png", lambda p: c.plot(p)),
                           (tmp_path / "d.png",
                            lambda p: diagnosis_figure(c.diagnoses["xavier"], out=p))):
        make(fig_path)
        assert fig_path.read_bytes()[:4] == b"\x89PNG" and fig_path.stat().st_size > 20_000


def test_several_inputs_and_outputs():
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(16, 32)
            self.b = nn.Linear(8, 32)
            self.head1 = nn.Linear(32, 4)
            self.head2 = nn.Linear(32, 2)

        def forward(self, x: torch.Tensor, y: torch.Tensor):
            h = torch.tanh(self.a(x) + self.b(y))
            return {"one": self.head1(h), "two": self.head2(h)}

    d = diagnose(TwoHeads(), (torch.randn(32, 16), torch.randn(32, 8)))
    names = [s.name for s in d.layers]
    assert set(names) == {"a", "b", "head1", "head2"}
    assert all(s.grad_pre_var > 0 for s in d.layers)  # both heads' losses reach every layer


def test_a_layer_started_at_zero_whose_gradients_differ_is_no_symmetry():
    """muP's zero query, SkipInit's zero branch end: identical (zero) units whose weight
    gradients already differ are told apart by the first step; a network of zeros is not."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                        nn.Linear(32, 8))
    nn.init.zeros_(net[2].weight)
    nn.init.zeros_(net[2].bias)
    x = torch.randn(128, 16)
    d = diagnose(net, x)
    row = next(s for s in d.layers if s.name == "2")
    assert row.identical_units == 1.0 and row.zero_start_grad_identical < 0.5
    assert "symmetry" not in {v.kind for v in d.verdicts}
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    assert "symmetry" in {v.kind for v in diagnose(net, x).verdicts}


def test_gain_mismatch_names_the_activation_feeding_the_layer():
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(64, 64)]
    for _ in range(5):
        layers += [nn.GELU(), nn.Linear(64, 64)]
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.5)  # gain 4 against GELU's 1.53
    d = diagnose(net, torch.randn(256, 64))
    v = next(v for v in d.verdicts if v.kind == "gain_mismatch")
    assert "input from gelu needs 1.53" in v.evidence, v.evidence
