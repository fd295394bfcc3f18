"""One search driver per suite folder: an exclusive ``flock``."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

LOCK_FILE = ".search.lock"


class SuiteLock:
    """An exclusive ``flock`` on the suite folder: one driver per suite at a time.
    The kernel drops it when the process dies, however it dies."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self._fh: Any = None

    def __enter__(self) -> SuiteLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a")  # noqa: SIM115 - held for the whole search
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise RuntimeError(f"another search is running on {self.path.parent} "
                               "(wait for it, or stop it first)") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
