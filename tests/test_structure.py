"""The structure drawn from the imports (issue 15): no import cycles between initscope's
modules (any import counts: module level, inside a function, or for type checking),
and the lower layers import nothing above them: ``_core`` is NumPy/SciPy only, the
mean-field ``theory`` imports no torch-model code."""

from __future__ import annotations

import ast
from pathlib import Path

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
