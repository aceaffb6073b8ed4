"""The HTML report in a real browser: headless Chromium (Debian's chromium package) opens
the file offline, every embedded figure decodes, and the console stays clean."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch
from torch import nn

import initscope
from tests.architectures import mlp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium must be installed in CI (make test installs it as root)")
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    return CHROMIUM


def _report(tmp_path, scheme: str):
    model = mlp(5, 128, nn.Tanh)
    initscope.initialize(model, scheme, seed=0)
    d = initscope.diagnose(model, torch.randn(128, 128))
    return d, d.to_html(tmp_path / f"{scheme}.html", title=f"tanh, {scheme}")


@pytest.mark.parametrize("scheme", ["glorot_standard", "xavier"])
def test_report_renders_offline_with_figures_and_no_console_errors(tmp_path, chromium, scheme):
    d, page = _report(tmp_path, scheme)
    r = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    assert 'data-figures-ok="yes"' in dom and 'data-figures="1"' in dom
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    for v in d.verdicts:
        assert v.kind in dom
    assert ("healthy: no problem found" in dom) == d.healthy
    shot = tmp_path / "page.png"
    subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}",
                    "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=180, check=True)
    assert shot.stat().st_size > 30_000  # a rendered page with a figure, not a blank one


def test_report_is_self_contained(tmp_path):
    _, page = _report(tmp_path, "xavier")
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing fetched
    assert text.count("data:image/png;base64,") == 1


def test_reproduction_report_renders_offline(tmp_path, chromium):
    """A reproduction's report.html: the claims beside the paper's, the table, and every
    figure written beside it embedded; it opens offline with no console errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from initscope.reproduce._result import Result

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.5, 0.01, 0.02])
    fig.savefig(tmp_path / "fig2_sigmoid_activations.png")
    plt.close(fig)
    result = Result("demo", "A reproduction & its <claims>", [{"init": "xavier", "error": 0.25}],
                    [("normalized init helps", "15.6 < 27.2", "60.7 vs 69.8")],
                    [tmp_path / "fig2_sigmoid_activations.png"], {"steps": 10},
                    notes="Honest differences: width.", command="initscope reproduce demo",
                    seconds=12.0)
    result.write(tmp_path)
    page = tmp_path / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text
    assert text.count("data:image/png;base64,") == 1
    assert "A reproduction &amp; its &lt;claims&gt;" in text
    r = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'data-figures-ok="yes"' in r.stdout and 'data-figures="1"' in r.stdout
    assert "60.7 vs 69.8" in r.stdout and "Produced by" in r.stdout
    assert [line for line in r.stderr.splitlines() if "CONSOLE" in line] == []
