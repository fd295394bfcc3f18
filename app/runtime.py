"""How the dashboard runs inside Streamlit: one setting Streamlit has no option for.

After every script run Streamlit calls ``keras.backend.clear_session()`` (its
``_clean_problem_modules``), for apps that build a new model on each run. dermviz holds its
models in ``st.cache_resource`` and computes maps in background threads, so that call
(a) resets Keras' global state under models still in use and under maps being computed,
and (b) runs a full ``gc.collect()``: about 0.3 s per run with TensorFlow loaded, holding
the GIL, so every rerun (a click, a poll of a running job) stalls the page and every
background computation. Measured on the Case page: 0.38-0.43 s per open, of which the page
itself was 0.13-0.16 s. ``runner.postScriptGC`` (the other full collection after each run)
is switched off in ``.streamlit/config.toml``; Python's own collector still runs.
"""

from __future__ import annotations

from streamlit.runtime.scriptrunner import script_runner


def keep_keras_session() -> None:
    """Stop Streamlit from clearing the Keras session after each script run (idempotent).

    Patches ``streamlit.runtime.scriptrunner.script_runner._clean_problem_modules``, which
    Streamlit looks up at call time; ``tests/app/test_runtime.py`` fails if a Streamlit
    upgrade renames it.
    """
    script_runner._clean_problem_modules = _no_cleanup


def _no_cleanup() -> None:
    """dermviz builds no model per run and uses no matplotlib: nothing to clean."""
