"""Benchmark: a background KernelSHAP map with the Saliency page open and polling, and closed.

The Saliency page computes a missing KernelSHAP map in a background thread of the Streamlit
server and polls the job every ``app.state.POLL_SECONDS`` (an ``st.fragment`` with
``run_every``). The polling
must not slow the computation it waits for: an earlier version of the app spent ~0.3 s of
GIL-holding garbage collection (Streamlit's ``keras.clear_session()`` after every script run)
per poll. This script measures it end to end, as a user meets it:

1. ``streamlit run app/Home.py`` on a suite (default: the smoke demo, built if missing);
2. headless Chromium opens the Saliency page, sets a sample count no map in the store has
   (so every round is a cache miss on the same image and member), and clicks *Compute*;
3. **open**: the tab stays open and polls until the map is stored; **closed**: the tab is
   closed as soon as the job shows as running;
4. the time from the click to the map's file in the store is the round's time.

Rounds alternate open/closed in ABBA order after one warm-up round (model loading, graph
building), so drift in the machine's load hits both alike; the ratio of the medians is
reported. ``--profile`` samples the server with py-spy during one extra open round and
reports where its samples went (the map's computation vs Streamlit's script runs).

Writes the "Background maps while a page polls" section of benchmarks/RESULTS.md.

    python benchmarks/bench_polling.py [--models-dir DIR --suite NAME] [--rounds 3]
        [--nsamples 3000] [--profile] [--no-write]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/bench_polling.py` from the repo root
    sys.path.insert(0, str(REPO))

from benchmarks.results import provenance, write_section  # noqa: E402
from tests.streamlit_server import free_port, running  # noqa: E402

TITLE = "Background maps while a page polls"
CHROMIUM = Path(os.environ.get("DERMVIZ_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT_MS = 300_000


def py_spy() -> str | None:
    """py-spy beside this interpreter (a venv not on PATH) or on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def ensure_suite(models: Path, name: str) -> None:
    """Build the smoke demo into ``models`` when ``name`` is missing (and is the smoke demo)."""
    if (models / name / "suite.json").is_file():
        return
    if name != "demo-smoke":
        raise SystemExit(f"no suite {name!r} in {models}; build it first")
    subprocess.run([sys.executable, "-m", "dermviz", "--models-dir", str(models), "demo",
                    "--profile", "smoke"], cwd=REPO, check=True)


def map_path(models: Path, suite_name: str, member: str, nsamples: int) -> tuple[Path, str]:
    """Where the page's KernelSHAP map for the first hold-out image will be stored; it
    must not be stored yet."""
    from dermviz.explain import KernelSHAP
    from dermviz.explain.cache import MapCache
    from dermviz.explain.precompute import default_params
    from dermviz.models.suite import Suite

    suite = Suite(models / suite_name)
    image_id = suite.dataset().holdout.sort_values("test_index")["image_id"].iloc[0]
    params = default_params(suite, KernelSHAP.name, nsamples=nsamples)
    path = MapCache.of(suite).path(member, image_id, KernelSHAP.name, params)
    if path.exists():  # an earlier run's map: the round would time a cache hit
        raise FileExistsError(f"{path} is stored already: pass a --nsamples no run has used")
    return path, image_id


def poll_seconds() -> float:
    """The dashboard's polling interval (imported late: app.state imports Streamlit)."""
    from app.state import POLL_SECONDS

    return POLL_SECONDS


def wait_idle(tab) -> None:  # noqa: ANN001 - a Playwright page
    tab.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')


def one_round(browser, url: str, target: Path, nsamples: int, *, keep_open: bool,  # noqa: ANN001
              after_click: Callable[[], object] | None = None) -> float:
    """Seconds from the click on *Compute* to the map's file in the store."""
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.goto(f"{url}/saliency")
    tab.get_by_role("heading", level=1, name="Saliency").wait_for()
    wait_idle(tab)
    box = tab.get_by_label("Samples per image", exact=True).and_(tab.locator("input"))
    box.fill(str(nsamples))
    box.press("Enter")
    tab.get_by_text(f"Not computed yet ({nsamples} samples)").first.wait_for()  # rerun done
    wait_idle(tab)
    button = tab.get_by_role("button", name="Compute KernelSHAP", exact=True).first
    button.wait_for()
    start = time.perf_counter()
    button.click()
    if after_click is not None:
        after_click()
    tab.get_by_text("KernelSHAP for", exact=False).first.wait_for()  # the job is polled
    if not keep_open:
        context.close()
    while not target.exists():
        if time.perf_counter() - start > TIMEOUT_MS / 1000:
            if keep_open:
                tab.screenshot(path=str(target.parent.parent / "bench-polling-timeout.png"))
            raise TimeoutError(f"no map at {target} after {TIMEOUT_MS / 1000:.0f} s")
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    if keep_open:
        context.close()
    return seconds


def profile_round(browser, url: str, target: Path, nsamples: int, pid: int,  # noqa: ANN001
                  out: Path) -> dict[str, float]:
    """One open round with py-spy sampling the server from the click until the map is
    stored (page loading left out); shares of its active samples."""
    raw = out / "server.pyspy.txt"
    spies: list[subprocess.Popen] = []

    def start() -> None:
        spies.append(subprocess.Popen(
            [py_spy() or "py-spy", "record", "--pid", str(pid), "--format", "raw",
             "--output", str(raw), "--rate", "50", "--threads", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    try:
        one_round(browser, url, target, nsamples, keep_open=True, after_click=start)
    finally:
        for spy in spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
            spy.wait(timeout=60)
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        if "dermviz/explain" in stack or "shap/" in stack:
            counts["the map's computation"] += int(n)
        elif "streamlit" in stack:
            counts["Streamlit (script runs, polling, websocket)"] += int(n)
        else:
            counts["other"] += int(n)
    total = sum(counts.values()) or 1
    return {k: v / total for k, v in counts.most_common()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder of suites (default: a temporary one with the smoke demo)")
    parser.add_argument("--suite", default="demo-smoke")
    parser.add_argument("--member", default="m00")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode")
    parser.add_argument("--nsamples", type=int, default=3000,
                        help="KernelSHAP samples of the first round (then +1 per round)")
    parser.add_argument("--profile", action="store_true", help="one more round under py-spy")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("playwright is not installed (pip install -r requirements-extra.txt)")
    if not CHROMIUM.exists():
        parser.error(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if args.profile and py_spy() is None:
        parser.error("--profile needs py-spy (pip install py-spy)")

    work = Path(tempfile.mkdtemp(prefix="dermviz-bench-polling-"))
    models = args.models_dir or work / "models"
    ensure_suite(models, args.suite)
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py",
               "--server.headless", "true", "--server.port", str(port)]
    url = f"http://127.0.0.1:{port}"
    times: dict[str, list[float]] = {"open": [], "closed": []}
    shares: dict[str, float] = {}
    nsamples = args.nsamples
    order = ["open", "closed", "closed", "open"] * ((args.rounds + 1) // 2)
    order = [m for i, m in enumerate(order) if order[: i + 1].count(m) <= args.rounds]
    with running(command, port=port, log=work / "streamlit.log",
                 env={"DERMVIZ_MODELS": str(models)}) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        for mode in ["warm-up", *order]:
            target, image_id = map_path(models, args.suite, args.member, nsamples)
            seconds = one_round(browser, url, target, nsamples, keep_open=mode != "closed")
            print(f"{mode:8s} nsamples={nsamples} {seconds:6.1f} s", flush=True)
            if mode in times:
                times[mode].append(seconds)
            nsamples += 1
        if args.profile:
            target, _ = map_path(models, args.suite, args.member, nsamples)
            shares = profile_round(browser, url, target, nsamples, server.pid, work)
        browser.close()

    from dermviz.models.suite import Suite

    suite = Suite(models / args.suite)
    med = {mode: statistics.median(v) for mode, v in times.items()}
    ratio = med["open"] / med["closed"]
    lines = [
        provenance(),
        "",
        f"Suite `{args.suite}` ({suite.image_size} px), member {args.member}, hold-out image "
        f"{image_id}; one KernelSHAP map per round with {args.nsamples}-{nsamples - 1} "
        "samples (a new sample count each round, so each is computed), started by a click on "
        "the Saliency page in headless Chromium. Time: from the click to the map's file in "
        f"the store. Rounds after one warm-up, in ABBA order: {', '.join(order)}.",
        "",
        "| page while the map is computed | rounds (s) | median (s) |",
        "|---|---|---|",
        *[f"| {label} | {', '.join(f'{t:.1f}' for t in times[mode])} | {med[mode]:.1f} |"
          for label, mode in ((f"open, polling every {poll_seconds():g} s", "open"),
                              ("closed after the click", "closed"))],
        "",
        f"Open / closed: **{ratio:.2f}x** (goal: at most 1.10x).",
    ]
    if shares:
        lines += ["", "py-spy on the server during one more open round, from the click to "
                  "the stored map (50 Hz, samples of the thread holding the GIL):", "",
                  "| where | share of samples |", "|---|---|",
                  *[f"| {k} | {v:.1%} |" for k, v in shares.items()]]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
