"""Crash safety with real trials: SIGKILL the search mid-trial, rerun, check.

One smoke search shrunk to one training step per trial (2 members x 1 trial, 75 px,
16 training images, eager mode: about 15-30 s per trial on a 2-core CPU, most of it
the trial process's start-up). The search is started as its own process group and killed with
SIGKILL (driver and trial process at once) while a trial runs, after at least one
trial (and so member m00) has completed. The same command then finishes the suite.
Resuming within a member (several trials, some killed) is covered without
TensorFlow in test_search.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dermviz.models.search_config import PROFILES
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(600)


def _trial_states(db: Path) -> list[tuple[int, int, str, float | None]]:
    """(study_id, number, state, value) of every trial, read straight from SQLite."""
    if not db.is_file():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(
            "SELECT t.study_id, t.number, t.state, v.value FROM trials t "
            "LEFT JOIN trial_values v ON v.trial_id = t.trial_id ORDER BY t.trial_id"
        ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        con.close()


def _command(models: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "dermviz", "--models-dir", str(models), "search",
            "--profile", "smoke", "--config", str(config), "--name", "k", "--no-progress",
            "--synthetic-train", "16", "--synthetic-test", "4", "--no-prepare"]


def test_sigkill_mid_trial_then_rerun_completes(tmp_path):
    config = PROFILES["smoke"].config.replace(n_trials=1, train={"run_eagerly": True})
    config_file = tmp_path / "suite.yaml"
    config_file.write_text(config.to_yaml())
    models = tmp_path / "models"
    db = models / "k" / "search.db"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(_command(models, config_file), cwd=REPO_ROOT, env=env,
                            start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    deadline = time.time() + 400
    try:
        while True:
            states = _trial_states(db)
            complete = [s for s in states if s[2] == "COMPLETE"]
            running = [s for s in states if s[2] == "RUNNING"]
            if complete and running:
                time.sleep(3)  # into the running trial's start-up or training
                break
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "no trial completed in time"
            time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {(s[0], s[1]): s[3] for s in _trial_states(db) if s[2] == "COMPLETE"}
    assert before
    assert any(s[2] == "RUNNING" for s in _trial_states(db))  # left behind by the kill
    first_member = models / "k" / "members" / "m00" / "member.json"
    first_member_json = first_member.read_bytes()  # promoted before m01's trial began

    rerun = subprocess.run(_command(models, config_file), cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=500)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]

    after = _trial_states(db)
    complete_after = {(s[0], s[1]): s[3] for s in after if s[2] == "COMPLETE"}
    # Every trial completed before the kill is still there, with its value.
    assert all(complete_after.get(k) == v for k, v in before.items())
    assert len(complete_after) == config.n_members * config.n_trials
    assert not [s for s in after if s[2] == "RUNNING"]
    # The killed trial counts as FAIL (or COMPLETE, had it finished writing its result).
    assert len(after) - len(complete_after) <= 1

    from dermviz.models.inception import load_member_model
    from dermviz.models.suite import Suite

    suite = Suite(models / "k")
    assert suite.complete and suite.member_ids == ["m00", "m01"]
    assert first_member.read_bytes() == first_member_json  # a finished member is not redone
    for mid in suite.member_ids:
        assert suite.member(mid)["search"]["n_finished"] == config.n_trials
        model = suite.load_model(mid)
        assert model.output_shape == (None, 1)
    folder = models / "k" / "members"
    kept = sorted(folder.glob("*/trials/*/model.keras"))
    assert len(kept) == 2  # one per member: the best trial's
    for path in kept:
        load_member_model(path)
    assert not [p for p in folder.rglob("*") if ".tmp" in p.name]
