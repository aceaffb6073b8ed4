"""The golden values captured before the redesign (issue 15) still hold: same seed ->
bit-identical weights for every scheme and recipe on the test architectures (on the
machine kind that captured them; float64 sums to 1e-6 on any), identical diagnose
tables and verdicts. Recapture only for a deliberate change of values, and say so."""

from __future__ import annotations

import json
import math

import pytest

from tests import golden_values as gv

GOLDEN = json.loads(gv.PATH.read_text())
SAME_MACHINE = GOLDEN["fingerprint"] == gv.fingerprint()


@pytest.mark.parametrize("key", sorted(GOLDEN["weights"]))
def test_same_seed_same_weights(key):
    arch, scheme = key.split("/", 1)
    want = GOLDEN["weights"][key]
    got = gv.initialized(arch, scheme)
    if "error" in want:
        assert got == want
        return
    assert sorted(got["params"]) == sorted(want["params"])
    for name, (s, q) in want["params"].items():
        gs, gq = got["params"][name]
        assert gs == pytest.approx(s, rel=1e-6, abs=1e-9 * max(1.0, math.sqrt(q))), name
        assert gq == pytest.approx(q, rel=1e-6), name
    if SAME_MACHINE:
        assert got["sha256"] == want["sha256"], "weights changed bit for bit"


@pytest.mark.parametrize("arch", gv.DIAGNOSED)
def test_same_diagnose_table(arch):
    want = GOLDEN["diagnose"][arch]
    got = json.loads(json.dumps(gv.diagnosed(arch)))  # the same JSON round trip
    assert got["verdicts"] == want["verdicts"]
    assert len(got["layers"]) == len(want["layers"])
    for g_row, w_row in zip(got["layers"], want["layers"], strict=True):
        assert sorted(g_row) == sorted(w_row)
        for k, w in w_row.items():
            g = g_row[k]
            if isinstance(w, float) and g is not None:
                rel = 0.0 if SAME_MACHINE else 1e-5
                assert g == pytest.approx(w, rel=rel, abs=0 if SAME_MACHINE else 1e-9), (k, g, w)
            else:
                assert g == w, (k, g, w)
