"""Build the demo suite in a background process, and read how far it has got.

The dashboard answers at once on a fresh clone: instead of building the demo before
starting, Home offers a button that starts ``dermviz demo`` (the same resumable command)
as a detached process writing a status file, and shows its progress live. Pages work as
soon as the first member has landed; closing the browser does not stop the build, and a
second click while it runs does not start another.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermviz.store.status import StatusFile, pid_alive, read_status

BUILDS_DIR = ".builds"


@dataclass(frozen=True)
class BuildStatus:
    """Where a background build stands.

    Attributes
    ----------
    state : {"none", "running", "done", "failed", "stopped"}
        ``"stopped"``: the process is gone without saying it finished (killed); running
        the build again resumes it.
    phase, detail : str
        What it is doing ("train", "explain"...), and a sentence for people.
    fraction : float
        Overall progress in [0, 1].
    eta_s : float or None
        Seconds left, estimated from the progress so far.
    error : str or None
    log : Path
        The build's output (its progress bars and any traceback).
    """

    state: str
    phase: str = ""
    detail: str = ""
    fraction: float = 0.0
    eta_s: float | None = None
    error: str | None = None
    log: Path | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


def build_paths(models_dir: str | Path, name: str) -> tuple[Path, Path]:
    """``(status file, log file)`` of the build of suite ``name``."""
    folder = Path(models_dir) / BUILDS_DIR
    return folder / f"{name}.json", folder / f"{name}.log"


def build_status(models_dir: str | Path, name: str) -> BuildStatus:
    """The status of the background build of ``name`` (``state="none"`` if never started)."""
    status_path, log_path = build_paths(models_dir, name)
    status = read_status(status_path)
    if status is None:
        return BuildStatus(state="none", log=log_path if log_path.exists() else None)
    fraction = overall_fraction(status)
    if status.get("done"):
        state = "failed" if status.get("error") else "done"
    elif pid_alive(int(status.get("pid", -1))):
        state = "running"
    else:
        state = "stopped"
    return BuildStatus(
        state=state, phase=str(status.get("phase", "")), detail=str(status.get("detail", "")),
        fraction=fraction, eta_s=_eta(status, fraction) if state == "running" else None,
        error=status.get("error"), log=log_path,
    )


#: The share of a demo build spent training, then computing its GradCAM maps; the rest
#: prepares the pages' safety data (dermviz.analysis.safety: embeddings, OOD calibration).
TRAIN_SHARE = 0.85
EXPLAIN_SHARE = 0.1


def overall_fraction(status: dict[str, Any]) -> float:
    """A build's progress in [0, 1] from the fields ``dermviz demo`` reports: the member
    being trained and how far into it, then the share of maps computed."""
    if status.get("done") and not status.get("error"):
        return 1.0
    if "fraction" in status:
        value = float(status["fraction"])
    elif status.get("phase") == "train":
        n = max(int(status.get("n_members", 1)), 1)
        done = int(status.get("member_index", 0)) + float(status.get("member_fraction", 0.0))
        value = TRAIN_SHARE * done / n
    elif status.get("phase") == "explain":
        value = TRAIN_SHARE + EXPLAIN_SHARE * float(status.get("explain_fraction", 0.0))
    elif status.get("phase") == "safety" and status.get("job") == "safety":  # on its own
        value = float(status.get("safety_fraction", 0.0))
    elif status.get("phase") == "safety":
        value = (TRAIN_SHARE + EXPLAIN_SHARE
                 + (1 - TRAIN_SHARE - EXPLAIN_SHARE) * float(status.get("safety_fraction", 0.0)))
    else:
        value = 0.0
    return min(max(value, 0.0), 1.0)


def _eta(status: dict[str, Any], fraction: float) -> float | None:
    elapsed = float(status.get("updated", time.time())) - float(status.get("started", 0.0))
    if fraction <= 0.02 or elapsed <= 0:
        return None
    return elapsed * (1.0 - fraction) / fraction


def start_demo_build(
    models_dir: str | Path, *, profile: str = "default", name: str | None = None,
    command: list[str] | None = None,
) -> BuildStatus:
    """Start ``dermviz demo`` for ``profile`` in a detached process, unless one is running.

    Parameters
    ----------
    models_dir : path-like
        Where the suite is built (``<models_dir>/<name>``).
    profile : str
        The demo profile.
    name : str, optional
        The suite's name (default: the CLI's, ``demo`` or ``demo-<profile>``).
    command : list of str, optional
        Override the command (tests); ``{status}`` in it is replaced by the status path.

    Returns
    -------
    BuildStatus
        Of the build now running (the one already running, if there was one).
    """
    name = name or ("demo" if profile == "default" else f"demo-{profile}")
    return start_job(models_dir, name, command or demo_command(
        models_dir, profile=profile, name=name, status_file="{status}"))


def start_job(models_dir: str | Path, key: str, command: list[str]) -> BuildStatus:
    """Start ``command`` in a detached process reporting to the status file of ``key``
    (``{status}`` in it is replaced by the status path), unless one is running.

    Returns
    -------
    BuildStatus
        Of the job now running (the one already running, if there was one).
    """
    current = build_status(models_dir, key)
    if current.running:
        return current
    status_path, log_path = build_paths(models_dir, key)
    status_path.parent.mkdir(parents=True, exist_ok=True)
    status_path.unlink(missing_ok=True)
    argv = [a.replace("{status}", str(status_path)) for a in command]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own CLI, no shell
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the page and the server's reruns
        )
    deadline = time.time() + 20.0
    while time.time() < deadline:  # until the child has written its first status
        status = build_status(models_dir, key)
        if status.state != "none":
            return status
        if process.poll() is not None:  # before its status file: say why, for the page too
            StatusFile(status_path).finish(error=f"the build exited at once (code "
                                           f"{process.returncode}): {log_tail(log_path)}")
            return build_status(models_dir, key)
        time.sleep(0.1)
    return BuildStatus(state="running", detail="starting", log=log_path)


def demo_command(models_dir: str | Path, *, profile: str, name: str,
                 status_file: str | Path) -> list[str]:
    """The ``dermviz demo`` command line of a background build (``--models-dir`` is the
    CLI's own option, so it comes before the subcommand)."""
    return [sys.executable, "-m", "dermviz", "--models-dir", str(models_dir), "demo",
            "--profile", profile, "--name", name, "--status-file", str(status_file)]


#: The key of a suite's safety job (``dermviz prepare``) among the background builds.
SAFETY_SUFFIX = ".safety"


def prepare_command(models_dir: str | Path, name: str) -> list[str]:
    """The ``dermviz prepare`` command line of a suite's background safety job."""
    return [sys.executable, "-m", "dermviz", "--models-dir", str(models_dir), "prepare",
            name, "--status-file", "{status}"]


def start_safety_job(models_dir: str | Path, name: str) -> BuildStatus:
    """Prepare suite ``name``'s safety data (:mod:`dermviz.analysis.safety`) in a detached
    process, unless that job is already running."""
    return start_job(models_dir, name + SAFETY_SUFFIX, prepare_command(models_dir, name))


def safety_job_status(models_dir: str | Path, name: str) -> BuildStatus:
    """Where the background safety job of suite ``name`` stands."""
    return build_status(models_dir, name + SAFETY_SUFFIX)


def log_tail(path: str | Path, *, lines: int = 5) -> str:
    """The last lines of a build log (progress bars' carriage returns folded)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    rows = [r.rsplit("\r", 1)[-1] for r in text.splitlines() if r.strip()]
    return "\n".join(rows[-lines:])
