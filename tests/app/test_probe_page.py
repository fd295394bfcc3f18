"""The Shortcut probe page: the artefact story on a smoke probe suite, and the
outside-the-lesion view on a suite without artefacts (the session's smoke demo suite)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

HOME = str(REPO_ROOT / "app" / "Home.py")
PAGE = str(REPO_ROOT / "app" / "views" / "probe.py")
TIMEOUT = 300  # the first run imports TensorFlow; maps come from the store


def open_page(monkeypatch: pytest.MonkeyPatch, models_dir) -> AppTest:
    monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
    at = AppTest.from_file(HOME, default_timeout=TIMEOUT)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_page_is_registered() -> None:
    assert "views\" / \"probe.py\"" in (REPO_ROOT / "app" / "Home.py").read_text()


@pytest.mark.timeout(2400)  # the fixture trains; slow on a loaded 2-core CPU
def test_probe_page_tells_the_ink_story(monkeypatch, smoke_probe_models_dir,
                                        smoke_probe_suite) -> None:
    at = open_page(monkeypatch, smoke_probe_models_dir)
    assert at.title[0].value == "Shortcut probe"
    assert "plain training" in " ".join(c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 2  # accuracy with/without ink; shares vs chance
    images = at.get("image")
    assert 1 <= len(images) <= 4
    at.selectbox(key="probe_member").set_value(smoke_probe_suite.member_ids[1]).run()
    assert not at.exception


@pytest.mark.timeout(2400)  # the fixture trains; slow on a loaded 2-core CPU
def test_probe_page_measures_at_the_chosen_gradcam_layer(monkeypatch, smoke_probe_models_dir,
                                                         smoke_probe_suite) -> None:
    # The smoke suite's own layer is mixed2, the fine layer: offer mixed1 beside it.
    monkeypatch.setattr("dermviz.models.profiles.PROBE_FINE_LAYER", "mixed1")
    at = open_page(monkeypatch, smoke_probe_models_dir)
    layer = at.radio(key="probe_layer")
    assert layer.options == ["mixed2 (the suite's)", "mixed1 (finer grid)"]
    assert "Pick `mixed1` in the sidebar" in " ".join(c.value for c in at.caption)
    before = at.dataframe[1].value  # the share summary per member
    layer.set_value("mixed1").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "GradCAM maps on `mixed1`" in captions and "Pick `mixed1`" not in captions
    after = at.dataframe[1].value
    assert list(after["member"]) == list(before["member"])
    assert not after["lesion_share"].equals(before["lesion_share"])  # other maps, other shares


@pytest.mark.timeout(2400)  # the fixture trains; slow on a loaded 2-core CPU
def test_probe_page_shows_the_outside_share_without_artefacts(monkeypatch, smoke_models_dir
                                                              ) -> None:
    at = open_page(monkeypatch, smoke_models_dir)
    assert "outside the lesion mask" in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1
    assert not at.get("image")
