"""Light start: opening a suite, reading metrics and cached maps, `dermviz info` and
`dermviz --help` import no TensorFlow, Keras, tf-keras-vis or shap.

Each check runs in a fresh interpreter (this test process may have imported
TensorFlow already) on a suite written from files alone: no model is trained.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dermviz.explain.cache import MapCache
from dermviz.explain.maps import SaliencyMaps
from tests.conftest import REPO_ROOT

HEAVY = ("tensorflow", "keras", "tf_keras_vis", "shap")
IMAGE_ID = "syn_0001"


@pytest.fixture(scope="module")
def fake_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one suite written by hand: manifest, member files, one map."""
    root = tmp_path_factory.mktemp("models")
    path = root / "tiny"
    holdout = {"auc": 0.75, "accuracy": 0.5, "sensitivity": 1.0, "specificity": 0.0,
               "threshold": 0.4}
    members = [{"id": "m00", "seed": 0, "threshold": 0.4, "holdout": holdout, "val_auc": 0.7}]
    manifest = {
        "name": "tiny", "status": "complete", "members": members,
        "config": {"image_size": 75, "gradcam_layer": "mixed5"},
        "dataset": {"name": "synthetic", "source": {"kind": "synthetic", "config": {}}},
    }
    member_dir = path / "members" / "m00"
    member_dir.mkdir(parents=True)
    (path / "suite.json").write_text(json.dumps(manifest))
    (member_dir / "member.json").write_text(json.dumps(members[0]))
    (member_dir / "holdout_predictions.csv").write_text(
        f"image_id,test_index,y,p_melanoma,predicted\n{IMAGE_ID},0,1,0.8,1\n"
    )
    maps = SaliencyMaps(
        method="gradcam", maps=np.full((1, 75, 75), 0.5, np.float32),
        target_class=np.array([1]), p_melanoma=np.array([0.8], np.float32), grid=(4, 4),
        params={"layer": "mixed5"},
    )
    MapCache(path / "maps").put("m00", [IMAGE_ID], maps)
    return root


def run_fresh(code: str, models: Path) -> None:
    """Run ``code`` in a fresh interpreter, then fail if it imported a heavy module."""
    check = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        assert not heavy, f"imported {{heavy}}"
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    ), "DERMVIZ_MODELS": str(models)}
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            env=env, timeout=120, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]


def test_reading_a_suite_and_its_cached_maps_imports_no_tensorflow(fake_models):
    run_fresh(f"""
        import dermviz
        from dermviz.explain import available_methods, get_explainer
        from dermviz.explain.cache import MapCache
        from dermviz.explain.precompute import default_params
        from dermviz.models.suite import Suite, list_suites

        suite = Suite({str(fake_models / "tiny")!r})
        assert [s.name for s in list_suites({str(fake_models)!r})] == ["tiny"]
        assert suite.member_ids == ["m00"] and suite.threshold("m00") == 0.4
        assert suite.metrics_table()["auc"].tolist() == [0.75]
        assert suite.predictions("m00")["image_id"].tolist() == [{IMAGE_ID!r}]
        assert {{"gradcam", "kernelshap"}} <= set(available_methods())
        assert get_explainer("kernelshap").display_name == "KernelSHAP"
        params = default_params(suite, "gradcam")
        assert params == {{"layer": "mixed5"}}
        hit = MapCache.of(suite).get("m00", {IMAGE_ID!r}, "gradcam", params)
        assert hit is not None and hit.maps.shape == (1, 75, 75) and hit.grid == (4, 4)
    """, fake_models)


def test_the_api_reads_a_suite_and_its_stored_maps_without_tensorflow(fake_models):
    # What the dashboard does before any map is computed.
    run_fresh(f"""
        from dermviz import api

        assert api.suite_names({str(fake_models)!r}) == ["tiny"]
        suite = api.open_suite(api.suite_path({str(fake_models)!r}, "tiny"))
        assert api.suite_stamp(suite) > 0
        params = api.method_defaults(suite, "gradcam")
        found = api.stored_maps(suite, ["m00"], {IMAGE_ID!r}, method="gradcam", params=params)
        assert found["m00"] is not None and found["m00"].grid == (4, 4)
        assert api.saliency_map(suite, "m00", {IMAGE_ID!r}, method="gradcam",
                                params=params).maps.shape == (1, 75, 75)  # a store hit
    """, fake_models)


@pytest.mark.parametrize("argv", [["--help"], ["info"], ["info", "--suite", "tiny"]])
def test_cli_help_and_info_import_no_tensorflow(fake_models, argv):
    run_fresh(f"""
        import contextlib, io
        from dermviz.cli import main

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                code = main({argv!r})
            except SystemExit as exc:  # --help exits
                code = exc.code
        assert code == 0, code
        assert "tiny" in out.getvalue() or "explain" in out.getvalue(), out.getvalue()
    """, fake_models)
