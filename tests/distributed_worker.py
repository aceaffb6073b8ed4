"""What each rank of the distributed tests runs (spawned by tests/test_distributed.py).

Every check compares a sharded model's ``full_tensor()`` with the same model initialized
on this one process without sharding, bit for bit. Results the parent compares across
world sizes (stock torch.nn.init) are written to ``outdir`` by rank 0.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import initscope
from initscope import init
from initscope.rng import Layout, Stream
from tests.architectures import GPT


class Custom(nn.Module):
    """A module with its own init_weights written against torch.nn.init and Tensor.normal_
    (the HF / torchtitan style)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 24)
        self.gate = nn.Parameter(torch.empty(24, 16))
        self.out = nn.Linear(24, 8)

    def init_weights(self) -> None:
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)
        self.gate.data.normal_(mean=0.0, std=0.5)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.uniform_(self.out.bias, -0.1, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.proj(x)) * torch.sigmoid(x @ self.gate.t())
        return self.out(h)


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(20, 36), nn.GELU(), nn.Linear(36, 20), nn.Tanh(),
                         nn.Linear(20, 10))


def _compare(model: nn.Module, ref: nn.Module, label: str) -> None:
    want = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        full = p.full_tensor() if hasattr(p, "full_tensor") else p
        assert torch.equal(full.detach(), want[name].detach()), f"{label}: {name} differs"


def _not_copies(model: nn.Module, ref: nn.Module, label: str) -> None:
    """Ranks that hold different parts of a randomly initialized parameter hold different
    numbers (ranks holding the same part, replicas, hold the same)."""
    want = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        if not hasattr(p, "to_local") or float(want[name].detach().std()) == 0.0:
            continue
        layout = Layout.of_dtensor(p)
        where = tuple(None if i is None else tuple(i.tolist()) for i in layout.index)
        mine = (where, p.to_local().detach().clone())
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, mine)
        for i in range(len(gathered)):
            for j in range(i + 1, len(gathered)):
                (wa, a), (wb, b) = gathered[i], gathered[j]
                if not a.numel() or a.shape != b.shape:
                    continue
                same_part = wa == wb
                assert torch.equal(a, b) == same_part, (
                    f"{label}: {name} ranks {i},{j}: same part {same_part}")


def _train_step(model: nn.Module, x: torch.Tensor) -> None:
    out = model(x)
    out.float().pow(2).mean().backward()
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad.full_tensor() if hasattr(
            p.grad, "full_tensor") else p.grad).all()


def fsdp(mesh: Any) -> None:
    from torch.distributed.fsdp import fully_shard

    for scheme in ("auto", "gpt2", "orthogonal"):
        ref = GPT()
        initscope.initialize(ref, scheme, seed=7)
        with torch.device("meta"):
            model = GPT()
        for block in model.h:
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        model.to_empty(device="cpu")
        report = initscope.initialize(model, scheme, seed=7)
        assert not report.uncovered, report.uncovered
        _compare(model, ref, f"fsdp {scheme}")
        _not_copies(model, ref, f"fsdp {scheme}")
    _train_step(model, torch.randint(0, 96, (2, 16)))


def placements(mesh: Any) -> None:
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    fills: dict[str, Callable[[torch.Tensor, Stream], object]] = {
        "normal": lambda t, g: init.normal_(t, 0.1, 2.0, g),
        "uniform": lambda t, g: init.uniform_(t, -1.0, 2.0, g),
        "xavier": lambda t, g: init.xavier_uniform_(t, generator=g),
        "kaiming": lambda t, g: init.kaiming_normal_(t, nonlinearity="relu", generator=g),
        "trunc": lambda t, g: init.trunc_normal_(t, std=0.5, generator=g),
        "trunc_tail": lambda t, g: init.trunc_normal_(t, 0.0, 1.0, 2.5, 6.0, g),
        "orthogonal": lambda t, g: init.orthogonal_(t, generator=g),
        "sparse": lambda t, g: init.sparse_(t.view(t.shape[0], -1), 0.3, generator=g)
        if t.dim() == 2 else None,
        "eye": lambda t, g: init.eye_(t) if t.dim() == 2 else None,
        "dirac": lambda t, g: init.dirac_(t) if t.dim() == 4 else None,
    }
    shapes = [(7, 5), (12, 10), (6, 4, 3, 3), (3, 11)]
    for shape in shapes:
        for pl in ([Shard(0)], [Shard(1)], [Replicate()]):
            for label, fill in fills.items():
                ref = torch.empty(shape)
                if fill(ref, Stream(3, label)) is None:
                    continue
                for dtype in (torch.float32, torch.bfloat16):
                    d = distribute_tensor(torch.zeros(shape, dtype=dtype), mesh, pl,
                                          src_data_rank=None)
                    fill(d, Stream(3, label))
                    want = ref.to(dtype) if label not in ("trunc", "trunc_tail") else None
                    got = d.full_tensor()
                    if want is None:  # bf16 truncation is rounded, then pulled inside
                        want = torch.empty(shape, dtype=dtype)
                        fill(want, Stream(3, label))
                    assert torch.equal(got, want), (label, shape, pl, dtype)


def _sharded_mlp(shard: Callable[[nn.Module], object], seed: int, label: str) -> nn.Module:
    """meta -> ``shard(model)`` -> to_empty -> initialize; checked against one process."""
    ref = _mlp()
    initscope.initialize(ref, "auto", seed=seed)
    with torch.device("meta"):
        model = _mlp()
    shard(model)
    model.to_empty(device="cpu")
    initscope.initialize(model, "auto", seed=seed)
    _compare(model, ref, label)
    _not_copies(model, ref, label)
    _train_step(model, torch.randn(4, 20))
    return model


def tensor_parallel(mesh: Any) -> None:
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    _sharded_mlp(lambda m: parallelize_module(m, mesh, {
        "0": ColwiseParallel(), "2": RowwiseParallel(), "4": ColwiseParallel()}), 1, "tp")


def two_d(mesh2: Any) -> None:
    """Tensor parallel on "tp", FSDP2 on "dp": parameters with two placements each."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    def shard(m: nn.Module) -> None:
        parallelize_module(m, mesh2["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
        fully_shard(m, mesh=mesh2["dp"])

    model = _sharded_mlp(shard, 2, "2-D")
    placements = {n: tuple(p.placements) for n, p in model.named_parameters()}
    assert len(placements["0.weight"]) == 2, placements


def guard(mesh: Any) -> None:
    from torch.distributed.fsdp import fully_shard

    ref = Custom()
    with initscope.invariant_init(ref, seed=5):
        ref.init_weights()
    with torch.device("meta"):
        model = Custom()
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    with initscope.invariant_init(model, seed=5):
        model.init_weights()
    _compare(model, ref, "guard")
    # initialize() runs the custom init_weights under the same guard
    ref2 = nn.Sequential(Custom())
    initscope.initialize(ref2, "auto", seed=5)
    with torch.device("meta"):
        model2 = nn.Sequential(Custom())
    fully_shard(model2[0], mesh=mesh)
    fully_shard(model2, mesh=mesh)
    model2.to_empty(device="cpu")
    initscope.initialize(model2, "auto", seed=5)
    _compare(model2, ref2, "initialize(custom)")
    _train_step(model2, torch.randn(3, 16))


def stock(mesh: Any, outdir: str) -> None:
    """What torch.nn.init does to a sharded DTensor: recorded for the parent to compare."""
    from torch.distributed.tensor import Shard, distribute_tensor

    out = {}
    for seed in (1, 2):
        d = distribute_tensor(torch.zeros(8, 6), mesh, [Shard(0)], src_data_rank=None)
        torch.manual_seed(0)
        torch.nn.init.normal_(d, generator=torch.Generator().manual_seed(seed))
        out[f"generator{seed}"] = d.full_tensor()
    if dist.get_rank() == 0:
        torch.save(out, os.path.join(outdir, f"stock_world{dist.get_world_size()}.pt"))


def mup_sharded(mesh: Any) -> None:
    """muP on an FSDP2-sharded GPT built on the meta device: the single-process values
    bit for bit (the same plan), the attention hook and the tied readout's hook working
    on the sharded model, and SGD steps from its param_groups (not Adam: the key bias's
    gradient is zero but for rounding, which differs with the reduction order, and Adam
    turns its sign into a full step)."""
    from torch.distributed.fsdp import fully_shard

    ref = GPT(d=128)
    ref_plan = initscope.mup(ref, base=GPT(d=64), optimizer="sgd", seed=7)
    with torch.device("meta"):
        model = GPT(d=128)
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    model.to_empty(device="cpu")
    plan = initscope.mup(model, base=GPT(d=64), optimizer="sgd", seed=7)
    assert [(e.name, e.rule, e.hooked) for e in plan] == \
        [(e.name, e.rule, e.hooked) for e in ref_plan]
    assert plan.attention == ref_plan.attention
    _compare(model, ref, "mup fsdp")
    ids = torch.randint(0, 96, (2, 16), generator=torch.Generator().manual_seed(0))
    for m, pl in ((model, plan), (ref, ref_plan)):
        opt = torch.optim.SGD(pl.param_groups(lr=0.1, weight_decay=1e-3))
        for _ in range(2):
            loss = nn.functional.cross_entropy(m(ids).flatten(0, 1), ids.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
    want = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        full = p.full_tensor() if hasattr(p, "full_tensor") else p
        assert torch.allclose(full.detach(), want[name].detach(), rtol=1e-4, atol=1e-6), \
            f"mup fsdp after 2 steps: {name}"


def run(rank: int, world: int, port: int, outdir: str, two_dim: bool) -> None:
    import warnings

    # DTensor warns that random ops on a CPU mesh are incomplete: that is what we test.
    warnings.filterwarnings("ignore", message="DTensor random operators")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        from torch.distributed.device_mesh import init_device_mesh

        if two_dim:
            mesh2 = init_device_mesh("cpu", (2, world // 2), mesh_dim_names=("dp", "tp"))
            two_d(mesh2)
        else:
            mesh = init_device_mesh("cpu", (world,))
            placements(mesh)
            fsdp(mesh)
            mup_sharded(mesh)
            tensor_parallel(mesh)
            guard(mesh)
            stock(mesh, outdir)
    finally:
        dist.barrier()
        dist.destroy_process_group()
    # Only reached when every check passed (an assertion propagates to mp.spawn above).
    # Leave without C++ static destructors: gloo's background threads can still be
    # joinable then and std::terminate would abort a rank that finished its work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
