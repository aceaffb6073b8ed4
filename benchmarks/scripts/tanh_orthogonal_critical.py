"""tanh at 50 layers: orthogonal weights at the stable edge of chaos against Xavier, the
Gaussian "critical" scheme and orthogonal at "auto"'s gain (benchmarks/results/
design_measurements.md, "tanh: orthogonal at the stable edge of chaos"). The activations
reproduction's protocol (digits, 3 seeds, rate from a grid by seed 0's training loss).

    .venv/bin/python benchmarks/scripts/tanh_orthogonal_critical.py
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from initscope import init
from initscope._core.scaling import Draw
from initscope.model.policies import _ZERO, ParamInit, drawn
from initscope.reproduce import activations as A


def orthogonal(sigma_w2: float, sigma_b2: float) -> Callable[[Any], Any]:
    """Linear layers: gain sqrt(sigma_w2) x an orthogonal matrix, biases N(0, sigma_b2)."""
    gain = math.sqrt(sigma_w2)

    def policy(info: Any) -> Any:
        if info.kind != "linear":
            return None
        weight = ParamInit(f"orthogonal, gain^2 {sigma_w2:.3g}",
                           lambda t, g: init.orthogonal_(t, gain, g))
        bias = drawn(f"N(0, {sigma_b2})", Draw("normal", math.sqrt(sigma_b2))) \
            if sigma_b2 > 0 else _ZERO
        return {"weight": weight, "bias": bias}

    policy.__name__ = f"orthogonal(sigma_w2={sigma_w2:.3g}, sigma_b2={sigma_b2})"
    return policy


def main() -> None:
    torch.set_num_threads(1)
    inits = (orthogonal(1.7609546, 0.05), orthogonal(1.0, 0.0), orthogonal(2.536, 0.0),
             "xavier", "critical")
    for row in A.run(A.Config(activations=("tanh",), inits=inits)).rows:
        name = getattr(row["init"], "__name__", row["init"])
        print(name, round(row["test accuracy"], 4), row["accuracy range"], row["lr"],
              round(row["q_last/q_in"], 4), flush=True)


if __name__ == "__main__":
    main()
