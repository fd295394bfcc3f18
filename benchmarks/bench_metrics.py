"""A deletion curve's cost: dermviz's batched curve vs its forward passes' floor vs one
forward pass per step (how Quantus computes its perturbation curves).

On ``build_inception(--size, seed=0)`` (timing does not depend on the weights; 112 px is
the demo's size), a ``--steps``-step deletion curve (:class:`dermviz.evaluation.Deletion`,
8 px patches, black fill) of ``--images`` synthetic lesions with random maps, so
``images x (steps + 1)`` forward passes, is timed three ways:

(a) ``floor``: the same number of images, already built, in one batched predict
    (:func:`dermviz.models.predict.predict_proba`, ``--batch-size`` per call): no curve
    can cost less;
(b) ``dermviz``: the metric itself (ranking, perturbed images built lazily, full batches);
(c) ``unbatched``: the same perturbed images, one forward pass of one image per step
    (Quantus's ``PixelFlipping`` and ``RegionPerturbation`` call the model once per step).

Every variant is warmed up (tracing) first; then they take turns, ``--repeats`` rounds,
and the best round per variant is reported with its ratio to the floor. The goal for (b)
is <= 1.2x the floor.

Usage::

    python benchmarks/bench_metrics.py [--size 112] [--images 8] [--steps 20] [--no-write]
    python benchmarks/bench_metrics.py --quick --no-write      # a check that it runs

Writes the ``## Deletion curve: batched vs the forward floor`` section of
``benchmarks/RESULTS.md`` (or of ``--results PATH``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_metrics.py` from the repo root
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.bench_gradcam import _images  # noqa: E402
from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE = "Deletion curve: batched vs the forward floor"
GOAL = 1.2
VARIANTS = ("floor", "dermviz", "unbatched")
QUICK = {"images": 2, "repeats": 1}


def unbatched_curves(model_fn: Callable[[np.ndarray], np.ndarray], metric: Any,
                     images: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """The metric's curves with one forward pass of one image per step (Quantus's way)."""
    from dermviz.evaluation.faithfulness import feature_ranks, fill_image, patch_labels

    labels = patch_labels(images.shape[1:3], metric.patch)
    curves = np.empty((len(images), metric.n_steps + 1))
    for k, (image, saliency) in enumerate(zip(images, maps, strict=True)):
        ranks = feature_ranks(saliency, labels, order=metric.order)
        fill = fill_image(image, metric.replacement, blur_sigma=metric.blur_sigma)
        for step, f in enumerate(metric.fractions):
            replaced = ranks < round(f * (int(ranks.max()) + 1))
            curves[k, step] = model_fn(np.where(replaced[..., None], fill, image)[None])[0]
    return curves


def measure(size: int, n_images: int, steps: int, batch_size: int,
            repeats: int) -> dict[str, Any]:
    """Best and median seconds of every variant, and the largest curve difference."""
    from dermviz.evaluation import Deletion, keras_model_fn
    from dermviz.models.inception import build_inception
    from dermviz.models.predict import predict_proba

    model = build_inception(size, seed=0)
    model_fn = keras_model_fn(model, batch_size=batch_size)
    images = _images(size, n_images)
    maps = np.random.default_rng(0).random(images.shape[:3])
    metric = Deletion(n_steps=steps, replacement="black", batch_size=batch_size)
    stack = np.repeat(images, steps + 1, axis=0)  # as many images as the curve's passes
    calls: dict[str, Callable[[], Any]] = {
        "floor": lambda: predict_proba(model, stack, batch_size=batch_size),
        "dermviz": lambda: metric.curves(model_fn, images, maps),
        "unbatched": lambda: unbatched_curves(model_fn, metric, images, maps),
    }
    for fn in calls.values():  # trace every batch shape once
        fn()
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(repeats):
        for variant, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[variant].append(time.perf_counter() - t0)
    diff = float(np.abs(calls["dermviz"]() - calls["unbatched"]()).max())
    return {"best": {v: min(t) for v, t in times.items()},
            "median": {v: float(np.median(t)) for v, t in times.items()},
            "passes": len(stack), "max_curve_diff": diff}


def render(r: dict[str, Any], *, size: int, n_images: int, steps: int, batch_size: int,
           repeats: int) -> str:
    """The RESULTS.md section body (without provenance)."""
    best, med, n = r["best"], r["median"], r["passes"]
    labels = {"floor": "(a) forward floor, one batched predict",
              "dermviz": "(b) dermviz deletion curve (batched)",
              "unbatched": "(c) one forward pass per step (Quantus's way)"}
    lines = ["| variant | forward passes | seconds | ms per pass | / (a) |",
             "|---|---|---|---|---|"]
    for v in VARIANTS:
        ratio = best[v] / best["floor"]
        shown = f"**{ratio:.2f}**" if v == "dermviz" else f"{ratio:.2f}"
        lines.append(f"| {labels[v]} | {n} | {best[v]:.2f} | {best[v] / n * 1e3:.1f} | {shown} |")
    ratio = best["dermviz"] / best["floor"]
    bullets = [
        f"Settings: `build_inception({size}, seed=0)`, {n_images} synthetic lesions, random "
        f"maps, a {steps}-step deletion curve on 8 px patches with a black fill "
        f"({n} forward passes), {batch_size} images per batch; best of {repeats} "
        "interleaved rounds.",
        f"Goal (b) / (a) <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'} ({ratio:.2f}; "
        f"median rounds {med['dermviz'] / med['floor']:.2f}).",
        f"One pass per step costs {best['unbatched'] / best['dermviz']:.1f}x the batched "
        f"curve (median rounds {med['unbatched'] / med['dermviz']:.1f}x).",
        f"(b) and (c) give the same curves: max |difference| {r['max_curve_diff']:.1e}.",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {b}" for b in bullets) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help=f"a check that it runs: {QUICK['images']} images, 1 round")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the results file to write (default benchmarks/RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="do not write any results file")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats = QUICK["images"], QUICK["repeats"]
    if min(args.images, args.steps, args.batch_size, args.repeats) < 1:
        parser.error("--images, --steps, --batch-size and --repeats must be >= 1")
    r = measure(args.size, args.images, args.steps, args.batch_size, args.repeats)
    body = render(r, size=args.size, n_images=args.images, steps=args.steps,
                  batch_size=args.batch_size, repeats=args.repeats)
    body = f"{provenance()}\n\n{body}"
    print(f"## {TITLE}\n\n{body}")
    if not args.no_write:
        write_section(TITLE, body, path=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
