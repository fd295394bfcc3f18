"""The demo suite built in the background, as the dashboard's Home page offers it: start
the build, read where it stands."""

from __future__ import annotations

from pathlib import Path

from dermviz.background import BuildStatus, build_status, log_tail, start_demo_build
from dermviz.models.config import TrainConfig
from dermviz.models.profiles import PROFILES

__all__ = ["DEMO_SUITE", "BuildStatus", "demo_build_log", "demo_build_status", "demo_settings",
           "start_demo_build"]

#: The name of the suite the background demo build makes.
DEMO_SUITE = "demo"
#: The demo profile the background build trains.
DEMO_PROFILE = "default"


def demo_build_status(models_dir: str | Path) -> BuildStatus:
    """Where the background build of the demo suite under ``models_dir`` stands."""
    return build_status(models_dir, DEMO_SUITE)


def demo_build_log(status: BuildStatus, *, lines: int = 8) -> str | None:
    """The last ``lines`` of a build's output (None: the build has no log)."""
    return None if status.log is None else log_tail(status.log, lines=lines)


def demo_settings() -> TrainConfig:
    """How the background build trains the demo suite (members, image size...)."""
    return PROFILES[DEMO_PROFILE].train
