"""dermviz.models imports only downward (data, store) and has no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "dermviz" / "models"
# dermviz._version: a leaf holding only the version string, importable from anywhere.
ALLOWED_OUTSIDE = ("dermviz.data", "dermviz.store", "dermviz._version")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """dermviz modules imported anywhere in the file (module or function level)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "dermviz" or n.startswith("dermviz.")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_models_import_only_lower_layers():
    bad = {
        (module, target)
        for module, targets in _graph().items() for target in targets
        if not target.startswith("dermviz.models")
        and target != "dermviz" and not target.startswith(ALLOWED_OUTSIDE)
    }
    assert not bad, f"dermviz.models imports from above its layer: {sorted(bad)}"


def test_no_import_cycles_in_models():
    graph = _graph()
    internal = {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(internal[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(internal):
        if module not in state:
            visit(module)
