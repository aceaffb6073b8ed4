"""The guide: every code block is an example file that runs (and checks its own claims),
every page shows what its example printed, and the site builds offline in strict mode
and renders in headless Chromium with its figures and a clean console."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INCLUDE = re.compile(r'^--8<-- "docs/(examples|generated)/(\w+)\.(py|txt)"$')


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "generated" not in p.parts)


def test_every_code_block_is_an_example_file_shown_with_its_output():
    examples = {p.stem for p in (DOCS / "examples").glob("*.py")}
    shown: set[str] = set()
    for page in _pages():
        text = page.read_text()
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S):
            if lang in ("sh", ""):
                continue
            lines = [line for line in body.splitlines() if line.strip()]
            assert lines and all(INCLUDE.match(line) for line in lines), (
                f"{page.name}: a {lang} block that is not an included example: {body[:80]!r}")
            for line in lines:
                kind, name, _ = INCLUDE.match(line).groups()  # type: ignore[union-attr]
                assert name in examples, f"{page.name} includes a missing example {name}"
                if kind == "examples":
                    assert f'--8<-- "docs/generated/{name}.txt"' in text, (
                        f"{page.name} shows {name}.py without its output")
                    shown.add(name)
    assert examples - shown <= {"readme_figure"}, f"examples on no page: {examples - shown}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of docs/ built the way `make docs` builds it: every example runs, then
    mkdocs --strict (broken links, references or snippets fail it)."""
    work = tmp_path_factory.mktemp("docs")
    shutil.copytree(DOCS, work / "docs", ignore=shutil.ignore_patterns("generated"))
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    (work / "src").symlink_to(ROOT / "src")
    r = subprocess.run([sys.executable, str(work / "docs" / "run_examples.py")],
                       capture_output=True, text=True, timeout=900, cwd=work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                        str(work / "mkdocs.yml"), "-d", str(work / "site")],
                       capture_output=True, text=True, timeout=600, cwd=work, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "WARNING" not in r.stderr, r.stderr[-3000:]
    return work / "site"


def test_pages_show_numbers_from_this_run(site):
    page = (site / "questions" / "xavier.html").read_text()
    assert "identical to torch.nn.init.xavier_uniform_: True" in page
    page = (site / "guides" / "sharded.html").read_text()
    assert "4 row shards == the single-process tensor: True" in page
    assert (site / "assets" / "variance_by_depth.png").stat().st_size > 20_000
    assert "initscope.rng" in (site / "reference" / "api.html").read_text()


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_formulas_become_mathml_at_build_time(site):
    """$...$ and $$...$$ are MathML in the built page (latex2mathml: no script, no web
    font, no network); code keeps its dollars."""
    page = (site / "questions" / "why-xavier-works.html").read_text()
    assert page.count("<math") >= 5 and 'display="block"' in page
    assert "\\operatorname" not in page and "$n_" not in page
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        from formulas import math_to_mathml
    finally:
        sys.path.remove(str(DOCS / "hooks"))
    assert math_to_mathml("`$x$` costs $5, not $y$").startswith("`$x$` costs $5, not <math")
    # a formula opening a line stays in its paragraph (not a raw-HTML block)
    assert math_to_mathml("a\n$1/m$ b").startswith("a\n&#8203;<math")


@pytest.mark.parametrize("page,figures,formulas", [
    ("index.html", 1, 1), ("questions/saturation.html", 0, 0), ("reference/api.html", 0, 0),
    ("questions/why-xavier-works.html", 1, 7), ("results/saturation/results.html", 1, 0)])
def test_pages_render_in_chromium_with_figures_and_a_clean_console(server, tmp_path, page,
                                                                   figures, formulas):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium must be installed in CI (make test installs it as root)")
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    r = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", "--dump-dom", f"{server}/{page}"],
        capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f'data-figures="{figures}" data-figures-ok="yes"' in r.stdout
    assert f'data-math="{formulas}" data-math-ok="yes"' in r.stdout
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
