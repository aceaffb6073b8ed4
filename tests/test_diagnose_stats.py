"""The per-layer statistics that read tensors in place or through a row subsample
(diagnostics/_stats.py) against brute force on the (samples, units) matrix they stand for."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initscope
from initscope import _tensor_moments as _tm
from initscope import diagnose
from initscope.diagnostics import _stats


def _samples_by_units(t: torch.Tensor, channel_dim: int) -> torch.Tensor:
    """The brute-force view: a copy with the units last, every other axis a sample."""
    return t.movedim(channel_dim, -1).reshape(-1, t.shape[channel_dim])


def _sample_rows(t: torch.Tensor, cdim: int, gen: torch.Generator, limit: int) -> torch.Tensor:
    """What diagnose does with a layer's output: pick the samples, then gather them."""
    return _stats.take_rows(t, cdim, _stats.row_index(t.shape, cdim, gen, limit), limit)


def test_conv_statistics_equal_brute_force():
    """A CNN whose first layer has some dead channels: moments, dead channels and gradient
    variances over all of (batch, height, width), computed on kept tensors."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 8, 3, padding=1), nn.Tanh(),
                          nn.Flatten(), nn.Linear(8 * 12 * 12, 5))
    with torch.no_grad():
        model[0].bias[:4] = -100.0  # channels 0-3 never fire: 4 of 16 dead
        model[2].weight.mul_(16.0)  # the tanh layer saturates partly (~35%)
    x = torch.randn(6, 3, 12, 12)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    d = diagnose(model, x, target=y)
    kept = []
    h = x
    for layer in model:
        h = layer(h)
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            h.retain_grad()
            kept.append(h)
    nn.functional.cross_entropy(h, y).backward()
    s0, s1, s2 = d.layers
    pre0 = _samples_by_units(kept[0], 1)
    assert s0.pre_mean == pytest.approx(pre0.mean().item(), rel=1e-5)
    assert s0.pre_second_moment == pytest.approx(pre0.pow(2).mean().item(), rel=1e-5)
    assert s0.act_second_moment == pytest.approx(pre0.relu().pow(2).mean().item(), rel=1e-5)
    assert s0.dead == pytest.approx(4 / 16)
    assert s0.units == 16
    act1 = _samples_by_units(kept[1], 1).tanh()
    assert s1.saturated == pytest.approx((act1.abs() > 0.99).float().mean().item())
    assert 0.05 < s1.saturated < 0.95
    for s, p in zip(d.layers, kept, strict=True):
        assert s.grad_pre_var == pytest.approx(p.grad.var().item(), rel=1e-4)
    assert s2.grad_weight_var == pytest.approx(model[5].weight.grad.var().item(), rel=1e-5)


def test_moments_and_variance_read_every_value():
    g = torch.Generator().manual_seed(1)
    strided = (torch.randn(7, 5, 9, 11, generator=g) * 3 + 0.5).permute(0, 2, 1, 3)
    for t in (strided, strided.contiguous(), strided.double()):  # dot, norm, float64
        m, q = _tm.moments(t)
        assert m == pytest.approx(t.double().mean().item(), rel=1e-6)
        assert q == pytest.approx(t.double().pow(2).mean().item(), rel=1e-6)
        assert _tm.variance(t) == pytest.approx(t.double().var().item(), rel=1e-5)
        assert _tm.mean_square(t) == q
    t = strided
    half = t.to(torch.bfloat16)
    assert _tm.moments(half)[1] == pytest.approx(half.double().pow(2).mean().item(),
                                                    rel=1e-5)
    assert math.isnan(_tm.variance(torch.ones(1)))


@pytest.mark.parametrize("shape, cdim", [((32, 16, 10, 10), 1), ((4, 300, 24), 2),
                                         ((3000, 8), 1), ((100, 6), 1), ((5, 7, 3), 0)])
def test_sample_rows_are_distinct_real_samples(shape, cdim):
    """Each returned row is one sample of the brute-force matrix, none twice, in their
    original order; all of them when there are at most the limit."""
    t = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    full = _samples_by_units(t, cdim)
    rows = _sample_rows(t, cdim, torch.Generator().manual_seed(3), limit=512)
    assert rows.shape[1] == shape[cdim]
    if full.shape[0] <= 512:
        assert torch.equal(rows, full)
        return
    # which full row is each sampled row (rows of Gaussian noise are unique)
    where = (rows[:, None, :] == full[None, :, :]).all(dim=2).float().argmax(dim=1)
    assert torch.equal(full[where], rows)
    assert where.unique().numel() == where.numel()
    assert torch.all(where[1:] > where[:-1])
    assert rows.shape[0] == 512


def test_sample_rows_of_many_samples():
    """Beyond 2^16 samples rows are drawn with replacement, deduplicated, then cut to the
    limit: still distinct, ordered, exactly the limit (rows coded by their index)."""
    n = 300_000
    t = torch.arange(n, dtype=torch.float64).reshape(3, n // 3, 1).expand(3, n // 3, 2)
    rows = _sample_rows(t, 2, torch.Generator().manual_seed(6), limit=512)
    assert rows.shape == (512, 2) and torch.equal(rows[:, 0], rows[:, 1])
    assert torch.all(rows[1:, 0] > rows[:-1, 0])
    assert rows[:, 0].max() > n / 2  # spread over all of them, not the first few


def test_rows_are_a_uniform_sample():
    """Every sample position is equally likely: over many seeds each of 4 images x 16
    positions of a 4x8x4x4 tensor (64 rows, 16 taken) is drawn 1/4 of the time
    (binomial, 4000 draws each -> sd 0.007; tolerance 5 sd)."""
    t = torch.arange(4 * 16, dtype=torch.float32).reshape(4, 1, 4, 4).expand(4, 8, 4, 4)
    counts = torch.zeros(64)
    for seed in range(4000):
        rows = _sample_rows(t, 1, torch.Generator().manual_seed(seed), limit=16)
        counts[rows[:, 0].long()] += 1
    assert torch.all((counts / 4000 - 0.25).abs() < 5 * math.sqrt(0.25 * 0.75 / 4000))


def test_histogram_bins_match_torch_histc():
    x = torch.randn(5000, generator=torch.Generator().manual_seed(4)) * 0.7
    counts, lo, hi = _stats.histogram(x, initscope.activation("tanh"))
    expected = torch.histc(x.clamp(-1, 1), bins=_stats.HIST_BINS, min=-1, max=1)
    assert (lo, hi) == (-1.0, 1.0)
    assert counts == expected.tolist()
    counts, lo, hi = _stats.histogram(x, initscope.activation("relu"), mean_square=0.49)
    assert hi == pytest.approx(4 * 0.7) and lo == -hi and sum(counts) == 5000


def test_histogram_keeps_a_copy_of_its_sample_and_bins_it_once():
    layer = torch.randn(64, 1024)  # more values than a histogram keeps
    h = _stats.histogram(layer)
    assert h.sample.untyped_storage().nbytes() == _stats.HIST_VALUES * 4  # not a view
    layer.zero_()  # the layer's tensor is reused: the histogram is not
    assert sum(h.counts) == _stats.HIST_VALUES and h.counts is h.counts
    assert max(h.counts) < _stats.HIST_VALUES / 10


def test_effective_rank_and_symmetry_when_units_outnumber_samples():
    """Fewer samples than units: the rank counts the n - 1 singular values a centered
    n-sample matrix has and equals exp(entropy) of them; copied units are found."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(20, 40, generator=g)
    x[:, 1] = x[:, 0]
    gram = _stats.unit_gram(x, g)
    assert gram is not None and gram.centered.shape == (40, 40)
    assert _stats.identical_fractions([gram]) == [pytest.approx(2 / 40)]
    s = torch.linalg.svdvals((x - x.mean(0)).double())[:19]
    p = s / s.sum()
    expected = math.exp(-(p * p.log()).sum().item())
    assert _stats.effective_ranks([gram])[0] == pytest.approx(expected, rel=1e-4)
    assert _stats.effective_ranks([None, gram]) == [0.0, pytest.approx(expected, rel=1e-4)]


def test_batched_unit_statistics_equal_one_at_a_time():
    """Layers of different widths finished in one call each give what each alone gives."""
    g = torch.Generator().manual_seed(7)
    mats = [torch.randn(100, w, generator=g) for w in (8, 64, 8, 30)]
    mats[2][:, 3] = mats[2][:, 5]
    mats[3][:, :10] = 0.0
    grams = [_stats.unit_gram(m, g) for m in mats]
    together = _stats.identical_fractions(grams), _stats.effective_ranks(grams)
    alone = [_stats.identical_fractions([gr])[0] for gr in grams], \
        [_stats.effective_ranks([gr])[0] for gr in grams]
    assert together[0] == alone[0] == pytest.approx([0.0, 0.0, 2 / 8, 10 / 30])
    assert together[1] == pytest.approx(alone[1], rel=1e-6)


def test_a_graph_is_reused_only_for_its_own_model():
    """diagnose(graph=) skips tracing and gives the same numbers; a graph of another
    model is refused by diagnose, initialize and predict, which leave the model as it was;
    predict with a scheme and this model's graph works on its copy, not the model."""
    import initscope
    from initscope.diagnostics import predict
    from tests.architectures import mlp

    torch.manual_seed(0)
    model, other = mlp(4, 32, nn.Tanh), mlp(4, 32, nn.Tanh)
    x = torch.randn(64, 32)
    first = diagnose(model, x, seed=1)
    again = diagnose(model, x, seed=1, graph=first.graph)
    assert again.to_records() == first.to_records()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="graph= was not built for this model: its layers 0"):
        diagnose(model, x, graph=initscope.layer_graph(other))
    with pytest.raises(ValueError, match="initialize: graph= was not built for this model"):
        initscope.initialize(model, "he", graph=initscope.layer_graph(other))
    with pytest.raises(ValueError, match="predict: graph= was not built for this model"):
        predict(model, "he", graph=initscope.layer_graph(other))
    with_graph = predict(model, "orthogonal", graph=first.graph)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert with_graph == predict(model, "orthogonal")


@pytest.mark.parametrize("offset", [0.0, 0.5, 1.0, 1e3])
def test_variance_does_not_cancel_when_the_mean_dominates(offset):
    """Constant fills have variance exactly 0, and a large mean over a small spread keeps
    its digits (the one-pass rule hands over to torch.var)."""
    assert _tm.variance(torch.full((300, 70), offset)) == 0.0
    t = offset + 1e-3 * torch.randn(300, 70, generator=torch.Generator().manual_seed(8))
    assert _tm.variance(t) == pytest.approx(t.double().var().item(), rel=1e-4)


def test_histogram_of_a_dead_layer_has_a_unit_range():
    counts, lo, hi = _stats.histogram(torch.zeros(100), None, 0.0)
    assert (lo, hi) == (-1.0, 1.0) and sum(counts) == 100


def test_gain_used_with_and_without_the_theory():
    """gain_used = sqrt(fan_in E[W^2]) whether it comes from the mean-field pass (float
    inputs) or is computed on its own (token inputs, where the theory does not run)."""
    from tests.architectures import GPT, mlp

    torch.manual_seed(0)
    model = mlp(3, 32, nn.Tanh)
    d = diagnose(model, torch.randn(16, 32))
    for s in d.layers:
        w = model.get_submodule(s.name).weight
        assert s.gain_used == pytest.approx(math.sqrt(32 * w.pow(2).mean().item()), rel=1e-6)
    gpt = GPT(vocab=64, block=16, d=32, layers=2, heads=2)
    d = diagnose(gpt, torch.randint(0, 64, (2, 16)))
    linear = [s for s in d.layers if s.kind == "linear"]
    assert linear and all(s.gain_used is not None and s.gain_used > 0 for s in linear)
    assert all(s.predicted_pre_second_moment is None for s in d.layers)
