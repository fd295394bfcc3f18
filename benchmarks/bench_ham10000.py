"""Benchmark: a small HAM10000 suite trained end to end with ``dermviz train``.

Runs ``dermviz train --data DATA --config CONFIG --name NAME`` in a subprocess (timed, data
loading and GradCAM precomputation included) into a fresh models folder, then reads the suite's
hold-out metrics and writes the "HAM10000 suite" section of benchmarks/RESULTS.md.

    python benchmarks/bench_ham10000.py --data HAM10000_FOLDER [--config CONFIG]

About 30 minutes on 2 CPU cores with the default config (2 members, 128 px, 4 epochs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # `python benchmarks/bench_ham10000.py` from the repo root
    sys.path.insert(0, str(REPO))

from benchmarks.results import provenance, write_section  # noqa: E402

TITLE = "HAM10000 suite: `dermviz train` end to end"
TRAIN_KEYS = ("image_size", "n_members", "recipe", "max_train", "epochs", "batch_size",
              "learning_rate", "lr_schedule", "patience", "augment", "weights",
              "gradcam_layer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="HAM10000 folder")
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "ham10000-128.toml")
    parser.add_argument("--name", default="ham128")
    parser.add_argument("--out", type=Path, default=None, help="models dir (default: temp)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no HAM10000 folder at {args.data}")

    from dermviz.models.suite import Suite

    out = args.out or Path(tempfile.mkdtemp(prefix="dermviz-bench-ham-"))
    cmd = [sys.executable, "-m", "dermviz", "--models-dir", str(out), "train",
           "--data", str(args.data), "--config", str(args.config), "--name", args.name,
           "--overwrite"]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    wall = time.perf_counter() - start

    suite = Suite(out / args.name)
    table = suite.metrics_table()
    train = suite.config
    settings = ", ".join(f"{k} {train[k]}" for k in TRAIN_KEYS if k in train)
    lines = [
        provenance(),
        "",
        f"- Data: {suite.dataset_info.get('name', 'HAM10000')}, the paper's hold-out; "
        f"suite settings: {settings}.",
        f"- Wall time, `dermviz train` end to end: **{wall / 60:.1f} min** for "
        f"{len(suite.member_ids)} members ({wall / 60 / max(len(suite.member_ids), 1):.1f} min "
        "each).",
        "",
        "| member | hold-out AUC | accuracy | sensitivity | specificity | threshold |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r.member} | {r.auc:.3f} | {r.accuracy:.3f} | {r.sensitivity:.3f} "
            f"| {r.specificity:.3f} | {r.threshold:.3f} |"
            for r in table.itertuples()
        ],
        f"| mean | {table['auc'].mean():.3f} | {table['accuracy'].mean():.3f} | | | |",
        f"| sd over seeds | {table['auc'].std(ddof=1):.3f} | {table['accuracy'].std(ddof=1):.3f} "
        "| | | |" if len(table) > 1 else "",
        "",
        "For comparison see docs/protocol.md §7 (the paper's members) and docs/stack.md §6 (a "
        "from-scratch run on the whole pool).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
