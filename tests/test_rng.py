"""The counter-based generator: Philox against Random123's known answers and an independent
implementation, golden values, statistics (KS, variance intervals, low bits, stream
independence), slices and shards, dtypes.

Statistical tests use fixed seeds. Each KS test is at level 1e-3 and each interval at
about 3.3 standard errors (two-sided 1e-3), so a correct generator fails a given check
with probability 1e-3; the seeds are fixed, so the outcome is deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from initscope import init, initialize
from initscope._core.philox import key_of, lanes, lanes_for_runs
from initscope.rng import RNG_VERSION, Layout, Stream, canonical_name

_M = (1 << 64) - 1


def _philox4x64_10(ctr: list[int], key: list[int]) -> list[int]:
    """Random123's Philox-4x64-10, in plain Python integers (the independent oracle)."""
    for r in range(10):
        if r:
            key = [(key[0] + 0x9E3779B97F4A7C15) & _M, (key[1] + 0xBB67AE8584CAA73B) & _M]
        p0, p1 = 0xD2E7470EE14C6C93 * ctr[0], 0xCA5A826395121157 * ctr[2]
        ctr = [(p1 >> 64) ^ ctr[1] ^ key[0], p1 & _M, (p0 >> 64) ^ ctr[3] ^ key[1], p0 & _M]
    return ctr


def _oracle_lanes(key: tuple[int, int], start: int, count: int) -> list[int]:
    out = []
    for i in range(start, start + count):
        word = _philox4x64_10([i // 8, 0, 0, 0], list(key))[(i % 8) // 2]
        out.append((word >> 32) if i % 2 else (word & 0xFFFFFFFF))
    return out


def test_python_oracle_matches_random123_known_answers():
    # Random123 1.09, kat_vectors, philox4x64 10 rounds.
    assert _philox4x64_10([0] * 4, [0] * 2) == [
        0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]
    assert _philox4x64_10([_M] * 4, [_M] * 2) == [
        0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0]
    assert _philox4x64_10(
        [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89],
        [0x452821E638D01377, 0xBE5466CF34E90C6C],
    ) == [0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6]


def test_lanes_match_known_answer_and_oracle_at_any_offset():
    kat = [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]
    want = [half for w in kat for half in (w & 0xFFFFFFFF, w >> 32)]
    assert lanes((0, 0), 0, 8).tolist() == want
    key = key_of("test", 7)
    for start, count in [(0, 1), (3, 9), (7, 2), (8, 8), (13, 40), (2**40 + 5, 11)]:
        assert lanes(key, start, count).tolist() == _oracle_lanes(key, start, count)


def test_lanes_for_runs_is_the_concatenation_of_runs():
    key = key_of("runs")
    for starts in ([0, 10, 20], [5, 1000, 100000], [64, 0, 32], [3]):
        arr = np.array(starts, dtype=np.int64)
        got = lanes_for_runs(key, arr, 7)
        assert got.tolist() == [v for s in starts for v in lanes(key, s, 7).tolist()]
    with pytest.raises(ValueError, match="start and count"):
        lanes(key, -1, 3)


def test_golden_values_catch_any_change_of_the_scheme():
    """Version 1 of the value scheme. A failure here means values drawn for a given seed
    changed: bump RNG_VERSION and these numbers together, and say so in the changelog."""
    assert RNG_VERSION == 1
    assert key_of("initscope", 1, 0, "fc.weight", 0) == (4027540221873700721,
                                                          1588451150695829942)
    t = torch.empty(5)
    assert Stream(0, "fc.weight").normal_(t, 0, 1).tolist() == pytest.approx(
        [1.0132153034210205, 0.4530429244041443, -0.06367186456918716, 0.6752715110778809,
         0.07831844687461853], abs=0, rel=1e-7)
    assert Stream(0, "fc.weight").uniform_(t, -1, 1).tolist() == pytest.approx(
        [0.6890426874160767, 0.3494821786880493, -0.050768494606018066, 0.5004967451095581,
         0.06242525577545166], abs=0, rel=1e-7)
    d = torch.empty(5, dtype=torch.float64)
    assert Stream(0, "fc.weight").trunc_normal_(d, 0, 1, -2, 2).tolist() == pytest.approx(
        [0.9496128876352037, 0.4310674650011111, -0.06077126602730579, 0.6398409412378064,
         0.07474800912260093], abs=0, rel=1e-13)


def test_names_are_canonical_and_keys_differ_by_every_part():
    assert canonical_name("_fsdp_wrapped_module.layers.0._orig_mod.w") == "layers.0.w"
    keys = {Stream(0, "a").key, Stream(1, "a").key, Stream(0, "b").key,
            Stream(0, "a", substream=1).key, Stream(0, "a", substream="1").key}
    assert len(keys) == 5
    assert Stream(0, "_orig_mod.a").key == Stream(0, "a").key


def _kstest(x: torch.Tensor, cdf: object) -> float:
    return float(stats.kstest(x.double().numpy().ravel(), cdf).pvalue)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_distributions_pass_ks_and_variance_intervals(dtype):
    n = 1 << 18
    t = torch.empty(n, dtype=dtype)
    u = Stream(11, "u").uniform_(t.clone(), -2.0, 3.0)
    assert _kstest(u, stats.uniform(-2, 5).cdf) > 1e-3
    z = Stream(11, "z").normal_(t.clone(), 0.5, 2.0)
    assert _kstest(z, stats.norm(0.5, 2.0).cdf) > 1e-3
    # Moments pooled over 8 streams (seeds 0-7, N = 8 n): the sample variance of
    # N(0.5, 4) has std 4 sqrt(2 / N), the mean 2 / sqrt(N). (A scan of 40 seeds gave a
    # mean variance of 0.9997 +- 0.0030 per stream of 2^18: no bias.)
    pooled = torch.cat([Stream(s, "z").normal_(t.clone(), 0.5, 2.0) for s in range(8)]).double()
    big = pooled.numel()
    assert float(pooled.var()) == pytest.approx(4.0, abs=3.3 * 4 * math.sqrt(2 / big))
    assert float(pooled.mean()) == pytest.approx(0.5, abs=3.3 * 2 / math.sqrt(big))
    for a, b in [(-2.0, 2.0), (-0.5, 3.0), (2.5, 6.0), (-9.0, -4.5)]:
        tn = Stream(11, f"tn{a}").trunc_normal_(t.clone(), 0.0, 1.0, a, b)
        assert float(tn.min()) >= a and float(tn.max()) <= b
        assert _kstest(tn, stats.truncnorm(a, b).cdf) > 1e-3, (a, b)


def test_low_bits_and_bit_positions_are_uniform():
    bits = lanes(key_of("bits"), 0, 1 << 20)
    low = (bits & 0xFF).astype(np.int64)
    counts = np.bincount(low, minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-3
    ones = np.unpackbits(bits.view(np.uint8)).reshape(-1, 32).mean(0)
    # each bit position: mean 1/2 with std 1/(2 sqrt n)
    assert np.all(np.abs(ones - 0.5) < 3.3 * 0.5 / math.sqrt(len(bits)) * 1.5)


def test_neighbouring_streams_are_independent():
    """Correlation between streams of neighbouring names, adjacent seeds and within a
    stream at lag 1: each ~ N(0, 1/n), so |r| < 3.3 / sqrt(n)."""
    n = 1 << 18
    bound = 3.3 / math.sqrt(n)

    def draw(seed: int, name: str) -> np.ndarray:
        return Stream(seed, name).normal_(torch.empty(n), 0, 1).double().numpy()

    a, b, c = draw(0, "layers.0.weight"), draw(0, "layers.1.weight"), draw(1, "layers.0.weight")
    for x, y in [(a, b), (a, c), (b, c), (a[:-1], a[1:])]:
        assert abs(np.corrcoef(x, y)[0, 1]) < bound


def test_slices_and_shards_get_the_parameters_own_values():
    full = init.normal_(torch.empty(12, 10), generator=Stream(5, "w"))
    part = torch.empty(12, 10)
    s = Stream(5, "w").bind(part)
    init.normal_(part[3:7], generator=s)          # rows
    init.normal_(part[:, 2:5], generator=s)       # columns
    init.normal_(part[8:, 6:], generator=s)       # a box
    assert torch.equal(part[3:7], full[3:7])
    assert torch.equal(part[:, 2:5], full[:, 2:5])
    assert torch.equal(part[8:, 6:], full[8:, 6:])
    # a shard held by a plain tensor (hand-rolled tensor parallel), any index sets
    for index in [(torch.arange(6, 12), None), (None, torch.tensor([1, 4, 5, 9])),
                  (torch.tensor([0, 2, 3, 11]), torch.arange(3, 7))]:
        layout = Layout((12, 10), index)
        shape = tuple(len(i) if i is not None else n for i, n in zip(index, (12, 10), strict=True))
        local = torch.empty(shape)
        init.normal_(local, generator=Stream(5, "w").bind(local, layout))
        assert torch.equal(local, layout.take(full))


def test_a_shard_gets_fans_from_the_global_shape():
    full = init.kaiming_uniform_(torch.empty(64, 32), generator=Stream(1, "w"))
    local = torch.empty(16, 32)
    layout = Layout.block((64, 32), (16, 0), (16, 32))
    init.kaiming_uniform_(local, generator=Stream(1, "w").bind(local, layout))
    assert torch.equal(local, full[16:32])
    with pytest.raises(ValueError, match="holds a"):
        Stream(1, "w").bind(torch.empty(3, 32), layout)
    with pytest.raises(ValueError, match="must lie in"):
        Layout((4,), (torch.tensor([4]),))


def test_scratch_draws_are_deterministic_substreams():
    """Orthogonal init draws a scratch Gaussian matrix: a numbered sub-stream, so the
    same call gives the same matrix and per-gate blocks differ."""
    a = init.orthogonal_(torch.empty(16, 8), generator=Stream(2, "w"))
    b = init.orthogonal_(torch.empty(16, 8), generator=Stream(2, "w"))
    assert torch.equal(a, b)
    assert torch.allclose(a.T @ a, torch.eye(8), atol=1e-5)
    w = torch.empty(8, 4)
    s = Stream(2, "lstm").bind(w)
    for block in w.chunk(2, dim=0):
        init.orthogonal_(block, generator=s)
    assert not torch.allclose(w[:4], w[4:])
    m = init.sparse_(torch.empty(10, 6), 0.3, generator=Stream(2, "s"))
    assert ((m == 0).sum(0) == 3).all()
    assert torch.equal(m, init.sparse_(torch.empty(10, 6), 0.3, generator=Stream(2, "s")))


def test_half_precision_is_float32_rounded_once_and_float64_refines_float32():
    f32 = Stream(4, "w").normal_(torch.empty(4096), 0, 1)
    for dt in (torch.bfloat16, torch.float16):
        assert torch.equal(Stream(4, "w").normal_(torch.empty(4096, dtype=dt), 0, 1),
                           f32.to(dt))
    f64 = Stream(4, "w").uniform_(torch.empty(4096, dtype=torch.float64), -1, 1)
    f32u = Stream(4, "w").uniform_(torch.empty(4096), -1, 1)
    assert float((f64 - f32u.double()).abs().max()) <= 2.0 ** -23
    tn = init.trunc_normal_(torch.empty(4096, dtype=torch.bfloat16), std=1.0, a=-0.3, b=0.3,
                            generator=Stream(4, "t"))
    assert float(tn.float().abs().max()) <= 0.3


def test_large_tensors_use_threads_and_agree_with_small_chunks():
    n = (1 << 20) + 37
    big = Stream(9, "w").normal_(torch.empty(n), 0, 1)
    parts = torch.empty(n)
    s = Stream(9, "w").bind(parts)
    for lo in range(0, n, 100_003):
        s.normal_(parts[lo:lo + 100_003], 0, 1)
    assert torch.equal(big, parts)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="seed must be an int"):
        Stream(1.5, "w")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a str"):
        Stream(0, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one index entry per dimension"):
        Layout((3, 4), (None,))


def test_moments_read_off_the_fill_are_those_of_the_tensor_until_it_changes():
    """initialize() audits the achieved std from sums taken chunk by chunk as the
    stream draws; they must be the tensor's own, and refused once anything wrote to it
    or when the values were cast after drawing."""
    t = torch.empty((1 << 20) + 5)  # several chunks, on the helper threads too
    assert Stream(3, "w").normal_(t, 0.5, 2.0) is t
    s = Stream(3, "w")._audited()
    assert Stream(3, "w").moments_of(t) is None  # not asked for
    s.normal_(t, 0.5, 2.0)
    m, q = s.moments_of(t)
    assert m == pytest.approx(t.double().mean().item(), rel=1e-6)
    assert q == pytest.approx(t.double().pow(2).mean().item(), rel=1e-6)
    assert s.moments_of(t[:10]) is None  # another tensor
    t.mul_(2.0)
    assert s.moments_of(t) is None  # written since
    b = torch.empty(4096, dtype=torch.bfloat16)
    s2 = Stream(3, "b")._audited()
    s2.uniform_(b, -1.0, 1.0)
    assert s2.moments_of(b) is None  # drawn in float32, then rounded


def test_initialize_audits_what_the_parameters_hold(monkeypatch):
    """... from the sums the stream took while drawing (no pass of its own) where the
    fill was the stream's alone: the weights here."""
    read_off = []
    moments_of = Stream.moments_of

    def spy(self, t):
        found = moments_of(self, t)
        read_off.append((t.dim(), found is not None))
        return found

    monkeypatch.setattr(Stream, "moments_of", spy)
    model = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))
    for atomic in (True, False):
        read_off.clear()
        report = initialize(model, "auto", seed=1, atomic=atomic)
        # the weights read off; the zero biases (not drawn by the stream) not
        assert sorted(read_off) == [(1, False), (1, False), (2, True), (2, True)]
        for r in report.records:
            p = model.get_parameter(r.name)
            if p.numel() > 1 and r.achieved_std is not None:
                assert r.achieved_std == pytest.approx(p.double().std().item(), rel=1e-6)
