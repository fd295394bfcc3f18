"""Benchmark: what each CPU switch buys a fit's training step (the demo's profile).

Every variant fits demo-profile members (synthetic data, InceptionV3 from scratch) in a
process of its own, one epoch each, and times from a Keras callback:

- the first step (graph tracing and, with XLA, compilation) and the steady step (the
  median of the rest);
- a second member fitted in the same process with the first one's compiled model
  (:class:`dermviz.models.fit.CompiledFits`, what a suite does): its first step.

Variants: TensorFlow's defaults; XLA on the training step (``device={"xla": "on"}``);
TensorFlow's thread pools at 2 intra-op / 1 inter-op threads; Keras ``mixed_bfloat16``
(``DERMVIZ_PRECISION=bfloat16``, issue 25), alone and with XLA; the instruction set capped at
AVX2 (``ONEDNN_MAX_CPU_ISA`` and XLA's ``--xla_cpu_max_isa``), alone and with XLA; each at
``--sizes``.
Writes the "Training step on a CPU (<kind>)" section of benchmarks/RESULTS.md, one per CPU
kind (AVX-512, or AVX2 only).

    python benchmarks/bench_fit_step.py [--sizes 128,112] [--variants base,xla,threads]
        [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import cpu_kind, provenance, write_section  # noqa: E402

#: Instruction sets capped at AVX2 on this CPU (oneDNN's kernels and XLA's code): what an
#: AVX2-only CPU's instructions cost here. A real AVX2 machine also differs in clock, caches
#: and cores, so this bounds the instruction set's share of its slowdown, not all of it.
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
BFLOAT16 = {"DERMVIZ_PRECISION": "bfloat16"}

#: name: (device switches, thread pools, environment, label)
VARIANTS = {
    "base": ({}, None, {}, "TensorFlow's defaults"),
    "xla": ({"xla": "on"}, None, {}, "XLA on the training step"),
    "threads": ({}, (2, 1), {}, "2 intra-op / 1 inter-op threads"),
    "bf16": ({}, None, BFLOAT16, "mixed_bfloat16 (float32 variables and loss)"),
    "bf16_xla": ({"xla": "on"}, None, BFLOAT16, "mixed_bfloat16 and XLA"),
    "avx2": ({}, None, AVX2_ONLY, "instruction set capped at AVX2"),
    "avx2_xla": ({"xla": "on"}, None, AVX2_ONLY, "instruction set capped at AVX2, XLA"),
}


def child(variant: str, size: int, out: Path) -> dict:
    """Runs in the variant's own process: two members, the second sharing the model."""
    device, threads, _, _ = VARIANTS[variant]
    if threads:  # before TensorFlow starts
        from dermviz.explain.parallel import configure_threads
        configure_threads(*threads)
    import keras
    import numpy as np

    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.fit import CompiledFits, SplitRows, fit_member
    from dermviz.models.image_cache import ImageCache
    from dermviz.models.profiles import PROFILES
    from dermviz.models.seeds import fit_seed, member_seed
    from dermviz.models.workspace import build_caches, member_splits, split_record

    profile = PROFILES["default"]
    config = profile.train.replace(image_size=size, epochs=1, n_members=2)
    data = make_synthetic(profile.data)
    splits = member_splits(config, data.pool, [member_seed(config.seed, i) for i in (0, 1)])
    caches = build_caches(out, data, splits, size=size, progress=False)
    pool, holdout = ImageCache(caches.pool), ImageCache(caches.holdout)

    class Steps(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            self.marks = [time.perf_counter()]

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.marks.append(time.perf_counter())

    compiled = CompiledFits()
    fits = []
    for split in splits:
        steps = Steps()
        start = time.perf_counter()
        fit = fit_member(config, SplitRows.from_record(split_record(split, caches.row_of)),
                         pool, holdout, seed=fit_seed(split.seed, 0), device=device,
                         callbacks=[steps], compiled=compiled)
        gaps = np.diff(steps.marks)
        fits.append({"policy": fit.policy, "first_step": float(gaps[0]),
                     "steady_step": float(np.median(gaps[1:])),
                     "steps": len(gaps), "member_seconds": time.perf_counter() - start,
                     "reused": fit.reused, "jit": fit.device["jit_compile"],
                     "seconds": fit.seconds})
    return {"variant": variant, "size": size, "fits": fits}


def run_variant(variant: str, size: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dermviz-fitstep-") as tmp:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **VARIANTS[variant][2]}
        proc = subprocess.run(
            [sys.executable, __file__, "--child", variant, str(size), tmp],
            env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"variant {variant} at {size} px failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def render(results: list[dict], prov: str) -> str:
    base = {r["size"]: r["fits"][0]["steady_step"] for r in results if r["variant"] == "base"}
    lines = [
        prov, "",
        "Demo profile (synthetic data, batch 32, InceptionV3 from scratch), one epoch per "
        "member, each variant in a fresh process. First step: tracing (and XLA's "
        "compilation). Steady step: the median of the other steps. The second member "
        "shares the first one's compiled model, as a suite's members do.", "",
        "| switch | px | steps | first step (s) | steady step (s) | speed-up of the steady "
        "step | second member's first step (s) | seconds per member: first, second |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first, second = r["fits"]
        ref = base.get(r["size"])
        gain = f"{ref / first['steady_step']:.2f}x" if ref else "n/a"
        lines.append(
            f"| {VARIANTS[r['variant']][3]} | {r['size']} | {first['steps']} | "
            f"{first['first_step']:.1f} | {first['steady_step']:.2f} | {gain} | "
            f"{second['first_step']:.1f} | {first['member_seconds']:.0f}, "
            f"{second['member_seconds']:.0f} |")
    lines += ["", "Steady steps vary by about 10% between runs on a shared machine; compare "
              "rows of one run."]
    return "\n".join(lines)


def section_title(flags: frozenset[str] | None = None) -> str:
    """One section per CPU kind: what pays on one (XLA) does not on the other."""
    return f"Training step on a CPU ({cpu_kind(flags)}): what each switch buys"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128", help="image sizes, comma-separated")
    parser.add_argument("--variants", default="base,xla,threads",
                        help=f"comma-separated, from {sorted(VARIANTS)}")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        for variant in variants:
            results.append(run_variant(variant, size))
            print(json.dumps(results[-1]), file=sys.stderr)
    text = render(results, provenance())
    print(text)
    if not args.no_write:
        write_section(section_title(), text)


if __name__ == "__main__":
    main()
