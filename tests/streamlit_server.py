"""Start ``streamlit run`` in a subprocess and wait until its health endpoint answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO_ROOT


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def health(port: int, *, timeout: float = 2.0) -> str:
    """The body of ``/_stcore/health`` ("ok" once the server is up)."""
    url = f"http://127.0.0.1:{port}/_stcore/health"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


@contextmanager
def running(command: Sequence[str], *, port: int, env: Mapping[str, str] | None = None,
            log: Path, ready_timeout: float = 120.0) -> Iterator[subprocess.Popen]:
    """Run ``command`` (a Streamlit server on ``port``) until the block ends.

    The server's venv comes first on PATH (so ``streamlit`` and ``dermviz`` are
    this interpreter's); output goes to ``log``, shown in the error if it never
    gets healthy. The process group is stopped with SIGTERM, then SIGKILL.
    """
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                f"{os.environ.get('PATH', '')}", **(env or {})}
    with open(log, "wb") as out:
        proc = subprocess.Popen(list(command), cwd=REPO_ROOT, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n"
                                   f"{log.read_text()[-3000:]}")
            try:
                if health(port) == "ok":
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"no health after {ready_timeout:.0f} s:\n"
                                   f"{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the session we started: sh, streamlit, children
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
