"""The Compare suites page through AppTest: two suites on one hold-out, and a refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dermviz.analysis.suite_comparison import compare_suites
from dermviz.models.suite import MANIFEST, Suite, write_manifest
from dermviz.store import read_json
from tests.conftest import REPO_ROOT
from tests.helpers import write_prediction_suite

HOME = str(REPO_ROOT / "app" / "Home.py")
PAGE = str(REPO_ROOT / "app" / "views" / "compare.py")


@pytest.fixture(scope="module")
def two_suites(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke suite and a copy named "other" whose members predict differently (and
    keep the copied GradCAM maps)."""
    root = tmp_path_factory.mktemp("compare-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke")
    other = root / "other"
    shutil.copytree(smoke_models_dir / "demo-smoke", other)
    manifest = read_json(other / MANIFEST)
    manifest["name"] = "other"
    write_manifest(other, manifest)
    rng = np.random.default_rng(0)
    for member in Suite(other).member_ids:
        path = other / "members" / member / "holdout_predictions.csv"
        preds = pd.read_csv(path)
        preds["p_melanoma"] = rng.uniform(size=len(preds))  # a much worse suite
        preds.to_csv(path, index=False)
    return root


def _open(monkeypatch: pytest.MonkeyPatch, models: Path) -> AppTest:
    monkeypatch.setenv("DERMVIZ_MODELS", str(models))
    return AppTest.from_file(HOME, default_timeout=120).switch_page(PAGE).run()


def test_compare_page_renders_two_suites(monkeypatch, two_suites):
    at = _open(monkeypatch, two_suites)
    assert not at.exception, at.exception
    first, second = at.selectbox(key="compare_first").value, at.selectbox(
        key="compare_second").value
    assert {first, second} == {"demo-smoke", "other"}
    expected = compare_suites(Suite(two_suites / first), Suite(two_suites / second))
    metrics = {m.label: m.value for m in at.metric}
    for name, mean in zip(expected.names, expected.difference["mean_auc"], strict=True):
        assert metrics[f"{name}: mean member AUC"] == f"{mean:.3f}"
    assert metrics[f"AUC difference ({second} - {first})"] == (
        f"{expected.difference['auc_difference']:+.3f}")
    # AUC, errors, calibration and the lesion mass (both suites have stored maps).
    assert len(at.get("plotly_chart")) == 4
    assert set(expected.lesion_mass["suite"]) == {first, second}
    # Swapping the suites redraws.
    at.selectbox(key="compare_first").set_value(second).run()
    assert not at.exception, at.exception


def test_compare_page_refuses_suites_of_different_holdouts(monkeypatch, smoke_models_dir,
                                                           tmp_path):
    shutil.copytree(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke")
    write_prediction_suite(tmp_path / "elsewhere", y=[1, 0],
                           members={"m00": (0.5, [0.9, 0.1])})
    at = _open(monkeypatch, tmp_path)
    assert not at.exception, at.exception
    assert any("cannot be compared" in e.value and "different hold-out" in e.value
               for e in at.error)
    assert not at.get("plotly_chart")


def test_compare_page_with_one_suite_explains(monkeypatch, tmp_path):
    write_prediction_suite(tmp_path / "only", y=[1, 0], members={"m00": (0.5, [0.9, 0.1])})
    at = _open(monkeypatch, tmp_path)
    assert not at.exception, at.exception
    assert any("two suites" in i.value for i in at.info)
