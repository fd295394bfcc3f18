"""Start-up time of the light commands, and whether they import TensorFlow.

Each command runs in a fresh subprocess ``--repeats`` times (default 5); the median wall time
is reported, with the range. A separate run of each checks whether ``tensorflow`` (or
``keras``) ended up in ``sys.modules``: importing dermviz, listing suites and reading a
suite's metrics should not need it (issue 8).

Commands: ``python -c "import dermviz"``, ``dermviz --help``, ``dermviz info`` and
``dermviz info --suite NAME``, run as ``python -m dermviz ...`` (what the ``dermviz`` script
runs) with this checkout first on ``PYTHONPATH``. The suite is ``--suite`` under
``--models-dir``; without ``--models-dir`` a smoke demo suite is built in a temporary folder
first (``dermviz demo --profile smoke --no-explain``, a minute or two, not timed).

Usage::

    python benchmarks/bench_startup.py --label before
    python benchmarks/bench_startup.py --label after [--models-dir models --suite demo-smoke]

Writes the "Start-up time of light commands" section of benchmarks/RESULTS.md with one column
group per label; a run replaces its own label's numbers and keeps the other's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # `python benchmarks/bench_startup.py` from the repo root
    sys.path.insert(0, str(REPO))

from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE = "Start-up time of light commands"
LABELS = ("before", "after")
DATA_TAG = "bench_startup data"

#: Reports which heavy modules a command left in sys.modules (runs at interpreter exit).
_PROBE = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: sys.stderr.write('HEAVY=' + ','.join("
    "m for m in ('tensorflow', 'keras') if m in sys.modules) + '\\n'))\n"
    "{body}"
)


def commands(suite: str) -> dict[str, list[str]]:
    """Display name -> arguments after ``python`` (``{models}`` is filled in later)."""
    return {
        'python -c "import dermviz"': ["-c", "import dermviz"],
        "dermviz --help": ["-m", "dermviz", "--help"],
        "dermviz info": ["-m", "dermviz", "--models-dir", "{models}", "info"],
        f"dermviz info --suite {suite}": [
            "-m", "dermviz", "--models-dir", "{models}", "info", "--suite", suite,
        ],
    }


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": str(REPO) + (os.pathsep + path if path else ""),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def _run(args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=_env(), cwd=REPO,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`python {' '.join(args)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return proc


def time_command(args: list[str], *, repeats: int) -> list[float]:
    """Wall times (s) of ``repeats`` fresh runs of ``python *args``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _run(args)
        times.append(time.perf_counter() - t0)
    return times


def heavy_modules(args: list[str]) -> list[str]:
    """Which of tensorflow / keras one run of ``python *args`` imported."""
    if args[0] == "-c":
        body = args[1]
    else:  # -m dermviz ...: run the module as `python -m` would
        body = f"sys.argv = {['dermviz', *args[2:]]!r}\nrunpy.run_module('dermviz', " \
               "run_name='__main__', alter_sys=True)"
    stderr = _run(["-c", _PROBE.format(body=body)]).stderr
    found = re.findall(r"^HEAVY=(.*)$", stderr, flags=re.M)
    if not found:
        raise RuntimeError(f"no module report from `python {' '.join(args)}`:\n{stderr[-2000:]}")
    return [m for m in found[-1].split(",") if m]


def build_suite(models: Path) -> str:
    """A smoke demo suite under ``models`` (not timed); returns its name."""
    _run(["-m", "dermviz", "--models-dir", str(models), "demo", "--profile", "smoke",
          "--no-explain"])
    return "demo-smoke"


def measure(models: Path, suite: str, *, repeats: int) -> dict[str, dict]:
    out = {}
    for name, args in commands(suite).items():
        args = [a.replace("{models}", str(models)) for a in args]
        _run(args)  # warm the OS file cache; not counted
        times = time_command(args, repeats=repeats)
        heavy = heavy_modules(args)
        out[name] = {"times": times, "median": statistics.median(times), "heavy": heavy}
        print(f"{name}: median {out[name]['median']:.2f} s "
              f"({min(times):.2f}-{max(times):.2f}), imports {heavy or 'neither'}",
              file=sys.stderr, flush=True)
    return out


def read_data(path: Path = RESULTS) -> dict[str, dict]:
    """The per-label results kept in the section's data comment (empty if none)."""
    text = path.read_text() if path.exists() else ""
    found = re.search(rf"<!-- {DATA_TAG}\n(.*?)\n-->", text, flags=re.S)
    return json.loads(found.group(1)) if found else {}


def render(data: dict[str, dict]) -> str:
    """The section body: one table with a column group per label, then provenance."""
    labels = [lab for lab in LABELS if lab in data]
    names: list[str] = []
    for lab in labels:
        names += [n for n in data[lab]["results"] if n not in names]
    head = "| command |" + "".join(
        f" {lab}: median (s) | {lab}: range (s) | {lab}: imports TF/Keras |" for lab in labels
    )
    lines = [head, "|---|" + "---|---|---|" * len(labels)]
    for name in names:
        row = f"| `{name}` |"
        for lab in labels:
            r = data[lab]["results"].get(name)
            if r is None:
                row += " - | - | - |"
                continue
            heavy = ", ".join(r["heavy"]) if r["heavy"] else "no"
            row += (f" {r['median']:.2f} | {min(r['times']):.2f}-{max(r['times']):.2f} "
                    f"| {heavy} |")
        lines.append(row)
    notes = [
        f"- `{lab}`: {data[lab]['provenance']} Median of {data[lab]['repeats']} fresh "
        f"processes per command (after one untimed run), suite `{data[lab]['suite']}`."
        for lab in labels
    ]
    notes.append(
        "- Compare labels measured on the same CPU kind only (see each label's machine); "
        "`dermviz` commands run as `python -m dermviz` with the checkout first on PYTHONPATH."
    )
    payload = json.dumps(data, indent=1, sort_keys=True)
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + f"\n\n<!-- {DATA_TAG}\n{payload}\n-->\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", choices=LABELS, required=True,
                        help="which column group this run fills")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder holding --suite (default: build a smoke demo in a temp dir)")
    parser.add_argument("--suite", default="demo-smoke", help="suite for `dermviz info --suite`")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    with tempfile.TemporaryDirectory(prefix="dermviz-startup-") as tmp:
        models, suite = args.models_dir, args.suite
        if models is None:
            models = Path(tmp)
            print("building a smoke demo suite (not timed) ...", file=sys.stderr, flush=True)
            suite = build_suite(models)
        elif not (models / suite).is_dir():
            parser.error(f"no suite {suite!r} under {models}")
        results = measure(models.resolve(), suite, repeats=args.repeats)

    data = read_data(args.results)
    data[args.label] = {
        "provenance": provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)]),
        "repeats": args.repeats,
        "suite": suite,
        "results": results,
    }
    body = render(data)
    print(f"## {TITLE}\n\n{body}")
    if not args.no_write:
        write_section(TITLE, body, path=args.results)
        print(f"updated {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
