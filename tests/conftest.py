"""Shared fixtures: one smoke-profile demo suite per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smoke_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the smoke demo suite (trained once per session)."""
    from dermviz.demo import run_demo

    root = tmp_path_factory.mktemp("models")
    run_demo(profile="smoke", out_dir=root / "demo-smoke", progress=False)
    return root


@pytest.fixture(scope="session")
def smoke_suite(smoke_models_dir: Path):
    from dermviz.models.suite import Suite

    return Suite(smoke_models_dir / "demo-smoke")
