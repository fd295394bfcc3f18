"""Pages built on the suite's stored maps: the browser's "GradCAM misses the lesion"
filter and the Case page's consensus over members, through AppTest on the smoke suite."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from dermviz.analysis.browse import LesionFilter, lesion_table
from dermviz.analysis.lesion_localization import join_localization, suite_localization
from tests.app.pages import card_ids


@pytest.fixture(scope="module")
def hitting_models(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> tuple[Path, list[str]]:
    """A copy of the smoke suite where every member's GradCAM map of three images is the
    lesion mask itself (the barely trained smoke members' maps miss every lesion)."""
    from dermviz.explain.cache import MapCache
    from dermviz.explain.maps import SaliencyMaps
    from dermviz.explain.precompute import default_params
    from dermviz.models.suite import Suite

    root = tmp_path_factory.mktemp("hitting-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke")
    suite = Suite(root / "demo-smoke")
    dataset = suite.dataset()
    ids = [str(i) for i in dataset.holdout["image_id"].iloc[:3]]
    masks = dataset.load_masks(ids, size=suite.image_size).astype(np.float32)
    maps = SaliencyMaps(method="gradcam", maps=masks, target_class=np.ones(3, int),
                        p_melanoma=np.full(3, 0.5, np.float32), grid=None,
                        params=default_params(suite, "gradcam"))
    for member in suite.member_ids:
        MapCache.of(suite).put(member, ids, maps)
    return root, ids


def test_browser_filter_on_maps_that_miss_the_lesion(open_page, hitting_models):
    from dermviz.models.suite import Suite

    models, hits = hitting_models
    suite = Suite(models / "demo-smoke")
    dataset = suite.dataset()
    table = join_localization(lesion_table(suite, dataset=dataset),
                              suite_localization(suite, dataset=dataset))
    assert (table["gradcam_maps"] == len(suite.member_ids)).all()  # the demo stored them
    assert not table.set_index("image_id").loc[hits, "gradcam_misses"].any()
    at = open_page(models, "browser")
    assert not at.exception, at.exception
    box = at.checkbox(key="browser_misses_lesion")
    assert not box.disabled and box.value is False
    default = LesionFilter().apply(table)["image_id"].tolist()
    box.set_value(True).run()
    assert not at.exception, at.exception
    missing = LesionFilter(misses_lesion=True).apply(table)["image_id"].tolist()
    assert missing != default and not set(hits) & set(missing)
    assert card_ids(at) == missing[:24]
    assert at.query_params["misses_lesion"] == "1"
    again = open_page(models, "browser", misses_lesion="1")  # a shared link
    assert again.checkbox(key="browser_misses_lesion").value is True
    assert card_ids(again) == card_ids(at)


def test_browser_without_stored_maps_disables_the_filter(open_page, smoke_models_dir,
                                                         tmp_path):
    shutil.copytree(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke",
                    ignore=shutil.ignore_patterns("maps"))
    at = open_page(tmp_path, "browser", misses_lesion="1")
    assert not at.exception, at.exception
    assert at.checkbox(key="browser_misses_lesion").disabled
    assert any("misses_lesion" in w.value for w in at.warning)
    assert any("dermviz explain" in c.value for c in at.caption)
    assert card_ids(at)  # the filter was ignored, the grid still shows


@pytest.fixture(scope="module")
def shap_models(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the smoke suite with stored KernelSHAP maps of one image for two members,
    and its stored GradCAM maps of that image replaced by random ones: a smoke member can
    train to a constant output on some CPU kinds, whose flat map no consensus takes."""
    from dermviz.explain.cache import MapCache
    from dermviz.explain.maps import SaliencyMaps
    from dermviz.explain.precompute import default_params
    from dermviz.models.suite import Suite

    root = tmp_path_factory.mktemp("consensus-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke")
    suite = Suite(root / "demo-smoke")
    image_id = str(suite.dataset().holdout["image_id"].iloc[2])
    rng = np.random.default_rng(0)
    for member in suite.member_ids[:2]:
        signed = rng.normal(size=(1, suite.image_size, suite.image_size)).astype(np.float32)
        MapCache.of(suite).put(member, [image_id], SaliencyMaps(
            method="kernelshap", maps=signed, target_class=np.array([1]),
            p_melanoma=np.array([0.6], np.float32), grid=None,
            params=default_params(suite, "kernelshap")))
    cache, params = MapCache.of(suite), default_params(suite, "gradcam")
    for member in suite.member_ids:
        stored = cache.get(member, image_id, "gradcam", params)
        cam = rng.uniform(size=stored.maps.shape).astype(np.float32)
        cache.put(member, [image_id], dataclasses.replace(stored, maps=cam / cam.max()))
    return root


def test_case_page_shows_the_consensus_of_all_members(open_page, shap_models):
    from dermviz import api
    from dermviz.explain.cache import MapCache
    from dermviz.explain.consensus import map_consensus
    from dermviz.explain.precompute import default_params
    from dermviz.models.suite import Suite

    suite = Suite(shap_models / "demo-smoke")
    image_id = str(suite.dataset().holdout["image_id"].iloc[2])
    at = open_page(shap_models, "case", image=image_id)
    assert not at.exception, at.exception
    # members no better than chance on the hold-out (smoke members often are) are named
    expected = api.chance_sentence(api.statistics(suite)["members"])
    said = [w.value for w in at.warning if "no better than chance" in w.value]
    assert said == ([expected] if expected else [])
    captions = {c for img in at.get("image") for c in img.captions}
    for method in ("GradCAM", "KernelSHAP"):
        assert {f"{method} mean over members", f"{method} spread over members",
                f"{method} disagreement"} <= captions
    # The numbers shown are those of all members' stored maps.
    cache = MapCache.of(suite)
    params = default_params(suite, "gradcam")
    stack = np.stack([cache.get(m, image_id, "gradcam", params).maps[0]
                      for m in suite.member_ids])
    expected = map_consensus(stack, signed=False, members=suite.member_ids).summary()
    text = next(m.value for m in at.markdown if m.value.startswith("**GradCAM**, "))
    assert f"{expected['members']} members" in text
    shown = float(re.search(r"mean Spearman (-?[\d.]+|nan)", text).group(1))
    assert shown == pytest.approx(expected["mean_spearman"], abs=0.006, nan_ok=True)
    shap_text = next(m.value for m in at.markdown if m.value.startswith("**KernelSHAP**, "))
    assert "2 members" in shap_text
