"""How long a fresh install takes and how much disk it needs: base vs an older requirements list.

For each requirements list, in a throw-away folder: ``python -m venv``, then
``pip install -r <list>`` with pip's cache turned off (so every wheel is fetched
or read from the configured mirrors again, as on a clean machine), timed; then
the venv's size on disk (bytes of regular files, hard links counted once), the
number of installed distributions, whether ``torch`` and ``ray`` came along, and
whether ``import dermviz``'s stack (tensorflow, keras, streamlit, shap) imports.

Usage::

    python benchmarks/bench_install.py                 # the working tree's requirements.txt
    python benchmarks/bench_install.py --rev 392c937   # ... and requirements.txt at that commit
    python benchmarks/bench_install.py --rev 392c937 --no-write

``--rev`` reads the file through ``git show REV:requirements.txt`` (the
all-in-one list before the extras split). Writes the ``## Install: time and size``
section of ``benchmarks/RESULTS.md`` (through :func:`benchmarks.results.write_section`).
Each install takes minutes and fetches hundreds of MB from the package registry.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # `python benchmarks/bench_install.py` from the repo root
    sys.path.insert(0, str(REPO))

from benchmarks.results import machine_line, write_section  # noqa: E402

TITLE = "Install: time and size"
# What the base install must be able to import (the dashboard, demo, train, explain, sanity).
IMPORT_CHECK = "import tensorflow, keras, streamlit, shap, tf_keras_vis, optuna, skimage"


@dataclass(frozen=True)
class InstallResult:
    label: str
    seconds: float
    size_bytes: int
    n_dists: int
    has_torch: bool
    has_ray: bool
    imports_ok: bool
    load: tuple[float, float]  # 1-minute load average before and after the install


def tree_size(root: Path) -> int:
    """Bytes of regular files under ``root``; symlinks not followed, hard links once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_size
    return total


def requirements_at(rev: str, path: str = "requirements.txt") -> str:
    """The text of ``path`` at git revision ``rev`` of this repository."""
    return subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout


def measure(label: str, requirements: Path, workdir: Path) -> InstallResult:
    """Create a venv in ``workdir``, install ``requirements`` into it, and measure."""
    venv = workdir / "venv"
    load_before = os.getloadavg()[0]
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {**os.environ, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    start = time.perf_counter()
    subprocess.run([py, "-m", "pip", "install", "-q", "-r", str(requirements)], check=True,
                   env=env, cwd=requirements.parent)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    listed = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], check=True,
                            capture_output=True, text=True, env=env).stdout.lower().splitlines()
    names = {line.split("==")[0] for line in listed if "==" in line}
    imports = subprocess.run([py, "-c", IMPORT_CHECK], capture_output=True,
                             env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return InstallResult(label=label, seconds=seconds, size_bytes=tree_size(venv),
                         n_dists=len(names), has_torch="torch" in names, has_ray="ray" in names,
                         imports_ok=imports.returncode == 0, load=(load_before, load_after))


def report(results: list[InstallResult], started: str) -> str:
    rows = [
        "| requirements | install (s) | venv on disk (MB) | distributions | torch | ray "
        "| runtime imports | load avg before / after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.label} | {r.seconds:.0f} | {r.size_bytes / 2**20:,.0f} | {r.n_dists} "
            f"| {'yes' if r.has_torch else 'no'} | {'yes' if r.has_ray else 'no'} "
            f"| {'ok' if r.imports_ok else 'FAILED'} | {r.load[0]:.1f} / {r.load[1]:.1f} |"
        )
    notes = [
        f"Machine: {machine_line()}; run on {started}.",
        "",
        "Written by `benchmarks/bench_install.py`: a fresh `python -m venv`, then "
        "`pip install -r <list>` with pip's cache off (wheels fetched from the registry or "
        "read from the machine's local mirror again each time); the venv's size counts "
        "regular files, hard links once; 'runtime imports' is "
        f"`python -c \"{IMPORT_CHECK}\"` in the new venv. The load average (1 min, "
        f"{os.cpu_count()} CPUs) shows how busy the shared machine was: install times "
        "scale with it and with the registry's speed; the sizes do not.",
        "",
        *rows,
    ]
    if len(results) > 1:
        base, *others = results
        for other in others:
            notes.append("")
            notes.append(
                f"- {base.label} vs {other.label}: "
                f"{base.size_bytes / other.size_bytes:.2f}x the disk, "
                f"{base.seconds / other.seconds:.2f}x the install time "
                f"({(other.size_bytes - base.size_bytes) / 2**20:,.0f} MB less)."
            )
    return "\n".join(notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt",
                        help="the list to measure (default: the working tree's requirements.txt)")
    parser.add_argument("--rev", default=None,
                        help="also measure requirements.txt at this git revision (e.g. 392c937)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args(argv)

    started = dt.datetime.now(dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
    results = []
    with tempfile.TemporaryDirectory(prefix="dermviz-install-") as tmp:
        tmp_path = Path(tmp)
        targets = [(f"`{args.requirements.name}` (working tree)", args.requirements.resolve())]
        if args.rev:
            old = tmp_path / f"requirements-{args.rev}.txt"
            old.write_text(requirements_at(args.rev))
            targets.append((f"`requirements.txt` at {args.rev}", old))
        for k, (label, path) in enumerate(targets):
            print(f"installing {label} ...", flush=True)
            result = measure(label, path, tmp_path / f"run{k}")
            print(result, flush=True)
            results.append(result)
    text = report(results, started)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)
    return 0 if all(r.imports_ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
