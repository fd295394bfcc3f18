"""float32 or bfloat16, with or without XLA: speed and agreement of a suite's forward pass.

For every member of a suite (default: a fresh smoke demo suite, built in a temporary
folder) it runs the hold-out through four candidates, each a ``tf.function`` of the
member or of its bfloat16 twin (:func:`dermviz.models.precision.precision_twin`), with
and without ``jit_compile``:

* milliseconds per image at the given batch size (after one warm-up batch, the best of
  ``--repeats`` passes over the first batches);
* how far p(melanoma) moves from the float32 model's on every hold-out image: maximum,
  95th percentile and median of ``|p - p_float32|``, and whether the maximum stays within
  ``--tolerance`` (1e-3: the agreement issue 25 asks of a precision before it may be used).

The choice a measured policy would make is the fastest candidate that agrees. Writes the
"Precision candidates (issue 25)" section of benchmarks/RESULTS.md, with the CPU's
bfloat16 flags.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import (  # noqa: E402
    RESULTS,
    provenance,
    suite_or_smoke,
    write_section,
)

TITLE = "Precision candidates (issue 25)"
CANDIDATES = (("float32", False), ("bfloat16", False), ("float32", True), ("bfloat16", True))


def _label(precision: str, xla: bool) -> str:
    return precision + (" + XLA" if xla else "")


def measure_member(model, images: np.ndarray, *, batch: int, repeats: int
                   ) -> list[dict]:
    """One row per candidate: ms per image and ``|p - p_float32|`` over ``images``."""
    import tensorflow as tf

    from dermviz.models.precision import precision_twin

    twins = {"float32": model, "bfloat16": precision_twin(model, "bfloat16")}
    timed = images[: max(batch, min(len(images), 2 * batch))]
    rows, reference = [], None
    for precision, xla in CANDIDATES:
        net = twins[precision]
        forward = tf.function(lambda x, net=net: net(x, training=False), jit_compile=xla)
        forward(tf.constant(timed[:batch], tf.float32))  # trace (and compile)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for start in range(0, len(timed), batch):
                forward(tf.constant(timed[start:start + batch], tf.float32)).numpy()
            best = min(best, time.perf_counter() - t0)
        p = np.concatenate([
            np.asarray(forward(tf.constant(images[s:s + batch], tf.float32)), np.float64)[:, 0]
            for s in range(0, len(images), batch)])
        if reference is None:
            reference = p
        gap = np.abs(p - reference)
        rows.append({"candidate": _label(precision, xla), "ms": 1000 * best / len(timed),
                     "max": float(gap.max()), "p95": float(np.quantile(gap, 0.95)),
                     "median": float(np.median(gap))})
    base = rows[0]["ms"]
    for row in rows:
        row["speedup"] = base / row["ms"]
    return rows


def report(suite, per_member: dict[str, list[dict]], *, n: int, batch: int,
           tolerance: float) -> str:
    from dermviz.models.precision import native_bfloat16

    flags = native_bfloat16()
    lines = [
        f"- Suite `{suite.name}`: {len(per_member)} member(s), {suite.image_size} px; "
        f"{n} hold-out images, batch {batch}. This CPU's bfloat16 flags: "
        + (", ".join(flags) if flags else "none (bfloat16 is emulated)") + ".",
        f"- Agreement: the largest `|p - p_float32|` over the hold-out within {tolerance:g}.",
        "",
        "| member | candidate | ms per image | vs float32 | max abs diff in p | 95th pct "
        "| median | agrees |",
        "|---|---|---|---|---|---|---|---|",
    ]
    choices = {}
    for mid, rows in per_member.items():
        for row in rows:
            ok = row["max"] <= tolerance
            lines.append(
                f"| {mid} | {row['candidate']} | {row['ms']:.2f} | {row['speedup']:.2f}x "
                f"| {row['max']:.1e} | {row['p95']:.1e} | {row['median']:.1e} "
                f"| {'yes' if ok else 'no'} |")
        agreeing = [r for r in rows if r["max"] <= tolerance]
        choices[mid] = min(agreeing, key=lambda r: r["ms"])
    lines.append("")
    for mid, row in choices.items():
        lines.append(f"- {mid}: the fastest candidate that agrees is **{row['candidate']}** "
                     f"({row['speedup']:.2f}x float32).")
    fastest_bf16 = {mid: min((r for r in rows if r["candidate"].startswith("bfloat16")),
                             key=lambda r: r["ms"]) for mid, rows in per_member.items()}
    refused = [mid for mid, row in fastest_bf16.items() if row["max"] > tolerance]
    if refused:
        worst = max(fastest_bf16[m]["max"] for m in refused)
        lines.append(
            f"- bfloat16 moves p(melanoma) by up to {worst:.1e} on {', '.join(refused)}: "
            f"beyond {tolerance:g}, so a measured choice stays with float32 arithmetic "
            "there, whatever the speed-up.")
    busy = load_note()
    if busy:
        lines.append(busy)
    return "\n".join(lines)


def load_note(load: float | None = None, cores: int | None = None) -> str:
    """A sentence when the machine was busier than its cores (timings noisy), else ''."""
    import os

    load = os.getloadavg()[0] if load is None else load
    cores = (os.cpu_count() or 1) if cores is None else cores
    if load <= cores:
        return ""
    return (f"- The machine was busy (load {load:.1f} on {cores} cores): the milliseconds and "
            "ratios are noisy; the agreement columns do not depend on the load.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a suite folder (default: build smoke)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=200, help="hold-out images compared")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    with suite_or_smoke(args.suite, prefix="bench-precision-", explain=False,
                        prepare=False) as path:
        from dermviz.models.suite import Suite

        suite = Suite(path)
        data = suite.dataset()
        ids = list(data.holdout["image_id"])[: args.images]
        images = data.load_images(ids, size=suite.image_size).astype(np.float32)
        per_member = {}
        for mid in suite.member_ids:
            per_member[mid] = measure_member(suite.load_model(mid), images, batch=args.batch,
                                             repeats=args.repeats)
            print(mid, [(r["candidate"], round(r["ms"], 2), f"{r['max']:.1e}")
                        for r in per_member[mid]], flush=True)
        body = report(suite, per_member, n=len(ids), batch=args.batch,
                      tolerance=args.tolerance)
    body += "\n- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    print(body)
    if not args.no_write:
        write_section(TITLE, body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
