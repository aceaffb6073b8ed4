"""The counter-based generator and sharded initialization against the real alternatives.

Writes benchmarks/results/distributed.md (linked from the README):

1. Single-process throughput of :class:`initscope.rng.Stream` against torch's own samplers
   (``Tensor.normal_``, ``uniform_``, ``torch.nn.init.trunc_normal_``) on one 2^24-element
   float32 tensor, as ratios, in the same process.
2. Per-rank ``initscope.initialize(model, "auto")`` of a ~110M-parameter decoder under
   FSDP2 (meta -> fully_shard -> to_empty -> initialize) at world sizes 1, 2 and 4 (gloo,
   CPU, one process per rank, one torch thread each), against the stock path on the same
   sharded model (every module's ``reset_parameters()``, torch.nn.init on DTensors), with
   each rank's peak extra memory during the call (VmHWM, reset before the call) beside
   the size of its shard and of the largest parameter.

    .venv/bin/python benchmarks/bench_distributed.py           # full
    .venv/bin/python benchmarks/bench_distributed.py --quick   # small model, prints only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/architectures.py

from tests.architectures import GPT

import initscope
from _common import default_init, median_time, write_table  # benchmarks/_common.py
from initscope.rng import Stream

OUT = Path(__file__).resolve().parent / "results" / "distributed.md"


def bench_generator(quick: bool) -> list[tuple[str, float, float]]:
    n = 1 << (20 if quick else 24)
    x = torch.empty(n)
    reps = 3 if quick else 7
    rows = [
        ("normal", median_time(lambda: Stream(0, "w").normal_(x, 0.0, 1.0), reps),
         median_time(lambda: x.normal_(), reps)),
        ("uniform", median_time(lambda: Stream(0, "w").uniform_(x, -1.0, 1.0), reps),
         median_time(lambda: x.uniform_(-1.0, 1.0), reps)),
        ("truncated normal (+-2 std)",
         median_time(lambda: Stream(0, "w").trunc_normal_(x, 0.0, 1.0, -2.0, 2.0), reps),
         median_time(lambda: torch.nn.init.trunc_normal_(x), reps)),
    ]
    return rows


def _model(quick: bool) -> GPT:
    if quick:
        return GPT(vocab=4096, block=128, d=256, layers=2)
    return GPT(vocab=32000, block=1024, d=768, layers=12)  # 110M parameters


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_extra_mib(fn: Callable[[], object]) -> float:
    """Peak resident memory above the level before ``fn``, in MiB (Linux VmHWM)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    before = _rss_kib("VmRSS")
    fn()
    return (_rss_kib("VmHWM") - before) / 1024


def _rank(rank: int, world: int, port: int, quick: bool, out: str) -> None:
    warnings.filterwarnings("ignore")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=600))
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))
    with torch.device("meta"):
        model = _model(quick)
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    graph = initscope.layer_graph(model)
    params = list(model.parameters())
    shard = sum(p.to_local().numel() * 4 for p in params) / 2**20  # type: ignore[attr-defined]
    largest = max(p.numel() * 4 for p in params) / 2**20
    total = sum(p.numel() for p in params)
    results = []
    for _ in range(2 if quick else 3):
        dist.barrier()
        t = time.perf_counter()
        mem = _peak_extra_mib(lambda: initscope.initialize(model, "auto", seed=0, graph=graph))
        ours = time.perf_counter() - t
        dist.barrier()
        t = time.perf_counter()
        stock_mem = _peak_extra_mib(lambda: default_init(model))
        stock = time.perf_counter() - t
        results.append((ours, stock, mem, stock_mem))
    ours, stock, mem, stock_mem = (statistics.median(r[i] for r in results) for i in range(4))
    row = (world, rank, total, ours, stock, mem, stock_mem, shard, largest)
    gathered: list[object] = [None] * world
    dist.all_gather_object(gathered, row)
    if rank == 0:
        Path(out).write_text(repr(gathered))
    dist.barrier()
    dist.destroy_process_group()
    _exit_cleanly()


def _exit_cleanly() -> None:
    """Leave the rank without C++ static destructors: gloo's background threads can still
    be joinable then, and std::terminate aborts an otherwise finished rank (seen about
    once in 20 runs: "terminate called without an active exception")."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_sharded(quick: bool) -> list[tuple[int, int, int, float, float, float, float, float,
                                             float]]:
    """Each world size twice: times with the default allocator; memory with a fixed mmap
    threshold (every large buffer its own mapping, returned on free, so no high-water
    mark hides in memory glibc kept from an earlier call; it costs page faults, which is
    why the times come from the other run)."""
    rows: list[tuple[int, int, int, float, float, float, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for world in (1, 2, 4):
            runs = []
            for mode in ("time", "memory"):
                if mode == "memory":
                    os.environ["MALLOC_MMAP_THRESHOLD_"] = "131072"
                out = os.path.join(tmp, f"w{world}{mode}.txt")
                try:
                    mp.spawn(_rank, args=(world, _port(), quick, out), nprocs=world, join=True)
                finally:
                    os.environ.pop("MALLOC_MMAP_THRESHOLD_", None)
                runs.append(eval(Path(out).read_text()))  # our own repr of number tuples
            for t, m in zip(*runs, strict=True):
                rows.append((*t[:5], *m[5:7], *t[7:]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; print, write nothing")
    args = parser.parse_args()
    gen = bench_generator(args.quick)
    sharded = bench_sharded(args.quick)
    lines = [
        "# Counter-based generator and sharded initialization",
        "",
        f"Generated by `benchmarks/bench_distributed.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}. Medians of repeated runs.",
        "",
        "## Single process: counter-based stream against torch's samplers",
        "",
        f"One float32 tensor of 2^{20 if args.quick else 24} elements, "
        f"{torch.get_num_threads()} torch threads.",
        "",
        "| distribution | initscope Stream (s) | torch (s) | Stream / torch |",
        "|---|---:|---:|---:|",
    ]
    for name, ours, theirs in gen:
        lines.append(f"| {name} | {ours:.4f} | {theirs:.4f} | {ours / theirs:.2f}x |")
    lines += [
        "",
        "torch's twins: `Tensor.normal_`, `Tensor.uniform_`, `torch.nn.init.trunc_normal_`.",
        "",
        "## FSDP2, per rank: initialize(model, 'auto') against every module's "
        "reset_parameters()",
        "",
        f"A GPT-style decoder of {sharded[0][2] / 1e6:.0f}M parameters, built on the meta "
        "device, `fully_shard` per block and at the root, `to_empty(device='cpu')`; gloo, "
        "one process per rank and one torch thread each (world size 4 shares this "
        "machine's cores). Memory: peak resident memory above the level before the call.",
        "",
        "| world | rank | initscope (s) | stock (s) | initscope / stock | initscope peak extra "
        "(MiB) | stock peak extra (MiB) | shard (MiB) | largest parameter (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for world, rank, _, ours, stock, mem, stock_mem, shard, largest in sharded:
        lines.append(f"| {world} | {rank} | {ours:.3f} | {stock:.3f} | {ours / stock:.2f}x | "
                     f"{mem:.0f} | {stock_mem:.0f} | {shard:.0f} | {largest:.0f} |")
    lines += [
        "",
        "initscope stages every new value before writing any (an error leaves the model as "
        "it was), so its extra memory is about one shard; it never holds a whole parameter "
        "for elementwise schemes. The stock values differ with the world size (see "
        "tests/test_distributed.py); initscope's are the same at every world size.",
    ]
    print("\n".join(lines))
    if not args.quick:  # a smoke run prints; only a full run replaces the published table
        write_table(OUT, lines)


if __name__ == "__main__":
    main()
