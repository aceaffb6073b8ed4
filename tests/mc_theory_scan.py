"""Scan seeds for the one-layer Monte Carlo checks in test_theory.py and print the worst
errors; used to set Q_RTOL, C_ATOL and CHI_RTOL. Run: ``python -m tests.mc_theory_scan 4``.
"""

from __future__ import annotations

import sys

from initscope import theory
from tests.test_theory import CASES, one_layer


def main(seeds: int) -> None:
    for name, sw2, sb2 in CASES:
        wq = wc = wchi = 0.0
        for q, c in [(0.5, 0.3), (1.0, 0.8), (2.5, -0.4)]:
            pq, pc = theory.q_map(name, sw2, sb2, q), theory.c_map(name, sw2, sb2, c, q)
            pchi = theory.chi1(name, sw2, sb2, q=q)
            for s in range(seeds):
                mq, mc, mchi = one_layer(name, sw2, sb2, q, c, s)
                wq, wc = max(wq, abs(mq / pq - 1)), max(wc, abs(mc - pc))
                wchi = max(wchi, abs(mchi / pchi - 1))
        print(f"{name:>6}: q rel {wq:.4f}  c abs {wc:.4f}  chi_1 rel {wchi:.4f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
