"""docs/api.md's code blocks run, in order, against the smoke demo suite; the API calls
the walk-through leaves out (sMPRT and eMPRT through ``dermviz.sanity_check``) run too."""

from __future__ import annotations

import math
import re

import numpy as np
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


def test_sanity_check_runs_smprt_and_emprt(smoke_suite):
    import dermviz
    from dermviz.sanity.checks import (
        EfficientRandomizationResult,
        EfficientRandomizationSpec,
        RandomizationResult,
        SmoothRandomizationSpec,
    )

    member = smoke_suite.member_ids[0]
    ids = [str(smoke_suite.dataset().holdout["image_id"].iloc[0])]
    # The cheapest designs: one image, GradCAM, the head block only, two noisy copies.
    options = {"member": member, "image_ids": ids, "layer_set": "blocks", "stages": ["head"]}

    smooth = dermviz.sanity_check(smoke_suite, "smprt", n_noisy=2, **options)
    assert isinstance(smooth, RandomizationResult) and smooth.kind == "smprt"
    assert isinstance(smooth.spec, SmoothRandomizationSpec) and smooth.spec.n_noisy == 2
    assert smooth.image_ids == ids and smooth.stage_names == ["original", "head"]
    assert smooth.maps.shape[:2] == (2, 1)
    original = smooth.table[(smooth.table["stage"] == 0) & (smooth.table["measure"] == "ssim")]
    assert original["value"].tolist() == pytest.approx([1.0])  # the map against itself

    efficient = dermviz.sanity_check(smoke_suite, "emprt", **options)
    assert isinstance(efficient, EfficientRandomizationResult) and efficient.kind == "emprt"
    assert isinstance(efficient.spec, EfficientRandomizationSpec)
    assert efficient.layers and efficient.maps.shape[:2] == (2, 1)
    scores = efficient.scores()
    assert scores["image_id"].tolist() == ids
    entropies = scores[["entropy_trained", "entropy_randomized"]].to_numpy()
    assert np.all((entropies >= 0) & (entropies <= math.log(efficient.spec.n_bins) + 1e-9))
    assert sorted(efficient.timings) == ["randomized", "trained"]

    # Asked again, both are read back from the suite's cache as they were computed.
    again = dermviz.sanity_check(smoke_suite, "emprt", **options)
    assert again.layers == efficient.layers and again.timings == efficient.timings
    np.testing.assert_array_equal(again.maps, efficient.maps)
    assert sorted(again.baselines) == sorted(efficient.baselines)
    assert dermviz.sanity_check(smoke_suite, "smprt", n_noisy=2, **options).stage_names == [
        "original", "head"]
