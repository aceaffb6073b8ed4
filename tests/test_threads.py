"""The one-thread blocks (counter-stream fills, the effective rank's eigensolver, the
reproductions' training) restore torch's thread count even when Python threads overlap."""

from __future__ import annotations

import threading

import torch

from initscope._threads import one_torch_thread
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
