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

Two more sections:

* "Precision variants (issue 25)": why bfloat16 disagrees. bfloat16 twins that keep a
  part in float32 (BatchNorm, the stem before ``mixed0``, the pooling and dense head;
  :func:`dermviz.models.precision.float32_parts`), and the float32 model fed the
  bfloat16-rounded image (what rounding the input alone does): ms per image and
  ``|p - p_float32|``.
* "Precision: float32 vs the chosen path (issue 25)": per member, the measured choice
  (:meth:`dermviz.models.suite.Suite.precision_choice`, measured afresh in a temporary
  cache), and GradCAM (``--gradcam-images``) and KernelSHAP (``--shap-images`` at
  ``--nsamples``, Leverage SHAP, the same seed in both) per image in float32 and in
  bfloat16 (forced), with their maps' agreement: GradCAM's smallest SSIM; KernelSHAP's
  RMS change of the superpixel values beside the float32 map's own split-half RMS error
  (:func:`dermviz.explain.noise.change_against_noise`), and on how many images the
  change stays within that noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import (  # noqa: E402
    RESULTS,
    kind_tag,
    provenance,
    suite_or_smoke,
    write_section,
)

TITLE = "Precision candidates (issue 25{})"
VARIANTS_TITLE = "Precision variants (issue 25{})"
CHOSEN_TITLE = "Precision: float32 vs the chosen path (issue 25{})"
VARIANTS = ((), ("batchnorm",), ("head",), ("stem",), ("stem", "head"))
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


def _timed_p(net, images: np.ndarray, *, batch: int) -> tuple[np.ndarray, float]:
    from dermviz.models.precision_choice import probe_p, time_forward

    ms = time_forward(net, images, batch=batch, repeats=1)
    return probe_p(net, images, batch=batch), ms


def measure_variants(model, images: np.ndarray, *, batch: int) -> list[dict]:
    """ms per image and ``|p - p_float32|`` of partial bfloat16 twins, and of the float32
    model on the bfloat16-rounded image."""
    import tensorflow as tf

    from dermviz.models.precision import precision_twin

    p32, ms32 = _timed_p(model, images, batch=batch)
    rounded = tf.cast(tf.cast(images, tf.bfloat16), tf.float32).numpy()
    rows = []
    for keep in VARIANTS:
        p, ms = _timed_p(precision_twin(model, "bfloat16", keep_float32=keep), images,
                         batch=batch)
        rows.append({"variant": "bfloat16" + (f", {' + '.join(keep)} float32" if keep else
                                              " (all but the output)"),
                     "ms": ms, "speedup": ms32 / ms, "gap": np.abs(p - p32)})
    p, ms = _timed_p(model, rounded, batch=batch)
    rows.append({"variant": "float32 on the bfloat16-rounded image", "ms": ms,
                 "speedup": ms32 / ms, "gap": np.abs(p - p32)})
    return rows


def variants_report(per_member: dict[str, list[dict]], *, n: int, tolerance: float) -> str:
    lines = [f"Why the bfloat16 twin disagrees: {n} hold-out images per member; the same "
             f"agreement criterion (largest `|p - p_float32|` within {tolerance:g}).", "",
             "| member | variant | ms per image | vs float32 | max abs diff in p | 95th pct "
             "| median | agrees |", "|---|---|---|---|---|---|---|---|"]
    for mid, rows in per_member.items():
        for r in rows:
            g = r["gap"]
            lines.append(f"| {mid} | {r['variant']} | {r['ms']:.2f} | {r['speedup']:.2f}x "
                         f"| {g.max():.1e} | {np.quantile(g, 0.95):.1e} | {np.median(g):.1e} "
                         f"| {'yes' if g.max() <= tolerance else 'no'} |")
    lines.append("")
    names = [r["variant"] for r in next(iter(per_member.values()))]
    for k, name in enumerate(names[1:], start=1):
        ratio = np.median([rows[k]["gap"].max() / max(rows[0]["gap"].max(), 1e-12)
                           for rows in per_member.values()])
        speed = np.median([rows[k]["speedup"] for rows in per_member.values()])
        lines.append(f"- {name}: the largest disagreement is {ratio:.2g}x the all-bfloat16 "
                     f"twin's, at {speed:.2f}x float32's speed (medians over members).")
    agreeing = {mid: [r["variant"] for r in rows[:-1] if r["gap"].max() <= tolerance]
                for mid, rows in per_member.items()}
    refused = [mid for mid, names_ in agreeing.items() if not names_]
    lines.append(f"- No bfloat16 variant meets {tolerance:g} on {', '.join(refused)}: the "
                 "measured choice keeps float32 arithmetic there." if refused else
                 f"- Every member has a bfloat16 variant within {tolerance:g}.")
    return "\n".join(lines)


def measure_methods(suite, mid: str, choice, *, gradcam_images: np.ndarray,
                    shap_images: np.ndarray, nsamples: int) -> dict:
    """GradCAM and KernelSHAP per image in float32 and bfloat16, and their agreement."""
    from dermviz.explain.base import make_explainer
    from dermviz.explain.noise import change_against_noise
    from dermviz.models.precision_choice import min_ssim, working_model

    layer = suite.config["gradcam_layer"]
    float32 = suite.load_float32_model(mid)
    nets = {"float32": float32, "bfloat16": suite.load_model(mid, precision="bfloat16"),
            "chosen": working_model(float32, choice, layer=layer)}
    out: dict = {}
    # Leverage SHAP: each map carries its own split-half error, the noise bfloat16's
    # change is read against.
    shap = {"nsamples": nsamples, "sampler": "leverage"}
    for method, images, params in (("gradcam", gradcam_images, {"layer": layer}),
                                   ("kernelshap", shap_images, shap)):
        maps = {}
        for precision, net in nets.items():
            explainer = make_explainer(net, method, params)
            explainer.explain(images)  # trace (and compile) for this batch's shape
            t0 = time.perf_counter()
            maps[precision] = explainer.explain(images)
            out[(method, precision)] = 1000 * (time.perf_counter() - t0) / len(images)
        a, b = maps["float32"], maps["bfloat16"]
        out[(method, "p_gap")] = float(np.abs(a.p_melanoma - b.p_melanoma).max())
        if method == "gradcam":
            out[(method, "agreement")] = f"smallest SSIM {min_ssim(a.maps, b.maps):.3f}"
        else:
            change, noise = change_against_noise(a.extras, b.extras)
            out[(method, "agreement")] = (
                f"RMS change {change.mean():.1e}, split-half noise {noise.mean():.1e}: "
                f"within the noise on {int((change <= noise).sum())} of {len(change)} "
                f"(float32 map's largest abs {np.abs(a.maps).max():.1e})")
    return out


def chosen_report(suite, choices: dict, methods: dict, *, n_cam: int, n_shap: int,
                  nsamples: int) -> str:
    lines = [f"Suite `{suite.name}` ({suite.image_size} px, layer "
             f"{suite.config['gradcam_layer']}). The measured choice (fastest candidate "
             "whose p(melanoma) on the 32-image probe batch is within 1e-3 of float32's and "
             "whose GradCAM maps keep SSIM >= 0.99), then GradCAM on "
             f"{n_cam} and KernelSHAP (Leverage SHAP, {nsamples} samples, one seed) on {n_shap} "
             "hold-out images per "
             "member, in float32, bfloat16 (forced) and the chosen path (its ratio to "
             "float32 in brackets). The choice's timings are its own, on the probe batch: "
             "on a busy machine they are noisy, and so is a choice between near-equal "
             "candidates.", "",
             "| member | chosen | method | float32 ms/img | bfloat16 ms/img | bfloat16 vs "
             "float32 | chosen ms/img | max abs diff in p | maps |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mid, choice in choices.items():
        m = methods[mid]
        for method in ("gradcam", "kernelshap"):
            f32, b16 = m[(method, "float32")], m[(method, "bfloat16")]
            chosen = m[(method, "chosen")]
            lines.append(f"| {mid} | {choice.label} | {method} | {f32:.1f} | {b16:.1f} "
                         f"| {f32 / b16:.2f}x | {chosen:.1f} ({f32 / chosen:.2f}x) "
                         f"| {m[(method, 'p_gap')]:.1e} "
                         f"| {m[(method, 'agreement')]} |")
    lines.append("")
    for mid, choice in choices.items():
        lines.append(f"- {mid}: {choice.describe()}; candidates (ms per image on the probe "
                     "batch): " + ", ".join(f"{k} {v:.1f}" for k, v in choice.timings.items())
                     + ".")
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
    parser.add_argument("--variants-images", type=int, default=96)
    parser.add_argument("--gradcam-images", type=int, default=32)
    parser.add_argument("--shap-images", type=int, default=2)
    parser.add_argument("--nsamples", type=int, default=500)
    parser.add_argument("--skip-candidates", action="store_true",
                        help="only the variants and the chosen path")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    with suite_or_smoke(args.suite, prefix="bench-precision-", explain=False,
                        prepare=False) as path:
        from dermviz.models.suite import Suite

        suite = Suite(path)
        data = suite.dataset()
        ids = list(data.holdout["image_id"])[: args.images]
        images = data.load_images(ids, size=suite.image_size).astype(np.float32)
        per_member, variants, choices, methods = {}, {}, {}, {}
        for mid in suite.member_ids:
            model = suite.load_float32_model(mid)
            if not args.skip_candidates:
                per_member[mid] = measure_member(model, images, batch=args.batch,
                                                 repeats=args.repeats)
                print(mid, [(r["candidate"], round(r["ms"], 2), f"{r['max']:.1e}")
                            for r in per_member[mid]], flush=True)
            variants[mid] = measure_variants(model, images[: args.variants_images],
                                             batch=args.batch)
            print(mid, [(r["variant"], round(r["ms"], 2), f"{r['gap'].max():.1e}")
                        for r in variants[mid]], flush=True)
            with tempfile.TemporaryDirectory() as cache:
                os.environ["DERMVIZ_PRECISION_CACHE"] = cache
                choices[mid] = Suite(path).precision_choice(mid, precision="auto",
                                                            model=model)
            methods[mid] = measure_methods(
                suite, mid, choices[mid], gradcam_images=images[: args.gradcam_images],
                shap_images=images[: args.shap_images], nsamples=args.nsamples)
            print(mid, choices[mid].describe(), methods[mid], flush=True)
        sections = {
            VARIANTS_TITLE: variants_report(variants, n=min(len(ids), args.variants_images),
                                            tolerance=args.tolerance),
            CHOSEN_TITLE: chosen_report(suite, choices, methods,
                                        n_cam=min(len(ids), args.gradcam_images),
                                        n_shap=min(len(ids), args.shap_images),
                                        nsamples=args.nsamples),
        }
        if per_member:
            sections[TITLE] = report(suite, per_member, n=len(ids), batch=args.batch,
                                     tolerance=args.tolerance)
    stamp = "- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    busy = load_note()
    for title, body in sections.items():
        body = body + ("\n" + busy if busy and title != TITLE else "") + "\n" + stamp
        title = title.format(kind_tag())
        print(f"## {title}\n\n{body}\n")
        if not args.no_write:
            write_section(title, body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
