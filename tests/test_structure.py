"""The structure drawn from the imports (issue 15): no import cycles between initscope's
modules (any import counts: module level, inside a function, or for type checking),
and the lower layers import nothing above them: ``_core`` is NumPy/SciPy only, the
mean-field ``theory`` imports no torch-model code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "initscope"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The initscope modules ``name`` imports (a package's submodule when it names one)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {t for t in out if t in modules and t != name}


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


def test_core_and_theory_import_nothing_above_them():
    allowed = ("initscope._core", "initscope.theory", "initscope._gain")
    for name, targets in GRAPH.items():
        if name.startswith(("initscope._core", "initscope.theory")):
            above = sorted(t for t in targets if not t.startswith(allowed))
            assert above == [], f"{name} imports {above}"
        if name.startswith("initscope._core"):
            assert all(t.startswith("initscope._core") for t in targets), (name, targets)


def test_the_api_reference_documents_public_modules_only():
    api = (SRC.parent / "docs" / "reference" / "api.md").read_text()
    documented = [line.split(":::", 1)[1].strip() for line in api.splitlines()
                  if line.startswith(":::")]
    assert documented and all(not part.startswith("_") for path in documented
                              for part in path.split(".")), documented


def test_the_face_is_small_and_every_name_resolves():
    import initscope

    assert len(initscope.__all__) <= 20
    for name in initscope.__all__:
        assert getattr(initscope, name) is not None


# --- one formula (issue 15, item 1) -----------------------------------------------------

_MODEL = Path(__file__).resolve().parents[1] / "src" / "initscope" / "model"


def _std_arithmetic(path: Path) -> list[str]:
    """Calls of sqrt and powers -1/2 / -1/4 in code (not docstrings or comments)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "sqrt":
            found.append(f"{path.name}:{node.lineno} sqrt")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            found.append(f"{path.name}:{node.lineno} **")
    return found


def test_policies_and_recipes_compute_no_std_of_their_own():
    """Every std a built-in scheme or recipe samples comes from _core (VarianceScaling and
    the named factors of _core.schemes); the one sqrt left is the he scheme's reported
    gain, sqrt(2), not a std."""
    found = _std_arithmetic(_MODEL / "policies.py") + _std_arithmetic(_MODEL / "recipes.py")
    assert [f.split(":")[0] + " " + f.split(" ")[1] for f in found] == ["policies.py sqrt"], found


def test_the_checker_sees_std_arithmetic(tmp_path):
    p = tmp_path / "m.py"
    p.write_text('"""sqrt(x) in a docstring"""\nimport math\nstd = 1 / math.sqrt(3)\n'
                 "b = 2 ** -0.5  # and here\n")
    assert sorted(_std_arithmetic(p)) == ["m.py:3 sqrt", "m.py:4 **"]


# --- performance machinery in its room (issue 15, item 6) -------------------------------

_SRC = Path(__file__).resolve().parents[1] / "src" / "initscope"
_MACHINERY = {
    # what: (the one module allowed to hold it, the words that mean it)
    "caches": ("_core/_cache.py", ("lru_cache", "functools.cache", "@cache")),
    "threads": ("_threads.py", ("ThreadPoolExecutor", "set_num_threads", "threading.Thread(")),
}


@pytest.mark.parametrize("what", sorted(_MACHINERY))
def test_performance_machinery_lives_in_one_module(what):
    home, words = _MACHINERY[what]
    holders = sorted(str(p.relative_to(_SRC)) for p in _SRC.rglob("*.py")
                     if any(w in _code_only(p) for w in words))
    assert holders == [home], holders


def _code_only(path: Path) -> str:
    """The source without comments and docstrings (they may name the machinery)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(getattr(body[0], "value", None), ast.Constant):
            body[0].value.value = ""
    return ast.unparse(tree)
