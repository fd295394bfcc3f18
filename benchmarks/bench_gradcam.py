"""GradCAM per image: the forward-and-backward floor vs dermviz's GradCAM vs tf-keras-vis.

On ``build_inception(--size, seed=0)`` (timing does not depend on the weights), for
each target layer, three variants are timed on the same images, in calls of
``--batch-size`` images and of one image:

(a) ``floor``: one compiled forward and backward pass to the target layer, a
    ``tf.function`` returning the gradient of the pre-sigmoid output with respect
    to the layer's output. No GradCAM can do less (it needs those gradients and
    the layer's output, which the same pass gives).
(b) ``dermviz``: :class:`dermviz.explain.GradCAM` ``explain`` (the compiled path:
    grids and p(melanoma) from one pass, vectorised upsampling to [0, 1] maps).
(c) ``tf-keras-vis``: the same explainer with ``backend="tf-keras-vis"``
    (``tf_keras_vis.gradcam.Gradcam`` after a separate prediction pass: how
    dermviz computed GradCAM before the compiled path).

Every variant is warmed up (tracing) first; then the variants take turns,
``--repeats`` rounds (so a busy spell of the shared machine hits all of them),
and the best round per variant is reported, with ratios to the floor; the
median ratios are given below the table. The goal for (b) is <= 1.5x the floor.

Usage::

    python benchmarks/bench_gradcam.py [--size 128] [--layers mixed10,mixed7] [--no-write]

Writes the ``## GradCAM per image: compiled path vs the floor`` section of
``benchmarks/RESULTS.md`` (through :func:`benchmarks.results.write_section`).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_gradcam.py` from the repo root
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.results import provenance, write_section  # noqa: E402

TITLE = "GradCAM per image: compiled path vs the floor"
GOAL = 1.5
VARIANTS = ("floor", "dermviz", "tf-keras-vis")


def _images(size: int, n: int) -> np.ndarray:
    try:
        from dermviz.data.synthetic import render_lesion

        return np.stack([
            render_lesion(seed=k, label=("mel", "nv")[k % 2], difficulty=0.0,
                          native_size=(size, size))[0]
            for k in range(n)
        ]).astype(np.float32)
    except Exception:  # the renderer is someone else's module; any image will do
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def floor_function(model: Any, layer: str) -> Callable[[np.ndarray], Any]:
    """``f(images)``: d(pre-sigmoid output)/d(layer output), one compiled pass."""
    import keras
    import tensorflow as tf

    head = model.layers[-1]
    logit = keras.ops.matmul(head.input, head.kernel) + head.bias
    graph = keras.Model(model.inputs, [model.get_layer(layer).output, logit])

    @tf.function(reduce_retracing=True)
    def run(images: Any) -> Any:
        with tf.GradientTape() as tape:
            features, z = graph(images, training=False)
            score = tf.reduce_sum(z)
        return tape.gradient(score, features)

    return lambda images: np.asarray(run(images))


def measure(model: Any, layer: str, images: np.ndarray, repeats: int) -> dict[str, Any]:
    """Best and median seconds per image of every variant, per call size."""
    from dermviz.explain import GradCAM

    batch = len(images)
    calls: dict[str, Callable[[np.ndarray], Any]] = {
        "floor": floor_function(model, layer),
        "dermviz": GradCAM(model, layer=layer, batch_size=batch).explain,
        "tf-keras-vis": GradCAM(model, layer=layer, batch_size=batch,
                                backend="tf-keras-vis").explain,
    }
    inputs = {"batch": images, "single": images[:1]}
    for fn in calls.values():  # trace both shapes
        for x in inputs.values():
            fn(x)
    times = {(v, c): [] for v in VARIANTS for c in inputs}
    for _ in range(repeats):
        for (variant, call), ts in times.items():
            x = inputs[call]
            t0 = time.perf_counter()
            calls[variant](x)
            ts.append((time.perf_counter() - t0) / len(x))
    ours = calls["dermviz"](images, target_class=1)
    ref = calls["tf-keras-vis"](images, target_class=1)
    return {
        "best": {k: min(v) for k, v in times.items()},
        "median": {k: float(np.median(v)) for k, v in times.items()},
        "grid": ours.grid,
        "max_map_diff": float(np.abs(ours.maps - ref.maps).max()),
    }


def render(results: dict[str, dict[str, Any]], *, size: int, batch: int, repeats: int) -> str:
    """The RESULTS.md section body (without provenance)."""
    lines = [
        "| layer (grid) | images per call | (a) floor, ms/image | (b) dermviz GradCAM, "
        "ms/image | (b) / (a) | (c) tf-keras-vis, ms/image | (c) / (a) |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = []
    for layer, r in results.items():
        best, med = r["best"], r["median"]
        for call, n in (("batch", batch), ("single", 1)):
            a, b, c = (best[(v, call)] for v in VARIANTS)
            lines.append(
                f"| {layer} ({r['grid'][0]}x{r['grid'][1]}) | {n} | {a * 1e3:.1f} | "
                f"{b * 1e3:.1f} | **{b / a:.2f}** | {c * 1e3:.1f} | {c / a:.2f} |"
            )
            ma, mb, mc = (med[(v, call)] for v in VARIANTS)
            notes.append(f"{layer}, {n} per call: (b)/(a) {mb / ma:.2f}, (c)/(a) {mc / ma:.2f}")
    worst = max(r["best"][("dermviz", c)] / r["best"][("floor", c)]
                for r in results.values() for c in ("batch", "single"))
    diff = max(r["max_map_diff"] for r in results.values())
    bullets = [
        f"Settings: `build_inception({size}, seed=0)`, synthetic lesions, {batch} images per "
        f"batch call; best of {repeats} interleaved rounds per variant (one image per call: "
        "the first image).",
        f"Goal (b) / (a) <= {GOAL}: {'met' if worst <= GOAL else 'NOT met'} (worst "
        f"{worst:.2f}).",
        "Median ratios: " + "; ".join(notes) + ".",
        "One-image calls take tens of ms, so on a shared machine (see the load average "
        "above) their ratios are the noisiest; a ratio below 1 means the floor drew the "
        "busier moments.",
        f"(b) and (c) give the same maps: max |difference| {diff:.1e} on [0, 1] maps "
        "(melanoma explained).",
    ]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {b}" for b in bullets) + "\n"


def _versions() -> str:
    try:
        return "Versions: " + ", ".join(
            f"{p} {md.version(p)}" for p in ("tensorflow-cpu", "keras", "tf-keras-vis")
        ) + "."
    except md.PackageNotFoundError:
        return "Versions unknown."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--layers", default="mixed10,mixed7")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.repeats < 1:
        parser.error("--batch-size and --repeats must be >= 1")

    from dermviz.models.inception import build_inception

    model = build_inception(args.size, seed=0)
    images = _images(args.size, args.batch_size)
    results = {}
    for layer in [x.strip() for x in args.layers.split(",") if x.strip()]:
        print(f"timing {layer} ...", file=sys.stderr, flush=True)
        results[layer] = measure(model, layer, images, args.repeats)
    body = render(results, size=args.size, batch=args.batch_size, repeats=args.repeats)
    body = f"{provenance()} {_versions()}\n\n{body}"
    print(f"## {TITLE}\n\n{body}")
    if not args.no_write:
        write_section(TITLE, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
