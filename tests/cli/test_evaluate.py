"""``dermviz evaluate`` on the smoke suite's report card (the build's study, read from the
cache): its tables, the CSV export, and one-line errors that list the valid names."""

from __future__ import annotations

import pandas as pd

from dermviz.cli import main
from dermviz.models.suite import Suite
from tests.conftest import REPORT_OPTIONS


def test_evaluate_prints_the_report_card_and_exports_csv(
    smoke_models_dir, tmp_path, capsys, monkeypatch
):
    def no_load(self, member_id):  # noqa: ANN001, ANN202
        raise AssertionError("a cached study loaded a model")

    monkeypatch.setattr(Suite, "load_model", no_load)  # the build computed it
    args = [
        "--models-dir",
        str(smoke_models_dir),
        "evaluate",
        "--suite",
        "demo-smoke",
        "--methods",
        ",".join(REPORT_OPTIONS["methods"]),
        "--metrics",
        ",".join(REPORT_OPTIONS["metrics"]),
        "--images",
        str(REPORT_OPTIONS["n_images"]),
        "--members",
        ",".join(REPORT_OPTIONS["members"]),
        "--steps",
        str(REPORT_OPTIONS["metric_params"]["deletion"]["n_steps"]),
        "--bootstrap",
        "200",
        "--no-progress",
    ]
    csv = tmp_path / "card.csv"
    assert main([*args, "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "report card of gradcam on 4 hold-out images, 1 member(s)" in out
    assert "score_random" in out and "score_gaussian" in out and " [" in out  # intervals
    assert "per family" in out and "Not computed in this study: robustness" in out
    summary = pd.read_csv(csv)
    assert list(summary["metric"]) == REPORT_OPTIONS["metrics"]
    assert {"score_low", "score_high", "score_random", "passes"} <= set(summary.columns)
    rows = tmp_path / "rows.csv"
    assert main([*args, "--csv", str(rows), "--per-image"]) == 0
    assert len(pd.read_csv(rows)) == 4 * 4  # images x metrics


def test_unknown_names_are_one_line_errors_listing_the_valid_ones(smoke_models_dir, capsys):
    base = ["--models-dir", str(smoke_models_dir), "evaluate", "--suite", "demo-smoke"]
    assert main([*base, "--methods", "gradcam,shap"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dermviz: error: unknown method(s) ['shap']") and "layercam" in err
    assert main([*base, "--metrics", "aopc"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unknown metric(s) ['aopc']" in err and "max_sensitivity" in err
    assert main([*base, "--images", "0"]) == 2
