"""Fixtures of the confounder tests: copies of the session's smoke suite (these tests cache
baselines and counterfactuals in the suite folder), one with a made-up ``dx_type``."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def confound_models(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a copy of the smoke suite."""
    root = tmp_path_factory.mktemp("confound-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke")
    return root


def add_dx_type(dataset):
    """The synthetic data set with HAM10000's ``dx_type``: every melanoma ``histo``; naevi
    ``histo`` and ``follow_up`` in turn, so both classes have histo-confirmed images."""
    table = dataset.table.copy()
    naevi = np.flatnonzero(table["y"].to_numpy() == 0)
    dx_type = np.array(["histo"] * len(table), dtype=object)
    dx_type[naevi[1::2]] = "follow_up"
    table["dx_type"] = dx_type
    return dataclasses.replace(dataset, table=table)


@pytest.fixture
def histo_models(smoke_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> Path:
    """A copy of the smoke suite whose data set records ``dx_type`` (patched into every
    suite opened while the test runs)."""
    shutil.copytree(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke")
    patch_dx_type(monkeypatch)
    return tmp_path


def patch_dx_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every suite opened from now on (in this test) gets :func:`add_dx_type`."""
    import dermviz.models.suite as suite_module

    opened = suite_module.open_dataset
    monkeypatch.setattr(suite_module, "open_dataset",
                        lambda info, **kw: add_dx_type(opened(info, **kw)))
