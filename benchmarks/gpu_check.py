"""GPU check: one 224 px trial, GradCAM and KernelSHAP throughput, and the paper's workload.

Run by ``benchmarks/gpu_check.sh`` on a GPU host (it installs TensorFlow with CUDA when
missing), or directly. Within about 5 minutes it measures, on synthetic images:

1. **one search trial** at ``--size`` (224, the paper's) with the device switches of
   :func:`dermviz.models.device.configure_device` (mixed precision and XLA on a GPU):
   :func:`dermviz.models.fit.fit_member` on ``--train-images`` training and as many
   validation images, ``--epochs`` epochs of batch 32; the first epoch includes tracing
   and XLA compilation, the later ones are the steady state;
2. **GradCAM** (:class:`dermviz.explain.GradCAM`, the suite's default layer) maps per
   second, batched;
3. **KernelSHAP** forward throughput (coalition images per second through
   :class:`~dermviz.explain.kernelshap.CoalitionPredictor` at ``--shap-batch``) and the
   seconds of one map at ``--shap-samples`` with each sampler;

then extrapolates to the paper's whole workload (docs/protocol.md): 30 members x 25
search trials of 828 training and 828 validation images for 9-20 epochs (14.5 on
average), and 400 hold-out images x 30 members of GradCAM and of KernelSHAP at 2,500
samples. Writes ``gpu_check.json`` and ``gpu_check.md`` into ``--out``.

``--cpu-smoke`` runs every step at a tiny size on the CPU (75 px, a few images, one
eager epoch, float32, no XLA): what the test suite runs (marked slow: graph building
dominates) to keep this script working; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/gpu_check.py`
    sys.path.insert(0, str(REPO))

#: The paper's workload (docs/protocol.md §4, §5, §9): members, search trials per member,
#: training and validation images per trial, mean epochs (9-20), hold-out images,
#: KernelSHAP samples per map.
PAPER = {"members": 30, "trials": 25, "train_images": 828, "val_images": 828,
         "epochs": 14.5, "holdout": 400, "shap_samples": 2500}

FULL = {"size": 224, "train_images": 256, "epochs": 3, "batch_size": 32,
        "gradcam_images": 256, "shap_batch": 256, "shap_samples": 2500, "n_segments": 100,
        "device": {"mixed_precision": "auto", "xla": "auto"}}
SMOKE = {"size": 75, "train_images": 16, "epochs": 1, "batch_size": 8, "run_eagerly": True,
         "gradcam_images": 4, "shap_batch": 32, "shap_samples": 64, "n_segments": 20,
         "device": {"mixed_precision": "off", "xla": "off"}}


def synthetic_images(n: int, size: int, *, seed: int = 0) -> np.ndarray:
    """``n`` uint8 images of a dark disc on skin-coloured noise (content does not matter
    for timing, but the probe below needs two classes)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        img = np.array([215.0, 175.0, 155.0]) + rng.normal(0, 10, (size, size, 3))
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < (rng.uniform(0.1, 0.3) * size) ** 2
        img[disc] = (60.0, 40.0, 30.0) if k % 2 else (150.0, 110.0, 90.0)
        out[k] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def _epoch_clock() -> Any:
    import keras

    class EpochClock(keras.callbacks.Callback):
        """Wall time of every epoch (the first includes tracing and compilation)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._t)

    return EpochClock()


def run_trial(settings: dict[str, Any], folder: Path) -> tuple[Any, dict[str, Any]]:
    """One fit as a search trial runs it; returns the float32 member and its timings."""
    from dermviz.models.config import TrainConfig
    from dermviz.models.fit import SplitRows, fit_member
    from dermviz.models.image_cache import ImageCache

    size, n = settings["size"], settings["train_images"]
    pool_path, holdout_path = folder / "pool.npy", folder / "holdout.npy"
    np.save(pool_path, synthetic_images(2 * n, size, seed=1))
    np.save(holdout_path, synthetic_images(n, size, seed=2))
    y = (np.arange(2 * n) % 2).astype(np.float32)
    split = SplitRows(train_rows=np.arange(n), train_y=y[:n], train_aug=None,
                      val_rows=np.arange(n, 2 * n), val_y=y[n:], val_aug=None,
                      class_weight=None, random_flips=True)
    config = TrainConfig(image_size=size, epochs=settings["epochs"],
                         batch_size=settings["batch_size"], bn_momentum=0.9,
                         run_eagerly=settings.get("run_eagerly", False))
    clock = _epoch_clock()
    result = fit_member(config, split, ImageCache(pool_path), ImageCache(holdout_path),
                        seed=0, device=settings["device"], callbacks=[clock])
    steady = clock.seconds[1:] or clock.seconds
    steps = -(-n // settings["batch_size"])
    predicted = 2 * n  # validation split + hold-out, predicted after the fit
    timings = {
        "device": {k: v for k, v in result.device.items() if k != "threads"},
        "epochs": clock.seconds,
        "first_epoch_s": clock.seconds[0],
        "steady_epoch_s": float(np.median(steady)),
        "steps_per_epoch": steps,
        "train_images_per_s": n / float(np.median(steady)),
        "predict_images_per_s": predicted / max(result.seconds["predict"], 1e-9),
        "build_s": result.seconds["build"],
        "compile_overhead_s": max(clock.seconds[0] - float(np.median(steady)), 0.0),
    }
    return result.model, timings


def gradcam_rate(model: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """GradCAM maps per second on a batch of images, after one warm-up batch."""
    from dermviz.explain import GradCAM

    images = synthetic_images(settings["gradcam_images"], settings["size"], seed=3)
    explainer = GradCAM(model, batch_size=min(32, len(images)))
    explainer.explain(images[: explainer.batch_size])  # tracing
    start = time.perf_counter()
    explainer.explain(images)
    seconds = time.perf_counter() - start
    return {"maps": len(images), "seconds": seconds, "maps_per_s": len(images) / seconds}


def shap_rates(model: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """Coalition images per second at ``shap_batch``, and one map per sampler."""
    from dermviz.explain import KernelSHAP
    from dermviz.explain.kernelshap import CoalitionPredictor, slic_segments

    image = synthetic_images(1, settings["size"], seed=4)[0]
    labels = slic_segments(image, n_segments=settings["n_segments"])
    batch = settings["shap_batch"]
    f = CoalitionPredictor(model, image, labels, target_class=1, batch_size=batch)
    rng = np.random.default_rng(0)
    z = rng.random((4 * batch, f.n_segments)) < 0.5
    f(z[:batch])  # tracing
    start = time.perf_counter()
    f(z)
    forward = len(z) / (time.perf_counter() - start)
    maps = {}
    for sampler in ("kernel", "leverage"):
        explainer = KernelSHAP(model, n_segments=settings["n_segments"],
                               nsamples=settings["shap_samples"], sampler=sampler,
                               batch_size=batch)
        start = time.perf_counter()
        explainer.explain(image[None], target_class=1)
        maps[sampler] = time.perf_counter() - start
    return {"batch": batch, "n_segments": int(f.n_segments),
            "coalitions_per_s": forward, "samples": settings["shap_samples"],
            "seconds_per_map": maps,
            "floor_s_per_map": settings["shap_samples"] / forward}


def paper_estimates(trial: dict[str, Any], gradcam: dict[str, Any],
                    shap: dict[str, Any]) -> dict[str, float]:
    """Hours for the paper's workload at the measured rates (one device, no overlap)."""
    p = PAPER
    per_trial = (p["epochs"] * (p["train_images"] / trial["train_images_per_s"]
                                + p["val_images"] / trial["predict_images_per_s"])
                 + trial["compile_overhead_s"] + trial["build_s"])
    maps = p["holdout"] * p["members"]
    forward = maps * p["shap_samples"]
    return {
        "trial_s": per_trial,
        "search_h": p["members"] * p["trials"] * per_trial / 3600,
        "gradcam_h": maps / gradcam["maps_per_s"] / 3600,
        "kernelshap_forward_floor_h": forward / shap["coalitions_per_s"] / 3600,
    }


def render(report: dict[str, Any]) -> str:
    """The markdown summary of a report."""
    t, g, s, e = report["trial"], report["gradcam"], report["kernelshap"], report["paper"]
    lines = [
        f"# GPU check ({report['mode']})",
        "",
        f"{report['machine']}; TensorFlow {report['tensorflow']}; GPUs: "
        f"{', '.join(report['gpus']) or 'none'}; mixed precision "
        f"{t['device'].get('mixed_precision')}, XLA {t['device'].get('jit_compile')}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| trial at {report['settings']['size']} px: first epoch (with compilation) | "
        f"{t['first_epoch_s']:.1f} s |",
        f"| trial: steady epoch ({t['steps_per_epoch']} steps of "
        f"{report['settings']['batch_size']}) | {t['steady_epoch_s']:.2f} s |",
        f"| training images per s | {t['train_images_per_s']:.0f} |",
        f"| prediction images per s | {t['predict_images_per_s']:.0f} |",
        f"| GradCAM maps per s | {g['maps_per_s']:.1f} |",
        f"| KernelSHAP coalition images per s (batch {s['batch']}) | "
        f"{s['coalitions_per_s']:.0f} |",
        f"| KernelSHAP map, {s['samples']} samples, {s['n_segments']} superpixels: kernel / "
        f"leverage / forward floor | {s['seconds_per_map']['kernel']:.2f} / "
        f"{s['seconds_per_map']['leverage']:.2f} / {s['floor_s_per_map']:.2f} s |",
        "",
        "Estimates for the paper's workload on this device (one process, no overlap):",
        "",
        f"- one search trial (828 + 828 images, 14.5 epochs): {e['trial_s'] / 60:.1f} min; "
        f"30 members x 25 trials: **{e['search_h']:.1f} h**;",
        f"- GradCAM, 400 images x 30 members: **{e['gradcam_h'] * 60:.1f} min**;",
        f"- KernelSHAP, 400 images x 30 members x 2,500 samples (forward floor): "
        f"**{e['kernelshap_forward_floor_h']:.1f} h**.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/gpu-check"))
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="tiny sizes on the CPU (the test suite's check)")
    parser.add_argument("--require-gpu", action="store_true",
                        help="fail unless TensorFlow sees a GPU")
    args = parser.parse_args(argv)
    settings = dict(SMOKE if args.cpu_smoke else FULL)

    import tensorflow as tf

    gpus = [g.name for g in tf.config.list_physical_devices("GPU")]
    if args.require_gpu and not gpus:
        raise SystemExit("gpu_check: TensorFlow sees no GPU (is tensorflow[and-cuda] "
                         "installed, and the driver visible?)")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model, trial = run_trial(settings, Path(tmp))
        print(f"trial: {trial['first_epoch_s']:.1f} s first epoch", file=sys.stderr)
        gradcam = gradcam_rate(model, settings)
        print(f"gradcam: {gradcam['maps_per_s']:.1f} maps/s", file=sys.stderr)
        shap = shap_rates(model, settings)
        print(f"kernelshap: {shap['coalitions_per_s']:.0f} coalitions/s", file=sys.stderr)
    report = {
        "mode": "cpu-smoke" if args.cpu_smoke else "full",
        "machine": f"{platform.node()}, {platform.machine()}, Python "
                   f"{platform.python_version()}",
        "tensorflow": tf.__version__, "gpus": gpus,
        "settings": {k: v for k, v in settings.items() if k != "device"},
        "trial": trial, "gradcam": gradcam, "kernelshap": shap,
        "paper": paper_estimates(trial, gradcam, shap),
        "seconds": time.perf_counter() - started,
    }
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "gpu_check.md").write_text(render(report))
    print(render(report))
    return report


if __name__ == "__main__":
    main()
