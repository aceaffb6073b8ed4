"""Run every example under docs/examples and keep what it prints in docs/generated/.

The pages include each example's source and its output (pymdownx.snippets), so every
number on a page comes from this run. An example checks its own claims (asserts): a
failing claim fails the run and the docs build.

    python docs/run_examples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent


def run(out: Path) -> list[tuple[str, float]]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg",
           "PYTHONWARNINGS": "error::DeprecationWarning"}
    timings = []
    for example in sorted((DOCS / "examples").glob("*.py")):
        start = time.perf_counter()
        r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True,
                           cwd=ROOT, env=env, timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"docs example {example.name} failed:\n{r.stdout}\n{r.stderr}")
        if not r.stdout.strip():
            raise SystemExit(f"docs example {example.name} printed nothing")
        (out / f"{example.stem}.txt").write_text(r.stdout)
        timings.append((example.name, time.perf_counter() - start))
    return timings


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "generated")
    args = parser.parse_args()
    for name, seconds in run(args.out):
        print(f"{name:28s} {seconds:5.1f} s")
