"""Streamlit must not clear the Keras session after each run (app/runtime.py)."""

from __future__ import annotations

import sys

from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

from app.runtime import keep_keras_session
from tests.app.test_pages import HOME


def test_the_patched_hook_exists_and_is_replaced(monkeypatch):
    original = script_runner._clean_problem_modules  # renamed by an upgrade: this fails
    monkeypatch.setattr(script_runner, "_clean_problem_modules", original)
    keep_keras_session()
    assert script_runner._clean_problem_modules is not original


def test_a_rerun_keeps_keras_state(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("DERMVIZ_MODELS", str(tmp_path))
    name_before = keras.layers.Dense(1).name  # takes the next auto name
    AppTest.from_file(HOME, default_timeout=120).run()
    # clear_session() would reset Keras' name counters: the next layer would be plain "dense"
    assert keras.layers.Dense(1).name not in ("dense", name_before)
    assert "keras" in sys.modules
