"""The lean install: base requirements without torch or ray, extras pinned, lazy imports."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from tests.conftest import REPO_ROOT

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
OPTIONAL = {"torch", "ray"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement line (``ray[default]==2`` -> ``ray``)."""
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins(path) -> dict[str, str]:
    """``{name: version}`` of the ``name==version`` lines of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            assert "==" in line, f"{path.name}: {line!r} is not pinned"
            pins[_name(line)] = line.split("==", 1)[1].strip()
    return pins


def test_base_requirements_and_dependencies_have_no_torch_or_ray():
    base = _pins(REPO_ROOT / "requirements.txt")
    deps = {_name(d) for d in PYPROJECT["project"]["dependencies"]}
    assert not OPTIONAL & set(base) and not OPTIONAL & deps
    assert deps <= set(base), f"unpinned base dependencies: {sorted(deps - set(base))}"


def test_every_extra_is_pinned_in_requirements_extra():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"search", "ray", "test", "bench", "all"} <= set(extras)
    assert extras["all"] == ["dermviz[search,ray,test,bench]"]
    extra_file = REPO_ROOT / "requirements-extra.txt"
    assert "-r requirements.txt" in extra_file.read_text()
    pinned = _pins(extra_file)
    wanted = {_name(r) for key in ("search", "ray", "test", "bench")
              for r in extras[key]}
    assert wanted == set(pinned)
    assert "torch" in {_name(r) for r in extras["search"]}
    assert "ray" in {_name(r) for r in extras["ray"]}
    assert pinned["import-linter"] == "2.16"


# Imports every dermviz module and the dashboard's state module with torch and ray made
# unimportable, then checks neither was loaded: both must be imported lazily.
_BLOCKED_IMPORTS = """
import importlib, importlib.abc, pkgutil, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "ray"}:
            raise ImportError(f"blocked for the test: {name}")
sys.meta_path.insert(0, Block())
import dermviz
for mod in pkgutil.walk_packages(dermviz.__path__, "dermviz."):
    if not mod.name.endswith("__main__"):  # that one runs the CLI
        importlib.import_module(mod.name)
import app.state
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "ray"})
assert not loaded, loaded
from dermviz.models import search
assert not search.gp_available()
print("ok")
"""


def test_dermviz_imports_without_torch_or_ray():
    done = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORTS], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_missing_torch_warning_points_at_the_extra(monkeypatch):
    from dermviz.models import search

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.warns(RuntimeWarning, match=r"`search` extra.*download\.pytorch\.org/whl/cpu"):
        _sampler, used = search.make_sampler("gp", seed=0, n_startup_trials=2)
    assert used == "tpe (gp unavailable)"


def test_missing_ray_error_points_at_the_extra(monkeypatch):
    from dermviz.models.backends import RayBackend

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RuntimeError, match=r"`ray` extra"):
        RayBackend().start()


def test_bench_install_counts_regular_files_and_hard_links_once(tmp_path):
    from benchmarks.bench_install import tree_size

    (tmp_path / "a").write_bytes(b"x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 30)
    (tmp_path / "hard").hardlink_to(tmp_path / "a")
    (tmp_path / "soft").symlink_to(tmp_path / "sub" / "b")
    assert tree_size(tmp_path) == 130
