"""What a user can break on disk ends in a message on the page, never a traceback.

Suites here are written by hand (no training): a manifest, and where needed a
tiny model, a map entry or a saved study.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dermviz.models.config import TrainConfig
from dermviz.models.suite import Suite, write_manifest
from tests.conftest import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
TIMEOUT = 120


def fake_suite(root: Path, name: str, **manifest) -> Suite:
    write_manifest(root / name, {"name": name, "members": [], "status": "complete",
                                 "config": TrainConfig(image_size=75).to_dict(),
                                 "dataset": {"name": "synthetic"}, **manifest})
    return Suite(root / name)


def messages(at: AppTest) -> str:
    return " ".join(e.value for e in [*at.error, *at.warning, *at.sidebar.warning])


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DERMVIZ_MODELS", str(tmp_path))
    return AppTest.from_file(HOME, default_timeout=TIMEOUT)


def test_a_stale_suite_name_falls_back_with_a_notice(home, tmp_path):
    fake_suite(tmp_path, "kept")
    home.session_state["suite_name"] = "deleted-since"
    home.run()
    assert not home.exception, home.exception
    assert "'deleted-since' is no longer" in messages(home)
    assert home.sidebar.selectbox[0].value == "kept"


def test_a_suite_deleted_after_listing_is_an_error_not_a_traceback(home, tmp_path):
    fake_suite(tmp_path, "a")
    home.run()
    assert not home.exception, home.exception
    shutil.rmtree(tmp_path / "a")  # the listing is cached for 30 s
    home.run()
    assert not home.exception, home.exception
    assert f"no suite at {tmp_path / 'a'}" in messages(home)


def _call_state(function: str, *args: object) -> AppTest:
    """Run one ``app.state`` function in a script, as a page would call it (with the
    suite as an object)."""

    def script(function: str, args: tuple[object, ...]) -> None:
        from app import state

        getattr(state, function)(*args)
        import streamlit as st

        st.success("returned")

    at = AppTest.from_function(script, args=(function, args), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_broken_member_file_stops_the_page_with_how_to_retrain(tmp_path):
    suite = fake_suite(tmp_path, "s", members=[{"id": "m00", "seed": 1}])
    suite.model_path("m00").parent.mkdir(parents=True)
    suite.model_path("m00").write_bytes(b"PK\x03\x04 truncated")
    at = _call_state("load_model", suite, "m00")
    assert not at.success
    [error] = at.error
    assert "member 'm00'" in error.value and "delete the folder" in error.value


def test_a_moved_data_folder_says_how_to_point_at_it(tmp_path, monkeypatch):
    monkeypatch.delenv("DERMVIZ_HAM10000", raising=False)
    gone = tmp_path / "old-ham"
    suite = fake_suite(tmp_path, "s", dataset={"source": {"kind": "ham10000", "root": str(gone)}})
    at = _call_state("load_dataset", suite)
    assert not at.success
    [error] = at.error
    assert str(gone) in error.value and "DERMVIZ_HAM10000" in error.value


def test_a_damaged_map_entry_is_reported_on_the_page(tmp_path):
    from dermviz.explain.cache import MapCache
    from dermviz.explain.maps import SaliencyMaps
    from dermviz.explain.precompute import default_params

    suite = fake_suite(tmp_path, "s")
    params = default_params(suite, "gradcam")
    maps = SaliencyMaps(method="gradcam", maps=np.zeros((1, 8, 8), np.float32),
                        target_class=np.ones(1, int), p_melanoma=np.full(1, 0.5, np.float32),
                        grid=(2, 2), params=params, extras={}, warnings=[])
    cache = MapCache.of(suite)
    cache.put("m00", ["img"], maps)
    path = cache.path("m00", "img", "gradcam", params)
    path.write_bytes(path.read_bytes()[:50])
    at = _call_state("stored_maps", suite, ("m00",), "img", "gradcam", params)
    assert at.success  # the page goes on: the map counts as not computed
    assert any(str(path) in w.value for w in at.warning)


def test_damaged_studies_are_listed_as_damaged_and_not_opened(tmp_path):
    suite = fake_suite(tmp_path, "s")
    folder = suite.path / "sanity" / "randomization-abc"
    folder.mkdir(parents=True)
    (folder / "study.json").write_text('{"format": 2, "kind": "rand')  # truncated
    at = _call_state("saved_studies", suite, ("randomization",))
    assert at.success
    assert any("study.json" in w.value and "damaged" in w.value for w in at.warning)
    at = _call_state("load_saved_study", str(folder), "")
    assert not at.success
    assert "study.json" in at.error[0].value


def test_studies_scored_by_an_earlier_version_are_left_out_with_a_notice(tmp_path, monkeypatch):
    from dermviz import api
    from dermviz.sanity import StudyInfo

    suite = fake_suite(tmp_path, "s")

    def info(name: str, outdated: bool) -> StudyInfo:
        return StudyInfo(folder=suite.path / "sanity" / name, kind="evaluation",
                         method="gradcam", members=("m00",), n_images=2, created="",
                         spec=None, outdated=outdated)

    monkeypatch.setattr(api, "saved_studies",
                        lambda suite, kinds: [info("evaluation-new", False),
                                              info("evaluation-old", True)])

    def script(suite: object) -> None:
        import streamlit as st

        from app import state

        st.success(", ".join(s.folder.name for s in state.saved_studies(suite, ("evaluation",))))

    at = AppTest.from_function(script, args=(suite,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert at.success[0].value == "evaluation-new"
    assert "1 saved study was scored by an earlier version" in at.info[0].value
