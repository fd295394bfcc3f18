"""The tidy predictions table read from a suite folder (written by hand here)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from dermviz.analysis.errors import member_summary
from dermviz.analysis.predictions import PREDICTION_COLUMNS, predictions_table
from dermviz.models.suite import Suite, write_manifest


def write_fake_suite(path, members):
    """A suite folder with stored hold-out predictions only (no models)."""
    entries = []
    for mid, (threshold, p) in members.items():
        folder = path / "members" / mid
        folder.mkdir(parents=True)
        pd.DataFrame({"image_id": ["b", "a"], "test_index": [1, 0], "y": [0, 1],
                      "p_melanoma": p, "predicted": [int(v >= threshold) for v in p]}).to_csv(
            folder / "holdout_predictions.csv", index=False)
        entries.append({"id": mid, "seed": 0, "threshold": threshold, "holdout": {}})
    write_manifest(path, {"name": path.name, "config": {"image_size": 75}, "dataset": {},
                          "members": entries, "status": "complete"})
    return Suite(path)


def test_predictions_table_from_suite(tmp_path):
    suite = write_fake_suite(tmp_path / "s", {"m00": (0.4, [0.3, 0.6]), "m01": (0.7, [0.8, 0.5])})
    table = predictions_table(suite)
    assert list(table.columns) == [*PREDICTION_COLUMNS, "test_index"]
    assert table["member"].tolist() == ["m00", "m00", "m01", "m01"]
    assert table["image_id"].tolist() == ["a", "b", "a", "b"]  # by test_index
    assert table["threshold"].tolist() == [0.4, 0.4, 0.7, 0.7]
    summary = member_summary(table).set_index("member")
    assert summary.loc["m00", ["tp", "tn"]].tolist() == [1, 1]
    assert summary.loc["m01", ["fn", "fp"]].tolist() == [1, 1]


def test_empty_suite_gives_empty_table(tmp_path):
    table = predictions_table(write_fake_suite(tmp_path / "e", {}))
    assert table.empty and list(table.columns) == [*PREDICTION_COLUMNS, "test_index"]


def heavy_modules_after_import(*modules: str) -> list[str]:
    code = (f"import sys, {', '.join(modules)}; "
            "print(' '.join(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_clinician_tables_stay_light():
    """The tables are read on every page rerun: they must not import TensorFlow/Keras."""
    assert heavy_modules_after_import(
        "dermviz.analysis.predictions", "dermviz.analysis.errors", "dermviz.analysis.agreement",
        "dermviz.analysis.calibration", "dermviz.analysis.retrieval", "dermviz.analysis.report",
        "dermviz.data.upload") == []


def test_cached_embeddings_and_thumbnails_stay_light():
    assert heavy_modules_after_import("dermviz.data.thumbnails", "dermviz.models.embed") == []
