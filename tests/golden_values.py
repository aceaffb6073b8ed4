"""Golden values for the redesign (issue 15): what every scheme and recipe writes on the
test architectures for a fixed seed, and what diagnose reports, captured BEFORE the
redesign so that it can prove "same seed -> the same weights, the same tables".

    .venv/bin/python -m tests.golden_values     # (re)capture tests/golden/values.json

Per (architecture, scheme): a SHA-256 of every parameter's bytes (bit-identity) and,
per parameter, its float64 sum and sum of squares (a check that holds on any CPU: a
transcendental function may round differently on another CPU model's kernels, which
is no change of initscope). Per diagnosed model: every number of its table and its
verdicts. ``tests/test_golden.py`` compares; the hashes only on the machine kind that
captured them (``fingerprint``)."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

import initscope
from initscope.model.policies import SCHEMES
from initscope.model.recipes import RECIPES
from tests.architectures import GPT, ConvNet, ResNet18, Zoo, mlp

PATH = Path(__file__).resolve().parent / "golden" / "values.json"
SEED = 0


ARCHITECTURES = {"mlp_tanh": lambda: mlp(4, 32, nn.Tanh), "convnet": ConvNet,
                 "resnet18": ResNet18, "gpt": GPT, "zoo": Zoo}


def build(arch: str) -> nn.Module:
    torch.manual_seed(0)  # the modules' own construction-time values (kept where uncovered)
    return ARCHITECTURES[arch]()


def schemes() -> list[str]:
    return [*SCHEMES, "uniform(-1,1)", *RECIPES]


def fingerprint() -> str:
    """The CPU model, torch's CPU capability, version and thread count: where hashes must
    agree (a float32 QR's LAPACK blocking, and so its last bits, follow the thread count:
    at 1 thread on the capturing machine 5 hashes and the convnet table's bits differ)."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")),
                         model)
    except OSError:
        pass
    return (f"{model} | {torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__}"
            f" | {torch.get_num_threads()} threads")


def weights_record(model: nn.Module) -> dict[str, Any]:
    digest = hashlib.sha256()
    params = {}
    for name, p in model.named_parameters():
        t = p.detach().contiguous()
        digest.update(name.encode())
        digest.update(t.numpy().tobytes())
        d = t.double()
        params[name] = [float(d.sum()), float((d * d).sum())]
    return {"sha256": digest.hexdigest(), "params": params}


def initialized(arch: str, scheme: str) -> dict[str, Any]:
    model = build(arch)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = initscope.initialize(model, scheme, seed=SEED)
    except (ValueError, TypeError) as e:
        return {"error": type(e).__name__}
    record = weights_record(model)
    # Values that come out of a float32 QR (orthogonal schemes, recurrent weights): LAPACK
    # kernels round differently on another CPU model (measured: AMD EPYC vs Intel Xeon,
    # both AVX512), so across machines they agree to the float32 rounding of a
    # factorization, not to the last bit (see tests/test_golden.py).
    record["factorized"] = sorted(r.name for r in report.records
                                 if "orthogonal" in r.scheme or "looks_linear" in r.scheme)
    return record


def diagnosed(arch: str) -> dict[str, Any]:
    """diagnose after initialize(auto) on a fixed batch: its table and verdicts."""
    model = build(arch)
    initscope.initialize(model, "auto", seed=SEED)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 32, generator=g) if arch == "mlp_tanh" else \
        torch.randn(8, 3, 16, 16, generator=g)
    d = initscope.diagnose(model, x, seed=SEED)
    rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in r.items()} for r in d.to_records()]
    return {"layers": rows, "verdicts": [[v.kind, v.severity] for v in d.verdicts]}


DIAGNOSED = ["mlp_tanh", "convnet"]


def capture() -> dict[str, Any]:
    return {
        "fingerprint": fingerprint(),
        "seed": SEED,
        "weights": {f"{a}/{s}": initialized(a, s) for a in ARCHITECTURES for s in schemes()},
        "diagnose": {a: diagnosed(a) for a in DIAGNOSED},
    }


if __name__ == "__main__":
    PATH.parent.mkdir(parents=True, exist_ok=True)
    PATH.write_text(json.dumps(capture(), indent=0, sort_keys=True) + "\n")
    print(f"wrote {PATH}")
