"""invariant_init routes only the thread that opened the block (issue 15, item 7): a
concurrent thread's torch.nn.init calls keep torch's values, two threads may each hold
a block at once, and torch's functions are back when the last block closes."""

from __future__ import annotations

import threading

import torch
from torch import nn

from initscope import invariant_init


def _stream_values(seed: int) -> torch.Tensor:
    m = nn.Linear(64, 32)
    with invariant_init(m, seed=seed):
        m.reset_parameters()
    return m.weight.detach().clone()


def test_another_threads_calls_go_to_torch_while_a_block_is_open():
    expected = nn.init.normal_(torch.empty(256), generator=torch.Generator().manual_seed(3))
    inside, opened, done = {}, threading.Event(), threading.Event()
    m = nn.Linear(64, 32)

    def hold_a_block() -> None:
        with invariant_init(m, seed=0):
            opened.set()
            done.wait(timeout=30)
            m.reset_parameters()  # routed: this thread opened the block
        inside["w"] = m.weight.detach().clone()

    t = threading.Thread(target=hold_a_block)
    t.start()
    assert opened.wait(timeout=30)
    try:
        assert torch.nn.init.normal_ is not _ORIGINAL["normal_"]  # the wrappers are in...
        got = torch.nn.init.normal_(torch.empty(256),  # ...but answer this thread as torch
                                    generator=torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(4)
        w = torch.empty(32, 64)
        torch.nn.init.kaiming_uniform_(w, a=5**0.5, generator=g)
        ref = torch.empty(32, 64)
        _ORIGINAL["kaiming_uniform_"](ref, a=5**0.5, generator=torch.Generator().manual_seed(4))
        # even a parameter of the block's model: this thread did not open the block
        with torch.no_grad():
            torch.nn.init.normal_(m.bias, generator=torch.Generator().manual_seed(5))
        bias = m.bias.detach().clone()
    finally:
        done.set()
        t.join(timeout=30)
    assert torch.equal(got, expected) and torch.equal(w, ref)
    assert torch.equal(bias, nn.init.normal_(torch.empty(32),
                                             generator=torch.Generator().manual_seed(5)))
    assert torch.equal(inside["w"], _stream_values(0))
    for name, fn in _ORIGINAL.items():
        assert getattr(torch.nn.init, name) is fn
    assert torch.Tensor.normal_ is _TENSOR_NORMAL


def test_two_threads_hold_blocks_of_their_own_at_once():
    results: dict[int, torch.Tensor] = {}
    barrier = threading.Barrier(2)

    def run(seed: int) -> None:
        m = nn.Linear(64, 32)
        with invariant_init(m, seed=seed):
            barrier.wait(timeout=30)  # both blocks are open now
            for _ in range(20):
                m.reset_parameters()
        results[seed] = m.weight.detach().clone()

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert torch.equal(results[1], _stream_values(1))
    assert torch.equal(results[2], _stream_values(2))
    assert not torch.equal(results[1], results[2])
    for name, fn in _ORIGINAL.items():
        assert getattr(torch.nn.init, name) is fn


_ORIGINAL = {n: getattr(torch.nn.init, n) for n in ("normal_", "kaiming_uniform_",
                                                    "uniform_", "orthogonal_")}
_TENSOR_NORMAL = torch.Tensor.normal_
