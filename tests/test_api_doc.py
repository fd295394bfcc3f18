"""docs/api.md's code blocks run, in order, against the smoke demo suite."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_doc_has_examples():
    assert len(python_blocks(DOC.read_text())) >= 5


def test_api_doc_runs(smoke_models_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("DERMVIZ_MODELS", str(smoke_models_dir))
    monkeypatch.chdir(tmp_path)  # the walk-through writes a CSV
    namespace: dict = {}
    for k, block in enumerate(python_blocks(DOC.read_text())):
        try:
            exec(compile(block, f"docs/api.md block {k + 1}", "exec"), namespace)  # noqa: S102
        except Exception as err:  # show which block broke
            pytest.fail(f"docs/api.md block {k + 1} failed: {type(err).__name__}: {err}\n{block}")
    assert (tmp_path / "members.csv").is_file()
