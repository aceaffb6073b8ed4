"""The one-thread blocks (counter-stream fills, the effective rank's eigensolver, the
reproductions' training) restore torch's thread count even when Python threads overlap."""

from __future__ import annotations

import threading

import pytest
import torch

from initscope import initialize
from initscope._threads import intra_op_threads, one_torch_thread
from initscope.model.graph import LayerInfo
from initscope.model.policies import ParamInit
from initscope.rng import Stream


def test_overlapping_blocks_restore_the_thread_count():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        start = threading.Barrier(4)
        seen: list[int] = []

        def work(k: int) -> None:
            start.wait()
            for i in range(30):
                with one_torch_thread():
                    seen.append(torch.get_num_threads())
                    # a fill big enough for the stream's own worker threads
                    Stream(k, f"w{i}").uniform_(torch.empty(1 << 19), -1.0, 1.0)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2  # not stuck at 1
        with one_torch_thread(), one_torch_thread():  # nested in one thread
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_stream_workers_run_inside_a_one_thread_block():
    """initialize() draws inside one_torch_thread(): the stream must still see the
    caller's thread count and share its jobs with a helper thread."""
    from initscope import _threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    _threads.reset_pool()  # a pool made by an earlier test proves nothing
    try:
        with one_torch_thread():
            assert intra_op_threads() == 2 and torch.get_num_threads() == 1
            Stream(0, "w").uniform_(torch.empty(1 << 20), -1.0, 1.0)
        assert intra_op_threads() == 2
        assert _threads.pool_size() == 1  # one helper: the caller is the other thread
    finally:
        torch.set_num_threads(before)


def test_initialize_leaves_the_thread_count_as_it_was_even_when_it_fails():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                    torch.nn.Linear(64, 8))
        initialize(model, "auto", seed=0)
        assert torch.get_num_threads() == 2

        def bad_fill(t: torch.Tensor, g: object) -> torch.Tensor:
            raise RuntimeError("a custom initializer failed")

        def policy(info: LayerInfo) -> dict[str, ParamInit] | None:
            return {"weight": ParamInit("bad", bad_fill, elementwise=True)}

        with pytest.raises(RuntimeError, match="custom initializer failed"):
            initialize(model, policy, seed=0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
