"""Background builds: a detached process reports through a status file."""

from __future__ import annotations

import sys
import time

from dermviz.background import build_status, start_demo_build
from dermviz.store.status import StatusFile, read_status, report, set_status_sink

# A stand-in for `dermviz demo`: reports progress through the status file, then finishes.
FAKE_BUILD = """
import sys, time
from dermviz.store.status import StatusFile
s = StatusFile(sys.argv[1], min_interval=0)
for k in range(3):
    s.update(phase="train", detail=f"member {k + 1} of 3", fraction=k / 3)
    time.sleep(float(sys.argv[2]))
if sys.argv[3] == "fail":
    s.finish(error="boom")
else:
    s.update(fraction=1.0)
    s.finish()
"""


def fake(tmp_path, pause, outcome="ok"):
    script = tmp_path / "fake_build.py"
    script.write_text(FAKE_BUILD)
    return [sys.executable, str(script), "{status}", str(pause), outcome]


def wait_for(models, name, states, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = build_status(models, name)
        if status.state in states:
            return status
        time.sleep(0.1)
    raise AssertionError(f"build never reached {states}: {build_status(models, name)}")


def test_status_file_round_trip_and_report(tmp_path):
    path = tmp_path / "s.json"
    status = StatusFile(path, min_interval=0)
    status.update(phase="train", fraction=0.5)
    assert read_status(path)["fraction"] == 0.5
    set_status_sink(status)
    try:
        report(detail="member 2 of 3")
    finally:
        set_status_sink(None)
    report(detail="nowhere")  # no sink: a no-op
    assert read_status(path)["detail"] == "member 2 of 3"
    status.finish()
    assert read_status(path)["done"] is True
    (tmp_path / "bad.json").write_text("{half")
    assert read_status(tmp_path / "bad.json") is None


def test_build_runs_detached_reports_and_is_not_started_twice(tmp_path):
    models = tmp_path / "models"
    assert build_status(models, "demo").state == "none"
    first = start_demo_build(models, command=fake(tmp_path, 0.5))
    assert first.state == "running"
    again = start_demo_build(models, command=fake(tmp_path, 0.5))
    assert again.running  # the same build, not a second one
    done = wait_for(models, "demo", {"done"})
    assert done.fraction == 1.0 and done.eta_s is None


def test_failed_and_killed_builds(tmp_path):
    models = tmp_path / "models"
    start_demo_build(models, name="x", command=fake(tmp_path, 0.0, "fail"))
    failed = wait_for(models, "x", {"failed"})
    assert failed.error == "boom"
    # a process that dies without finishing reads as stopped (rerun resumes it)
    path = models / ".builds" / "y.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"pid": 999999999, "started": 0, "done": false, "fraction": 0.4}')
    assert build_status(models, "y").state == "stopped"
    broken = start_demo_build(models, name="z",
                              command=[sys.executable, "-c", "raise SystemExit(3)"])
    assert broken.state == "failed" and "code 3" in broken.error
    assert build_status(models, "z").state == "failed"  # what the page reads next


def test_overall_fraction_follows_the_demo_phases():
    from dermviz.background import EXPLAIN_SHARE, TRAIN_SHARE, overall_fraction

    assert overall_fraction({"phase": "train", "n_members": 3, "member_index": 0,
                             "member_fraction": 0.0}) == 0.0
    half = overall_fraction({"phase": "train", "n_members": 2, "member_index": 1,
                             "member_fraction": 0.0})
    assert half == TRAIN_SHARE / 2
    assert overall_fraction({"phase": "explain", "explain_fraction": 1.0}) == \
        TRAIN_SHARE + EXPLAIN_SHARE
    assert overall_fraction({"phase": "safety", "safety_fraction": 1.0}) == 1.0
    # the safety job on its own (dermviz prepare) runs from 0 to 1
    assert overall_fraction({"phase": "safety", "job": "safety", "safety_fraction": 0.5}) == 0.5
    assert overall_fraction({"done": True}) == 1.0
    assert overall_fraction({"done": True, "error": "x", "phase": "train", "n_members": 2,
                             "member_index": 1}) == TRAIN_SHARE / 2


def test_the_demo_reports_through_its_status_file(smoke_models_dir):
    """The smoke demo of the test session was built reporting to a status file."""
    status = read_status(smoke_models_dir / ".builds" / "demo-smoke.json")
    assert status["done"] is True and status["error"] is None
    assert status["explain_fraction"] == 1.0
    assert status["phase"] == "safety" and status["safety_fraction"] == 1.0
    assert status["n_members"] == 2 and status["member_index"] == 1
    built = build_status(smoke_models_dir, "demo-smoke")
    assert built.state == "done" and built.fraction == 1.0


def test_demo_cli_status_file_option_parses():
    from dermviz.cli import build_parser

    args = build_parser().parse_args(["demo", "--profile", "smoke", "--status-file", "s.json"])
    assert str(args.status_file) == "s.json"


def test_the_default_build_command_is_one_the_cli_accepts(tmp_path):
    from dermviz.background import demo_command
    from dermviz.cli import build_parser
    from dermviz.cli.suite import _demo

    argv = demo_command(tmp_path / "models", profile="smoke", name="d",
                        status_file=tmp_path / "s.json")
    assert argv[:3] == [sys.executable, "-m", "dermviz"]
    args = build_parser().parse_args(argv[3:])
    assert args.handler is _demo and args.models_dir == tmp_path / "models"
    assert (args.profile, args.name, args.status_file) == ("smoke", "d", tmp_path / "s.json")
