"""From ``streamlit run`` to a served Home page, on a fresh clone with no suite.

What a new user waits for after the install: the README's dashboard command starts the
server at once (the demo is built later, from Home, in the background). The script clones
this repository (committed files only) into a temporary folder, starts
``streamlit run app/Home.py`` there with this interpreter (the install is not timed: see
``bench_install.py``) and an empty models folder, and measures:

- health: until ``/_stcore/health`` answers ``ok``;
- Home served: until headless Chromium shows Home's "Build the demo suite" button (the page
  has run its script and rendered), when Chromium and playwright are available.

Median of ``--repeats`` cold starts (default 3). The goal is under 20 s.

Usage::

    python benchmarks/bench_dashboard.py [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE = "Dashboard start on a fresh clone"
CHROMIUM = Path("/usr/bin/chromium")
GOAL_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(port: int, deadline: float) -> bool:
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - localhost
                if response.read().decode().strip() == "ok":
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def wait_home(port: int, timeout_s: float) -> bool:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/", timeout=timeout_s * 1000)
        page.get_by_role("button", name="Build the demo suite").wait_for(
            timeout=timeout_s * 1000)
        browser.close()
    return True


def one_start(clone: Path, browser: bool) -> dict[str, float]:
    port = free_port()
    models = Path(tempfile.mkdtemp(prefix="bench-dashboard-models-"))
    env = {**os.environ, "DERMVIZ_MODELS": str(models), "PYTHONPATH": str(clone)}
    t0 = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
         "--server.port", str(port)],
        cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_health(port, t0 + 120):
            raise RuntimeError("the server never answered its health check")
        out = {"health": time.time() - t0}
        if browser:
            wait_home(port, 120)
            out["home"] = time.time() - t0
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    browser = CHROMIUM.exists()
    try:
        import playwright  # noqa: F401
    except ImportError:
        browser = False
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        clone = Path(tmp) / "dermviz"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        runs = [one_start(clone, browser) for _ in range(args.repeats)]
    rows = ["| measure | median (s) | runs (s) |", "|---|---|---|"]
    for key, label in (("health", "`/_stcore/health` answers"),
                       ("home", "Home rendered in Chromium (build button shown)")):
        values = [r[key] for r in runs if key in r]
        if values:
            rows.append(f"| {label} | {statistics.median(values):.2f} | "
                        f"{', '.join(f'{v:.2f}' for v in values)} |")
    served = [r.get("home", r["health"]) for r in runs]
    verdict = "met" if statistics.median(served) < GOAL_S else "NOT met"
    body = "\n".join([
        *rows, "",
        f"- Goal: a served Home page within {GOAL_S:.0f} s of `streamlit run` on a fresh clone "
        f"with no suite: **{verdict}** (median {statistics.median(served):.2f} s).",
        f"- {provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])} "
        f"{args.repeats} cold starts of a `git clone` of this repository, empty models folder, "
        "the install not timed.",
    ])
    print(body)
    if not args.no_write:
        write_section(TITLE, body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
