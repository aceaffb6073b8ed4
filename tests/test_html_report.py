"""The HTML report in a real browser: headless Chromium (Debian's chromium package) opens
the file offline, every embedded figure decodes, and the console stays clean."""

from __future__ import annotations

import os
import re
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


def _opened(chromium: str, page, tmp_path) -> subprocess.CompletedProcess[str]:
    """The page opened offline in headless Chromium: its DOM after load on stdout, the
    console on stderr."""
    r = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def _report(tmp_path, scheme: str):
    model = mlp(5, 128, nn.Tanh)
    initscope.initialize(model, scheme, seed=0)
    d = initscope.diagnose(model, torch.randn(128, 128))
    return d, d.to_html(tmp_path / f"{scheme}.html", title=f"tanh, {scheme}")


@pytest.mark.parametrize("scheme", ["glorot_standard", "xavier"])
def test_report_renders_offline_with_figures_and_no_console_errors(tmp_path, chromium, scheme):
    d, page = _report(tmp_path, scheme)
    r = _opened(chromium, page, tmp_path)
    dom = r.stdout
    assert 'data-figures-ok="yes"' in dom and 'data-figures="2"' in dom
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
    assert text.count("data:image/png;base64,") == 2  # depth figure, distributions


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
    r = _opened(chromium, page, tmp_path)
    assert 'data-figures-ok="yes"' in r.stdout and 'data-figures="1"' in r.stdout
    assert "60.7 vs 69.8" in r.stdout and "Produced by" in r.stdout
    assert [line for line in r.stderr.splitlines() if "CONSOLE" in line] == []


def _gpt_report(tmp_path):
    from tests.architectures import GPT

    model = GPT()
    initscope.initialize(model, "auto", seed=0)
    ids = torch.randint(0, 96, (8, 16), generator=torch.Generator().manual_seed(0))
    d = initscope.diagnose(model, ids, target=ids)
    return d, d.to_html(tmp_path / "gpt.html", title="GPT, auto")


def test_report_groups_rows_by_block_and_names_roles(tmp_path):
    """A transformer's table reads block by block: a heading row before each block's
    layers, the layers outside the blocks (embeddings, head) under their own heading,
    and each row's role as initialize names it."""
    d, page = _gpt_report(tmp_path)
    text = page.read_text()
    headings = re.findall(r'<tr class="block"><th colspan="\d+">([^<]*)</th></tr>', text)
    assert [h for h in headings if h.startswith("block")] == ["block h.0", "block h.1",
                                                              "block h.2"]
    assert "outside the blocks" in headings
    for b in range(3):  # every layer of block b sits between its heading and the next
        start = text.index(f">block h.{b}<")
        end = text.index(f">block h.{b + 1}<") if b < 2 else len(text)
        for s in d.layers:
            if s.block == f"h.{b}":
                assert start < text.index(f"<td>{s.name}</td>") < end, s.name
    roles = {s.name: s.role for s in d.layers}
    assert roles["h.0.attn.c_attn"] == "query+key+value (fused)"
    assert roles["h.0.c_proj"] == "residual branch end"
    assert "<td>query+key+value (fused)</td>" in text


def test_depth_figure_draws_the_measurement_beside_the_theory():
    """The depth figure plots exactly the measured and predicted numbers of the
    diagnosis, on log axes, and leaves out what the theory cannot predict."""
    from initscope.report.plots import depth_figure

    model = mlp(6, 256, nn.Tanh)
    initscope.initialize(model, "xavier", seed=0)
    d = initscope.diagnose(model, torch.randn(512, 256, generator=torch.Generator().manual_seed(1)))
    fig = depth_figure(d)
    try:
        acts, grads = fig.axes
        assert acts.get_yscale() == grads.get_yscale() == "log"
        for ax, measured, predicted in ((acts, "pre_second_moment", "predicted_pre_second_moment"),
                                        (grads, "grad_pre_var", "predicted_grad_pre_var")):
            lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
            assert list(lines["measured"]) == [getattr(s, measured) for s in d.layers]
            assert list(lines["mean-field prediction"]) == [getattr(s, predicted)
                                                            for s in d.layers]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_gradient_histograms_show_the_hidden_layers():
    """dL/dlogits spans far wider than a hidden layer's gradient: drawn on one axis it
    would flatten every hidden curve into a spike, so the gradient panel leaves the
    output layer out and says its range; the activation panel keeps every layer."""
    from initscope.report.plots import diagnosis_figure

    model = nn.Sequential(*mlp(4, 128, nn.Tanh), nn.Linear(128, 10))
    initscope.initialize(model, "xavier", seed=0)
    x = torch.randn(256, 128, generator=torch.Generator().manual_seed(0))
    d = initscope.diagnose(model, x, target=torch.arange(256) % 10)
    out = [s for s in d.layers if s.is_output]
    assert [s.name for s in out] == ["8"]
    fig = diagnosis_figure(d)
    try:
        acts, grads = fig.axes
        assert "8" in [line.get_label() for line in acts.get_lines()]
        assert [line.get_label() for line in grads.get_lines()] == ["0", "2", "4", "6"]
        assert "the output layer's span" in grads.get_title()
        lo, hi = out[0].grad_hist.lo, out[0].grad_hist.hi
        reach = max(max(abs(s.grad_hist.lo), abs(s.grad_hist.hi)) for s in d.layers[:-1])
        assert grads.get_xlim() == (-reach, reach) and hi - lo > 2 * reach
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_transformer_report_renders_offline(tmp_path, chromium):
    _, page = _gpt_report(tmp_path)
    r = _opened(chromium, page, tmp_path)
    assert 'data-figures-ok="yes"' in r.stdout and 'data-figures="2"' in r.stdout
    assert "block h.2" in r.stdout
    assert [line for line in r.stderr.splitlines() if "CONSOLE" in line] == []
