"""Home on a fresh clone: the dashboard answers at once and offers to build the demo."""

from __future__ import annotations

import json
import os
import time

from streamlit.testing.v1 import AppTest

from tests.app.test_pages import HOME, TIMEOUT


def home(monkeypatch, models_dir) -> AppTest:
    monkeypatch.setenv("DERMVIZ_MODELS", str(models_dir))
    return AppTest.from_file(HOME, default_timeout=TIMEOUT).run()


def write_status(models_dir, **fields):
    folder = models_dir / ".builds"
    folder.mkdir(parents=True, exist_ok=True)
    base = {"pid": os.getpid(), "started": time.time() - 60, "updated": time.time(),
            "done": False, "error": None}
    (folder / "demo.json").write_text(json.dumps({**base, **fields}))
    (folder / "demo.log").write_text("suite demo: 33%\rsuite demo: 34%\nTraceback: boom\n")


def test_fresh_clone_offers_the_build(monkeypatch, tmp_path):
    at = home(monkeypatch, tmp_path)
    assert not at.exception
    assert [b.label for b in at.button] == ["Build the demo suite"]
    assert any("Home" in info.value for info in at.info)


def test_running_build_shows_live_progress(monkeypatch, tmp_path):
    # this test's own process stands in for the build (alive for the duration)
    write_status(tmp_path, phase="train", n_members=3, member_index=1, member_fraction=0.5,
                 detail="training member 2 of 3 (m01)")
    at = home(monkeypatch, tmp_path)
    assert not at.exception
    bar = at.get("progress")[0]
    assert "training member 2 of 3" in bar.proto.text
    from dermviz.background import TRAIN_SHARE

    assert abs(bar.proto.value - 100 * TRAIN_SHARE * 1.5 / 3) <= 1
    assert not any(b.label == "Build the demo suite" for b in at.button)


def test_failed_build_shows_why_and_offers_a_retry(monkeypatch, tmp_path):
    write_status(tmp_path, done=True, error="RuntimeError: out of disk")
    at = home(monkeypatch, tmp_path)
    assert not at.exception
    assert "out of disk" in at.error[0].value
    assert "Traceback: boom" in at.code[0].value
    assert any(b.label == "Build the demo suite" for b in at.button)


def test_home_lists_the_suite_once_its_build_is_done(monkeypatch, tmp_path, smoke_models_dir):
    """Issue 24: no "No model suite found" below "The demo suite is built."."""
    from tests.helpers import share_suite

    write_status(tmp_path, phase="train", n_members=3, member_index=0, member_fraction=0.1)
    at = home(monkeypatch, tmp_path)  # the suite list is read (and cached) while it builds
    assert not at.exception and at.get("progress")
    share_suite(smoke_models_dir / "demo-smoke", tmp_path / "demo")
    write_status(tmp_path, done=True)
    at.run()
    assert not at.exception
    assert not any("No model suite found" in i.value for i in at.info)
    assert at.selectbox(key="suite_picker").value == "demo"
