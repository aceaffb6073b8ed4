"""The measurement behind "auto"'s AUTO_MIN_LINKS (benchmarks/results/design_measurements.md,
"Looks-linear against the variance-keeping rule by depth"): the activations reproduction's
protocol at depths 3, 6, 12, 25, for the activations given.

    .venv/bin/python benchmarks/scripts/looks_linear_depth_sweep.py \
        relu,tanh,elu auto,looks_linear,xavier

Run before looks-linear became "auto"'s rule for chains, "auto" is the variance-keeping
rule; today pass a policy for it (initscope.model.policies.SCHEMES["auto"] mirrors).
"""

from __future__ import annotations

import sys

import torch

from initscope.reproduce import activations as A


def main() -> None:
    torch.set_num_threads(1)
    acts, inits = sys.argv[1].split(","), sys.argv[2].split(",")
    for depth in (3, 6, 12, 25):
        cfg = A.Config(depth=depth, activations=tuple(acts), inits=tuple(inits))
        for row in A.run(cfg).rows:
            print(depth, row["activation"], row["init"], round(row["test accuracy"], 4),
                  row["accuracy range"], row["lr"], flush=True)


if __name__ == "__main__":
    main()
