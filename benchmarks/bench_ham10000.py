"""Benchmark: a small HAM10000 suite trained end to end with ``dermviz train``.

Runs ``dermviz train --data DATA --config CONFIG --name NAME`` in a subprocess (timed, data
loading and GradCAM precomputation included) into a fresh models folder, then reads the suite's
hold-out metrics and writes the "HAM10000 suite" section of benchmarks/RESULTS.md.

    python benchmarks/bench_ham10000.py --data HAM10000_FOLDER [--config CONFIG]
    python benchmarks/bench_ham10000.py --data HAM10000_FOLDER --existing models/ham-auc

About 30 minutes on 2 CPU cores with the default config (2 members, 128 px, 4 epochs);
``configs/ham10000-auc.toml`` (3 members, whole pool, 10 epochs) takes hours.
``--existing`` reports a suite trained earlier (for instance at low priority beside other
work, or resumed across sessions, when its wall time means nothing): instead of the wall
time it times ``--steps`` training steps of the suite's model and batch size on this
machine and gives the training time they imply (steps per epoch x epochs run, per member),
beside the fit time each member's trainer recorded and the CPU it ran on.
``--baseline OTHER`` adds what the settings that differ between the two suites bought,
member by member where the two share a seed (same split, same initial weights), e.g. a
one-member suite trained with ``dermviz train ... --members 1 --lr-schedule constant``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    parser.add_argument("--xla", choices=["auto", "on", "off"], default="auto",
                        help="passed to `dermviz train` (XLA on the training step)")
    parser.add_argument("--existing", type=Path, default=None,
                        help="report this trained suite instead of training one")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a suite differing in some settings: report what they bought")
    parser.add_argument("--steps", type=int, default=20,
                        help="with --existing: training steps to time")
    parser.add_argument("--label", default=None,
                        help="a variant's name, added to the section's title (a one-member "
                             "comparison keeps the reference suite's section)")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no HAM10000 folder at {args.data}")

    from dermviz.models.suite import Suite

    if args.existing is not None:
        suite = Suite(args.existing)
        timing = existing_timing(suite, steps=args.steps)
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="dermviz-bench-ham-"))
        cmd = [sys.executable, "-m", "dermviz", "--models-dir", str(out), "train",
               "--data", str(args.data), "--config", str(args.config), "--name", args.name,
               "--xla", args.xla, "--overwrite"]
        env = {**os.environ,
               "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, cwd=REPO)
        wall = time.perf_counter() - start
        suite = Suite(out / args.name)
        n = max(len(suite.member_ids), 1)
        timing = (f"- Wall time, `dermviz train --xla {args.xla}` end to end: "
                  f"**{wall / 60:.1f} min** for {len(suite.member_ids)} members "
                  f"({wall / 60 / n:.1f} min each).")
    table = suite.metrics_table()
    train = suite.config
    settings = ", ".join(f"{k} {train[k]}" for k in TRAIN_KEYS if k in train)
    lines = [
        provenance(),
        "",
        f"- Data: {suite.dataset_info.get('name', 'HAM10000')}, the paper's hold-out; "
        f"suite settings: {settings}.",
        timing,
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
        *epoch_lines(suite),
        "",
        *([*ablation_lines(suite, Suite(args.baseline)), ""]
          if args.baseline is not None else []),
        "For comparison see docs/protocol.md §7 (the paper's members) and docs/stack.md §6 (a "
        "from-scratch run on the whole pool).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(f"{TITLE}: {args.label}" if args.label else TITLE, text)
    return 0


def epoch_lines(suite: Any) -> list[str]:
    """What keeping the best epoch by validation AUC bought each member (from its history)."""
    lines = ["Early stopping keeps the epoch with the best validation AUC; each member's "
             "validation AUC there and at its last epoch (the model a fixed-length run keeps):",
             "", "| member | epochs run | epoch kept | val AUC kept | val AUC last | bought |",
             "|---|---|---|---|---|---|"]
    for mid in suite.member_ids:
        val_auc = _val_auc(suite, mid)
        if not val_auc:
            continue
        kept = int(suite.member(mid).get("best_epoch", max(range(len(val_auc)),
                                                           key=val_auc.__getitem__)))
        lines.append(f"| {mid} | {len(val_auc)} | {kept + 1} | {val_auc[kept]:.3f} "
                     f"| {val_auc[-1]:.3f} | {val_auc[kept] - val_auc[-1]:+.3f} |")
    return lines


def ablation_lines(suite: Any, baseline: Any) -> list[str]:
    """What the settings in which ``suite`` differs from ``baseline`` bought, per shared seed.

    Members are paired by seed (same split and initial weights), so the pair differs only in
    the settings named (and in float32 round-off, which grows over the steps: the suite's
    sd over seeds says how large a difference noise alone makes).
    """
    ours, theirs = suite.config, baseline.config
    differ = [k for k in sorted(set(ours) | set(theirs))
              if k not in ("n_members",) and ours.get(k) != theirs.get(k)]
    by_seed = {baseline.member(mid)["seed"]: mid for mid in baseline.member_ids}
    seeds = {mid: suite.member(mid)["seed"] for mid in suite.member_ids}
    pairs = [(mid, by_seed[seed]) for mid, seed in seeds.items() if seed in by_seed]
    if not pairs:
        return [f"The baseline {baseline.path.name} shares no member seed with this suite: "
                "nothing to pair."]
    changes = [f"{k} {theirs.get(k)} -> {ours.get(k)}" for k in differ]
    # The training precision is the member's, not the config's (auto picks it per CPU).
    policies = {(_policy(baseline.member(other)), _policy(suite.member(mid)))
                for mid, other in pairs}
    changes += [f"training policy {a} -> {b}" for a, b in sorted(policies) if a != b]
    changed = ", ".join(changes) or "nothing"
    lines = [f"What the settings that differ bought ({changed}), against the suite "
             f"`{baseline.path.name}`, member by member with the same seed (validation AUC "
             "at the epoch each kept, and the baseline's at its last epoch):", "",
             "| member | seed | hold-out AUC | baseline's | bought | val AUC kept "
             "| baseline's (epoch kept / run) | baseline's last |",
             "|---|---|---|---|---|---|---|---|"]
    for mid, other in pairs:
        a, b = suite.member(mid), baseline.member(other)
        val_auc = _val_auc(baseline, other)
        kept = b.get("best_epoch")
        kept_text = f"{'?' if kept is None else kept + 1} / {len(val_auc)}"
        lines.append(f"| {mid} | {a['seed']} | {a['holdout']['auc']:.3f} "
                     f"| {b['holdout']['auc']:.3f} "
                     f"| {a['holdout']['auc'] - b['holdout']['auc']:+.3f} "
                     f"| {_fmt(a.get('val_auc'))} | {_fmt(b.get('val_auc'))} ({kept_text}) "
                     f"| {_fmt(val_auc[-1] if val_auc else None)} |")
    for whose, which in (("The baseline's", baseline), ("This suite's", suite)):
        fits = [f"{mid} {m['fit_seconds'] / 60:.0f} min on "
                f"{m.get('machine', {}).get('cpu', '?')}"
                for mid in which.member_ids
                if (m := which.member(mid)).get("fit_seconds") is not None]
        if fits:
            lines += ["", f"{whose} fit times, recorded by its trainer: {'; '.join(fits)}."]
    return lines


def _policy(member: dict[str, Any]) -> str:
    """The Keras dtype policy a member trained under (members from before it was recorded
    trained in float32 on a CPU)."""
    return str(member.get("policy", "float32 (not recorded)"))


def _val_auc(suite: Any, mid: str) -> list[float]:
    """A member's validation AUC per epoch (empty when its history has none)."""
    history = suite.history(mid)
    return history["val_auc"].tolist() if "val_auc" in history else []


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def existing_timing(suite: Any, *, steps: int) -> str:
    """Time ``steps`` training steps of the suite's model here; the training time implied."""
    import keras
    import numpy as np

    from dermviz.models.config import TrainConfig
    from dermviz.models.fit import build_member, make_optimizer

    config = TrainConfig.from_dict(suite.config)
    model = build_member(config, seed=0)
    model.compile(optimizer=make_optimizer(config), loss="binary_crossentropy")
    rng = np.random.default_rng(0)
    n = config.batch_size * steps
    x = rng.uniform(0, 255, (n, config.image_size, config.image_size, 3)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    model.fit(x[: config.batch_size * 2], y[: config.batch_size * 2],
              batch_size=config.batch_size, epochs=1, verbose=0)  # graph building
    start = time.perf_counter()
    model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0)
    per_step = (time.perf_counter() - start) / steps
    keras.backend.clear_session()
    lines = [f"- Trained earlier (not timed end to end: `--existing`). Here, one training "
             f"step of batch {config.batch_size} at {config.image_size} px takes "
             f"**{per_step:.2f} s** ({steps} steps timed, at the load average above); "
             "what that implies per member:", ""]
    for mid in suite.member_ids:
        member = suite.member(mid)
        n_train = int(member.get("split", {}).get("n_train", 0))
        epochs = len(suite.history(mid)) or config.epochs
        steps_per_epoch = -(-n_train // config.batch_size)
        minutes = per_step * steps_per_epoch * epochs / 60
        recorded = ""
        if member.get("fit_seconds") is not None:  # timed by the trainer itself
            cpu = member.get("machine", {}).get("cpu", "an unrecorded CPU")
            recorded = (f"; the trainer recorded **{member['fit_seconds'] / 60:.0f} min** "
                        f"on {cpu}")
        lines.append(f"  - {mid}: {n_train} training images, {steps_per_epoch} steps x "
                     f"{epochs} epochs: about **{minutes:.0f} min** of training{recorded}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
