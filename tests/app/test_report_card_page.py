"""The Report card page: the demo build's study as a table per member, with its baselines,
intervals and the best method per family; one image's curves beside its map; CSV export."""

from __future__ import annotations

import shutil

from tests.helpers import share_suite


def _texts(at) -> str:  # noqa: ANN001 - AppTest
    return " ".join(m.value for m in at.markdown) + " ".join(i.value for i in at.info)


def test_the_demo_builds_study_is_shown_with_baselines_and_the_best_marked(
    smoke_models_dir, open_page
):
    at = open_page(smoke_models_dir, "report_card")
    assert not at.exception, at.exception
    assert at.title[0].value == "Report card"
    grid, table = at.dataframe[0].value, at.dataframe[1].value
    assert set(grid.columns) >= {"method", "faithfulness", "complexity"}
    assert "gradcam" in set(grid["method"])
    # every score beside its interval and both baselines
    assert {"score", "95% interval", "random map", "centred Gaussian", "passes"} <= set(
        table.columns
    )
    assert table["random map"].notna().all() and table["centred Gaussian"].notna().all()
    # one best method per family (or tied ones), marked in both tables
    assert (table["best in family"] == "★").any()
    assert grid[["faithfulness", "complexity"]].apply(lambda c: c.str.contains("★").any()).all()
    # the sentences say what passes, and that robustness was not computed
    text = _texts(at)
    assert "robustness" in text and ("passes" in text or "passing" in text)
    assert at.get("download_button")
    # the drill-down: the map and the deletion and insertion curves with their baselines
    assert at.get("imgs") or at.get("image")
    [chart] = at.get("plotly_chart")
    names = {trace["name"] for trace in __import__("json").loads(chart.proto.spec)["data"]}
    assert {"deletion: method", "deletion: random map", "insertion: centred Gaussian"} <= names


def test_a_suite_without_a_study_says_how_to_run_one(smoke_models_dir, open_page, tmp_path):
    suite = share_suite(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke")
    shutil.rmtree(suite / "sanity", ignore_errors=True)
    at = open_page(tmp_path, "report_card")
    assert not at.exception, at.exception
    assert "dermviz evaluate --suite demo-smoke" in _texts(at)
    assert not at.dataframe
    assert at.button(key="rc_run")  # the run panel is offered
