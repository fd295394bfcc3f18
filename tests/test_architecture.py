"""The import contracts of ``[tool.importlinter]`` in pyproject.toml hold (``lint-imports``).

Layers import only downward (cli > api > demo | background > sanity | analysis >
evaluation > explain > models > data > store; the sanity runner runs the evaluation
metrics' report-card studies), the dashboard imports no command-line
module, the dashboard reaches dermviz only through dermviz.api (and the overlay
renderer), dermviz never imports the dashboard, and there is no import cycle: not between
dermviz's packages, nor inside any of them (explain, store, data, analysis, sanity,
models, evaluation, api, cli).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def lint_imports_command() -> list[str]:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: pip install import-linter (the test extra)")
    return [found]


def test_import_contracts_are_kept():
    # This checkout first on the path, so grimp analyses it and not an installed copy.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )}
    result = subprocess.run([*lint_imports_command(), "--no-cache", "--no-logo"],
                            capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
