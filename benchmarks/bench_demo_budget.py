"""Benchmark: the default demo's training budget: hold-out AUC and the members' reliance on
the evidence against the number of epochs (issue 22).

Trains the default profile's members once per epoch budget (training only: no maps, no
pages), each in a fresh temporary folder, with the profile's seeds. The cosine schedule
decays over each run's own budget, so a row is what a demo built with that many epochs
would ship, not a point on one run's curve. Per budget: the training steps per member, the
training seconds per member (the first traces and compiles the step the others share), the
hold-out AUC per member and their mean, and the mean drop in p(melanoma) on the hold-out
melanomas drawn again without their evidence. The section says which budgets meet the
issue-22 goals (mean AUC >= 0.95, mean drop >= 0.4). Writes the "Demo training budget
(issue 22)" section of benchmarks/RESULTS.md.

    python benchmarks/bench_demo_budget.py [--epochs 4,5,6,8] [--set KEY=VALUE ...]
        [--out DIR] [--no-write]

``--set`` as for ``bench_demo.py`` (a variant of the default profile; the title names it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_demo import evidence_drops, variant  # noqa: E402
from benchmarks.results import provenance, write_section  # noqa: E402

#: The issue-22 goals a budget is judged against.
AUC_GOAL = 0.95
DROP_GOAL = 0.4


@dataclass(frozen=True)
class Budget:
    """One training budget's measurements."""

    epochs: int
    steps: int
    wall: float
    fit_seconds: list[float]
    aucs: list[float]
    best_epochs: list[int]  # 0-based, as the member records keep them
    drop: float
    drop_lo: float
    drop_hi: float

    @property
    def meets(self) -> bool:
        return float(np.mean(self.aucs)) >= AUC_GOAL and self.drop >= DROP_GOAL


def measure(profile, epochs: int, out: Path) -> Budget:  # noqa: ANN001
    """Train ``profile`` with ``epochs`` epochs in ``out`` and measure it."""
    from dermviz.demo import run_demo
    from dermviz.evaluation.baselines import bootstrap_ci

    cfg, _ = variant(profile, [f"epochs={epochs}"])
    start = time.perf_counter()
    suite = run_demo(profile=cfg, out_dir=out, overwrite=True, explain=False, prepare=False)
    wall = time.perf_counter() - start
    records = [suite.member(m) for m in suite.member_ids]
    steps = epochs * int(records[0]["steps_per_epoch"])  # as the fit ran them
    _, drops = evidence_drops(suite)
    mean_drop = drops.mean(axis=0)
    _, lo, hi = bootstrap_ci(mean_drop, seed=0)
    return Budget(epochs=epochs, steps=steps, wall=wall,
                  fit_seconds=[float(r["fit_seconds"]) for r in records],
                  aucs=[float(r["holdout"]["auc"]) for r in records],
                  best_epochs=[int(r["best_epoch"]) for r in records],
                  drop=float(mean_drop.mean()), drop_lo=float(lo), drop_hi=float(hi))


def report(rows: list[Budget], *, label: str, n_members: int, image_size: int,
           n_train: int) -> str:
    """The section's text: one row per budget and what meets the goals."""
    lines = [
        provenance(),
        "",
        f"- Profile `{label}`: {n_members} members, {image_size} px, {n_train} synthetic "
        "training images, the profile's seeds; training only (no maps, no pages). The cosine "
        "schedule decays over each budget's own steps, and early stopping keeps the epoch "
        "with the best validation AUC (\"kept\", counted from 1).",
        "",
        "| epochs | steps per member | training s per member | training wall s | AUC per "
        "member | kept epoch | mean AUC | drop without the evidence (95% CI) | goals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.epochs} | {r.steps} | " + ", ".join(f"{s:.0f}" for s in r.fit_seconds)
            + f" | {r.wall:.0f} | " + ", ".join(f"{a:.3f}" for a in r.aucs)
            + " | " + ", ".join(str(e + 1) for e in r.best_epochs)
            + f" | {np.mean(r.aucs):.3f} | {r.drop:.3f} ({r.drop_lo:.3f}-{r.drop_hi:.3f}) | "
            + ("met" if r.meets else "**not met**") + " |")
    met = [r for r in rows if r.meets]
    lines.append("")
    if met:
        least = min(met, key=lambda r: r.steps)
        most = max(rows, key=lambda r: r.steps)
        lines.append(
            f"- The smallest budget here that meets both goals (mean AUC >= {AUC_GOAL}, mean "
            f"drop >= {DROP_GOAL}) is **{least.epochs} epochs ({least.steps} steps a member)"
            f"**: {least.wall:.0f} s of training, {least.wall / most.wall:.2f}x the "
            f"{most.epochs}-epoch run's {most.wall:.0f} s.")
        lower = [r for r in rows if r.steps < least.steps]
        if lower:
            lines.append("- Below it: " + "; ".join(
                f"{r.epochs} epochs, mean AUC {np.mean(r.aucs):.3f} (lowest member "
                f"{min(r.aucs):.3f}), drop {r.drop:.3f}" for r in lower) + ".")
    else:
        lines.append(f"- **No budget here meets both goals** (mean AUC >= {AUC_GOAL}, mean "
                     f"drop >= {DROP_GOAL}).")
    lines.append("- One set of seeds per budget: a member's AUC also moves with its seed "
                 "(the default build's members span about 0.02), so a budget near the goal "
                 "may pass on one build and fail on another.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=lambda s: [int(x) for x in s.split(",")],
                        default=[4, 5, 6, 8], help="comma-separated epoch budgets")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training or data option of a variant of the profile")
    parser.add_argument("--out", type=Path, default=None, help="models dir (default: temp)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    if any(e < 1 for e in args.epochs):
        raise SystemExit(f"--epochs must be positive, got {args.epochs}")
    if any(item.startswith("epochs=") for item in args.set):
        raise SystemExit("--set epochs=...: give the budgets with --epochs")
    from dermviz.demo import PROFILES

    profile, changes = variant(PROFILES["default"], args.set)
    label = "default" + "".join(f", {k}={v}" for k, v in changes.items())
    out = args.out or Path(tempfile.mkdtemp(prefix="dermviz-budget-"))
    rows = []
    for epochs in sorted(set(args.epochs)):
        rows.append(measure(profile, epochs, out / f"demo-e{epochs}"))
        r = rows[-1]
        print(f"{epochs} epochs: AUC {', '.join(f'{a:.3f}' for a in r.aucs)}, drop "
              f"{r.drop:.3f}, training {r.wall:.0f} s", flush=True)
    text = report(rows, label=label, n_members=profile.train.n_members,
                  image_size=profile.train.image_size, n_train=profile.data.n_train)
    print(text)
    if not args.no_write:
        title = "Demo training budget (issue 22)" if not changes else (
            f"Demo training budget (issue 22): {label}")
        write_section(title, text)


if __name__ == "__main__":
    main()
