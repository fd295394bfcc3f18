"""Security rules checked on the source: no unpickling, Keras safe mode, no raw HTML.

Each rule walks the syntax tree of every module in ``dermviz/`` and ``app/``, so
a new module or page is covered without changing this file. The behaviour
behind the rules is tested where it lives (a Lambda layer refused:
tests/models/test_suite.py; names confined to a root: tests/store/test_paths.py;
upload limits: tests/data/test_upload.py; localhost only:
tests/test_streamlit_config.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = ("dermviz", "app")
#: Modules that unpickle on load (or exist to): never imported.
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
              "marshal"}
#: Calls that unpickle or run code from data, wherever they come from.
UNSAFE_CALLS = {"read_pickle", "torch.load", "eval", "exec", "enable_unsafe_deserialization"}


def sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (REPO_ROOT / pkg).rglob("*.py"))


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain; ``""`` for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def calls(path: Path) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node, dotted(node.func)


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO_ROOT)}:{node.lineno}"


def test_the_scans_see_the_sources():
    files = sources(*PACKAGES)
    assert len(files) > 50 and REPO_ROOT / "app" / "state.py" in files


def test_nothing_is_unpickled():
    found = []
    for path in sources(*PACKAGES):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{where(path, node)} imports {n}" for n in names
                      if n.split(".")[0] in UNPICKLERS]
        for call, name in calls(path):
            if name in UNSAFE_CALLS or name.split(".")[-1] in UNSAFE_CALLS - {"eval", "exec"}:
                found.append(f"{where(path, call)} calls {name}")
            allow = keyword(call, "allow_pickle")
            if name.split(".")[-1] == "load" and name.split(".")[0] in ("np", "numpy"):
                if not is_constant(allow, False):
                    found.append(f"{where(path, call)}: {name} without allow_pickle=False")
            elif allow is not None and not is_constant(allow, False):
                found.append(f"{where(path, call)}: allow_pickle is not False")
    assert found == []


#: The one load with safe mode off, for a file the user trusts (``dermviz import
#: --trust-model-code``): ``dermviz.models.external.load_trusted``.
TRUSTED_LOADER = Path("dermviz") / "models" / "external.py"


def test_models_load_only_in_keras_safe_mode():
    found, loads, trusted = [], 0, 0
    for path in sources(*PACKAGES):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                ("keras", "tensorflow", "tf_keras")
            ) and any(a.name == "load_model" for a in node.names):
                found.append(f"{where(path, node)} imports load_model (call keras.* with "
                             "safe_mode=True instead)")
        for call, name in calls(path):
            if is_constant(keyword(call, "safe_mode"), False):
                if path.relative_to(REPO_ROOT) == TRUSTED_LOADER:
                    trusted += 1
                    continue
                found.append(f"{where(path, call)}: safe_mode=False")
            if name.endswith("load_model") and name.split(".")[0] in ("keras", "tf", "tf_keras"):
                loads += 1
                if not is_constant(keyword(call, "safe_mode"), True):
                    found.append(f"{where(path, call)}: {name} without safe_mode=True")
    assert found == []
    assert loads >= 1  # the scan sees the loader (dermviz/models/inception.py)
    assert trusted == 1  # exactly one unsafe load: the trusted loader's


@pytest.mark.parametrize("rule", ["unsafe_allow_html", "html"])
def test_no_data_is_rendered_as_raw_html(rule):
    """Raw HTML only from string constants in the code, never from data (names, metadata)."""
    found = []
    for path in sources("app"):
        for call, name in calls(path):
            first = call.args[0] if call.args else keyword(call, "body")
            if rule == "unsafe_allow_html":
                flag = keyword(call, "unsafe_allow_html")
                raw = flag is not None and not is_constant(flag, False)
            else:
                raw = name.split(".")[-1] == "html"  # st.html, components.html
            if raw and not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                found.append(f"{where(path, call)}: {name} renders non-constant HTML")
    assert found == []
