"""A status file that a long job writes and another process reads: live progress across
processes, with nothing but the file system between them.

The job holds a :class:`StatusFile` and calls :func:`report` wherever it makes progress
(a no-op when no status file is set, so library code can report unconditionally). Each
write is atomic and throttled; the reader (:func:`read_status`) never sees half a file and
treats a damaged one as "no status yet". Fields are free-form JSON: this module knows
nothing of what is being reported.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from dermviz.store.atomic import write_json


class StatusFile:
    """The writing side: merges fields into a JSON object and writes it atomically.

    Parameters
    ----------
    path : path-like
    min_interval : float
        Seconds between writes; :meth:`update` with ``force=True`` (and :meth:`finish`)
        always write.
    """

    def __init__(self, path: str | Path, *, min_interval: float = 0.5) -> None:
        self.path = Path(path)
        self.min_interval = float(min_interval)
        self.state: dict[str, Any] = {"pid": os.getpid(), "started": time.time(),
                                      "done": False, "error": None}
        self._last_write = 0.0
        self.update(force=True)

    def update(self, *, force: bool = False, **fields: Any) -> None:
        """Merge ``fields`` (``None`` removes a field) and write if due."""
        for key, value in fields.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        now = time.time()
        if force or now - self._last_write >= self.min_interval:
            self.state["updated"] = now
            write_json(self.path, self.state)
            self._last_write = now

    def finish(self, *, error: str | None = None) -> None:
        """Mark the job done (with ``error`` when it failed) and write."""
        self.state["error"] = error
        self.update(force=True, done=True, finished=time.time())


_SINK: StatusFile | None = None


def set_status_sink(status: StatusFile | None) -> None:
    """Make :func:`report` write to ``status`` (None: report nowhere)."""
    global _SINK
    _SINK = status


def report(*, force: bool = False, **fields: Any) -> None:
    """Report progress to the current status file, if any (cheap no-op otherwise)."""
    if _SINK is not None:
        _SINK.update(force=force, **fields)


def read_status(path: str | Path) -> dict[str, Any] | None:
    """The last status written at ``path``, or None if there is none (or it is damaged)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
