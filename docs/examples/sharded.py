"""Sharded initialization: the same values on 1 process or N, without the full parameter.

Real runs use DTensors (fully_shard, parallelize_module) and initscope.initialize; this
page shows the mechanism on one process: each "rank" computes only its own block."""
import torch

from initscope import init
from initscope.rng import Layout, Stream

shape, world = (1024, 768), 4
full = init.kaiming_uniform_(torch.empty(shape), generator=Stream(0, "mlp.fc.weight"))

# Tensor parallel by rows: rank r holds rows [r * 256, (r + 1) * 256); fans stay global.
shards = []
for rank in range(world):
    rows = shape[0] // world
    local = torch.empty(rows, shape[1])
    layout = Layout.block(shape, (rank * rows, 0), (rows, shape[1]))
    init.kaiming_uniform_(local, generator=Stream(0, "mlp.fc.weight").bind(local, layout))
    shards.append(local)
print("4 row shards == the single-process tensor:", torch.equal(torch.cat(shards), full))

# Any index sets: columns dealt round-robin (a strided shard) work the same way.
cols = torch.arange(1, shape[1], 3)
local = torch.empty(shape[0], len(cols))
init.kaiming_uniform_(local, generator=Stream(0, "mlp.fc.weight").bind(
    local, Layout(shape, (None, cols))))
print("a strided column shard == those columns:", torch.equal(local, full[:, cols]))

# torch.nn.init on a local shard: fans from the local shape, std grows by sqrt(world)
naive = torch.nn.init.kaiming_uniform_(torch.empty(shape[0], shape[1] // world))
print(f"std: global {full.std():.4f}, naive local-shape init {naive.std():.4f} "
      f"(x{naive.std() / full.std():.2f} = sqrt({world}))")
assert torch.equal(torch.cat(shards), full) and torch.equal(local, full[:, cols])
assert abs(naive.std() / full.std() - world ** 0.5) < 0.05
