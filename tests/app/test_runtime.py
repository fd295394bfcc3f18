"""Streamlit must not clear the Keras session after each run (app/runtime.py)."""

from __future__ import annotations

import sys

from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from app.runtime import _no_cleanup, keep_keras_session
from tests.app.test_pages import HOME


def test_the_patched_hook_exists_and_is_replaced(monkeypatch):
    # Streamlit's hook, looked up by name (an earlier test may have patched it already):
    # if an upgrade renames it, this fails and app/runtime.py must follow.
    assert callable(script_runner._clean_problem_modules)
    monkeypatch.setattr(script_runner, "_clean_problem_modules", lambda: None)
    keep_keras_session()
    assert script_runner._clean_problem_modules is _no_cleanup


def test_a_rerun_keeps_keras_state(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("DERMVIZ_MODELS", str(tmp_path))
    name_before = keras.layers.Dense(1).name  # takes the next auto name
    AppTest.from_file(HOME, default_timeout=120).run()
    # clear_session() would reset Keras' name counters: the next layer would be plain "dense"
    assert keras.layers.Dense(1).name not in ("dense", name_before)
    assert "keras" in sys.modules
