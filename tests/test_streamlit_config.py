"""`.streamlit/config.toml`: valid TOML that Streamlit reads, with the safe settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

from tests.conftest import REPO_ROOT

CONFIG = REPO_ROOT / ".streamlit" / "config.toml"
EXPECTED = {
    "server.enableXsrfProtection": True,
    "server.maxUploadSize": 200,  # above MAX_BYTES: the page, not the widget, refuses
    "server.headless": True,
    "server.address": "localhost",
    "browser.gatherUsageStats": False,
    "runner.postScriptGC": False,
    "client.toolbarMode": "viewer",
}


def test_config_parses_with_the_expected_values():
    config = tomllib.loads(CONFIG.read_text())
    for key, value in EXPECTED.items():
        section, name = key.split(".")
        assert config[section][name] == value, key


def test_streamlit_reads_it(tmp_path):
    # A fresh process in the repo root with an empty HOME: only this file sets options.
    code = ("import json, streamlit.config as c; c.get_config_options(force_reparse=True); "
            f"print(json.dumps({{k: c.get_option(k) for k in {list(EXPECTED)!r}}}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, env={**os.environ, "HOME": str(tmp_path)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == EXPECTED


def test_the_server_accepts_more_than_the_page_does_so_a_refusal_has_words():
    from dermviz.data.upload import MAX_BYTES

    assert tomllib.loads(CONFIG.read_text())["server"]["maxUploadSize"] * 2**20 > MAX_BYTES
