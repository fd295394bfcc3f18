"""A demo build's small sanity studies open the Layer randomization and Reproducibility &
variation pages on a result (dermviz.demo.prepare_sanity_examples, on a copy of the smoke
suite, with one randomization stage to stay cheap)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def examples_dir(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dermviz.demo import prepare_sanity_examples
    from dermviz.models.suite import Suite

    root = tmp_path_factory.mktemp("examples-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke",
                    ignore=shutil.ignore_patterns("sanity"))
    suite = Suite(root / "demo-smoke")
    studies = prepare_sanity_examples(
        suite, n_images=2, randomization={"study": "custom", "stages": ["head_dense"]})
    assert [s.kind for s in studies] == ["randomization", "cross_model"]
    # Asked again, both are read from the suite's cache.
    again = prepare_sanity_examples(
        suite, n_images=2, randomization={"study": "custom", "stages": ["head_dense"]})
    assert [a.spec.key() for a in again] == [s.spec.key() for s in studies]
    return root


def test_the_randomization_page_opens_on_the_builds_study(open_page, examples_dir):
    at = open_page(examples_dir, "randomization")
    assert not at.exception, at.exception
    saved = next(s for s in at.selectbox if s.label == "Saved study")
    assert any("gradcam · m00 · 2 images" in label for label in saved.options)
    assert len(at.get("plotly_chart")) >= 1


def test_the_variation_page_opens_on_the_builds_comparison(open_page, examples_dir):
    at = open_page(examples_dir, "variation")
    assert not at.exception, at.exception
    saved = next(s for s in at.selectbox if s.label == "Saved check")
    assert "cross_model-" in Path(saved.value).name
    assert len(at.get("plotly_chart")) >= 1
