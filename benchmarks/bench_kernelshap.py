"""KernelSHAP per-image time and peak memory: forward-pass floor vs. the paper's way vs. ours.

Three variants, each in its own child process (so peak RSS is its own):

(a) ``floor``: ``nsamples`` x the best batched forward time per image of a
    ``tf.function`` at ``--batch-size``: no explainer can beat it.
(b) ``paper``: the original code's way (docs/protocol.md §9, §14.12):
    ``KernelExplainer`` on an ``f(z)`` that builds *all* coalition images at
    once in float64, one superpixel at a time, and predicts them with
    ``model.predict`` (Keras' default batch of 32). The paper also divided the
    batch by 255 (another float64 copy); dermviz models rescale internally, so
    that copy is left out here, which flatters (b)'s memory.
(c) ``ours``: :class:`dermviz.explain.KernelSHAP` (chunked float32 coalitions,
    one ``tf.function`` pass per chunk).

Each child builds ``build_inception(size, seed=0)`` with a linear-probe output
layer (see :func:`_member`; timing does not depend on the weights), explains
one warm-up image with few samples (tracing, imports), resets the kernel's
peak-RSS counter (``/proc/self/clear_refs``),
then explains the timed image(s). "Peak RSS increase" = ``VmHWM`` after minus
``VmRSS`` before the timed part. (b) and (c) are seeded alike, so they draw the
same coalitions; their SHAP values are compared as a check.

Usage::

    python benchmarks/bench_kernelshap.py --profile smoke
    python benchmarks/bench_kernelshap.py --profile paper   # several minutes, ~GBs for (b)

Writes a markdown table to stdout and updates this profile's subsection under
``## KernelSHAP per-image time and memory`` in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_kernelshap.py` from the repo root
    sys.path.insert(0, str(HERE.parent))

from benchmarks.results import RESULTS, provenance  # noqa: E402

SECTION = "## KernelSHAP per-image time and memory"

PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"size": 96, "n_segments": 50, "nsamples": 300, "n_images": 3, "repeats": 5},
    "paper": {"size": 224, "n_segments": 100, "nsamples": 2500, "n_images": 1, "repeats": 5},
}
VARIANTS = ("floor", "paper", "ours")
SEED = 0


# ----------------------------------------------------------------------------- memory


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    try:
        return _status_mb("VmHWM")
    except (OSError, RuntimeError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------- child


def _images(size: int, n: int) -> np.ndarray:
    """Synthetic dermoscopy-like images (warm-up image first)."""
    try:
        from dermviz.data.synthetic import render_lesion

        return np.stack(
            [
                render_lesion(seed=100 + k, label="mel", difficulty=0.0, native_size=(size,) * 2)[0]
                for k in range(n)
            ]
        )
    except Exception:  # the renderer is someone else's module; any image will do
        import cv2

        rng = np.random.default_rng(0)
        noise = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        return np.stack([cv2.GaussianBlur(x, (0, 0), size / 20) for x in noise])


def _member(size: int) -> Any:
    """``build_inception(size, seed=0)`` with a fitted output layer, so SHAP values are not ~0.

    An untrained member outputs p = 0.5000 on every image, which makes every
    SHAP value ~0 and the (b)-vs-(c) comparison vacuous. The output layer is
    fitted as a linear probe (logistic regression on the frozen random
    backbone's ``head_dense`` features) on 16 synthetic images; timing does not
    depend on the weights.
    """
    import keras
    from sklearn.linear_model import LogisticRegression

    from dermviz.models.inception import build_inception

    model = build_inception(size, seed=0)
    try:
        from dermviz.data.synthetic import render_lesion

        images = np.stack(
            [
                render_lesion(seed=k, label=label, difficulty=0.0, native_size=(size,) * 2)[0]
                for label in ("mel", "nv")
                for k in range(8)
            ]
        )
    except Exception:
        return model  # untrained; timings are unaffected
    labels = np.r_[np.ones(8), np.zeros(8)]
    features = keras.Model(model.input, model.get_layer("head_dense").output)
    feats = np.asarray(features(images.astype(np.float32), training=False), dtype=np.float64)
    mu, sd = feats.mean(0), feats.std(0) + 1e-12
    clf = LogisticRegression(max_iter=5000).fit((feats - mu) / sd, labels)
    w = clf.coef_[0] / sd
    b = clf.intercept_[0] - float(np.sum(clf.coef_[0] * mu / sd))
    model.get_layer("pred").set_weights([w[:, None].astype(np.float32), np.float32([b])])
    return model


def _paper_shap(model: Any, image: np.ndarray, cfg: dict[str, Any]) -> tuple[np.ndarray, float]:
    """The original ``Shap_single`` KernelSHAP (one image), with our seeded RNG."""
    import shap

    from dermviz.explain.kernelshap import seeded_global_numpy, slic_segments

    segments = slic_segments(image, n_segments=cfg["n_segments"])
    m = int(segments.max()) + 1
    p_mel = float(model.predict(image[None].astype(np.float64), verbose=0)[0, 0])
    target = int(p_mel >= 0.5)

    def mask_image(zs: np.ndarray, segmentation: np.ndarray, img: np.ndarray, background: float):
        out = np.zeros((zs.shape[0], img.shape[0], img.shape[1], img.shape[2]))
        for i in range(zs.shape[0]):
            out[i, :, :, :] = img
            for j in range(zs.shape[1]):
                if zs[i, j] == 0:
                    out[i][segmentation == j, :] = background
        return out

    def f(z: np.ndarray) -> np.ndarray:
        p = model.predict(mask_image(z, segments, image, 255), verbose=0)
        return p if target == 1 else 1.0 - p

    with seeded_global_numpy(SEED):
        explainer = shap.KernelExplainer(f, np.zeros((1, m)))
        phi = explainer.shap_values(
            np.ones((1, m)), nsamples=cfg["nsamples"], l1_reg="aic", silent=True
        )
    return np.asarray(phi, dtype=np.float64).reshape(-1)[:m], float(p_mel)


def run_child(variant: str, cfg: dict[str, Any], batch_size: int) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    from dermviz.explain.kernelshap import KernelSHAP, chunk_bounds
    from dermviz.models.predict import forward_fn

    size, nsamples = cfg["size"], cfg["nsamples"]
    model = _member(size)
    images = _images(size, cfg["n_images"] + 1)
    warm, timed = images[0], images[1:]
    result: dict[str, Any] = {"variant": variant}
    warm_cfg = {**cfg, "nsamples": min(nsamples, 2 * batch_size + 7)}

    if variant == "floor":
        fn = forward_fn(model)
        batch = np.repeat(images[:1].astype(np.float32), batch_size, axis=0)
        batch += np.linspace(0, 1, batch_size, dtype=np.float32)[:, None, None, None]
        fn(batch[:1])
        fn(batch)
        rss0 = _status_mb("VmRSS")
        reset = _reset_peak()
        times = []
        for _ in range(cfg["repeats"]):
            t0 = time.perf_counter()
            np.asarray(fn(batch))
            times.append(time.perf_counter() - t0)
        best = min(times) / batch_size
        result.update(
            per_image_s=best * nsamples, best_s=best * nsamples, forward_best_ms=best * 1e3,
            forward_median_ms=float(np.median(times)) / batch_size * 1e3,
        )
    elif variant == "paper":
        _paper_shap(model, warm, warm_cfg)
        rss0 = _status_mb("VmRSS")
        reset = _reset_peak()
        values, times = [], []
        for img in timed:
            t0 = time.perf_counter()
            values.append(_paper_shap(model, img, cfg)[0])
            times.append(time.perf_counter() - t0)
        result.update(per_image_s=float(np.mean(times)), best_s=min(times))
        result["shap_values"] = [v.tolist() for v in values]
    elif variant == "ours":
        import dermviz.explain.kernelshap as ks

        fwd = {"s": 0.0, "rows": 0}
        real_forward = ks.forward_fn

        def timed_forward(m: Any) -> Any:
            fn_ = real_forward(m)

            def call(x: np.ndarray) -> np.ndarray:
                t0 = time.perf_counter()
                out = np.asarray(fn_(x))
                fwd["s"] += time.perf_counter() - t0
                fwd["rows"] += len(x)
                return out

            return call

        ks.forward_fn = timed_forward  # time spent inside the model, vs. everything else
        explainer = KernelSHAP(
            model, n_segments=cfg["n_segments"], nsamples=nsamples, batch_size=batch_size,
            seed=SEED,
        )
        KernelSHAP(
            model, n_segments=cfg["n_segments"], nsamples=warm_cfg["nsamples"],
            batch_size=batch_size, seed=SEED,
        ).explain(warm[None])
        # steady state: the batch shapes of the timed run's chunks are warm too
        fn = forward_fn(model)
        for b in sorted(set(np.diff(chunk_bounds(nsamples, batch_size)).tolist())):
            fn(np.repeat(warm[None].astype(np.float32), b, axis=0))
        rss0 = _status_mb("VmRSS")
        reset = _reset_peak()
        res, times = [], []
        fwd.update(s=0.0, rows=0)
        for img in timed:
            t0 = time.perf_counter()
            res.append(explainer.explain(img[None]))
            times.append(time.perf_counter() - t0)
        result.update(per_image_s=float(np.mean(times)), best_s=min(times))
        result.update(forward_s=fwd["s"] / len(timed), forward_rows=fwd["rows"] / len(timed))
        result["shap_values"] = [
            r.extras["shap_values"][0, : r.extras["n_segments"][0]].tolist() for r in res
        ]
        result["additivity_err"] = max(
            abs(
                float(np.nansum(r.extras["shap_values"][0]))
                - float(r.extras["f_x"][0] - r.extras["base_value"][0])
            )
            for r in res
        )
    else:
        raise ValueError(f"unknown variant {variant!r}")
    result["rss_before_mb"] = rss0
    result["peak_increase_mb"] = _peak_mb() - rss0
    result["peak_reset"] = reset
    return result


# ----------------------------------------------------------------------------- parent


def _spawn(variant: str, profile: str, batch_size: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--profile", profile, "--batch-size", str(batch_size),
           "--child", variant]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"variant {variant} failed (exit {proc.returncode})")
    out = json.loads(lines[-1][len("RESULT "):])
    out["process_wall_s"] = wall
    return out


def _versions() -> str:
    """Versions of the packages whose speed is measured."""
    try:
        import importlib.metadata as md

        return "Versions: " + ", ".join(
            f"{p} {md.version(p)}" for p in ("tensorflow-cpu", "keras", "shap", "scikit-image")
        ) + f"; {platform.system()} {platform.release()}."
    except Exception:
        return "Versions unknown."


def _table(profile: str, cfg: dict[str, Any], batch_size: int, rows: dict[str, dict]) -> str:
    floor = rows.get("floor", {}).get("per_image_s")
    names = {
        "floor": "(a) forward-pass floor: nsamples x best batched forward / image",
        "paper": "(b) paper's way: whole float64 coalition batch, `model.predict`",
        "ours": "(c) dermviz `KernelSHAP` (chunked float32, `tf.function`)",
    }
    lines = [
        "| variant | time / image, mean (s) | best (s) | best / floor | peak RSS increase (MB) |",
        "|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        if v not in rows:
            continue
        r = rows[v]
        ratio = f"{r['best_s'] / floor:.2f}" if floor else "n/a"
        lines.append(
            f"| {names[v]} | {r['per_image_s']:.2f} | {r['best_s']:.2f} | {ratio} "
            f"| {r['peak_increase_mb']:.0f} |"
        )
    notes = [
        f"Settings: {cfg['size']} px, SLIC n_segments={cfg['n_segments']} (compactness 3, "
        f"sigma 13), nsamples={cfg['nsamples']}, l1_reg='aic', seed {SEED}, "
        f"{cfg['n_images']} timed image(s) after a warm-up image (mean and best over them; "
        f"the floor is one number); batch size {batch_size} "
        "for (a) and (c), Keras' default 32 for (b)'s `model.predict`."
    ]
    if "floor" in rows:
        r = rows["floor"]
        notes.append(
            f"Forward pass at batch {batch_size}: best {r['forward_best_ms']:.1f} ms/image, "
            f"median {r['forward_median_ms']:.1f} ms/image over {cfg['repeats']} batches."
        )
    if "paper" in rows and "ours" in rows:
        diffs = [
            float(np.max(np.abs(np.subtract(a, b))))
            for a, b in zip(rows["paper"]["shap_values"], rows["ours"]["shap_values"], strict=True)
            if len(a) == len(b)
        ]
        if diffs:
            notes.append(
                f"Same seed, same coalitions: max |SHAP(b) - SHAP(c)| = {max(diffs):.2e} "
                "(float64 vs float32 inputs, `model.predict` vs `tf.function`)."
            )
    if "ours" in rows:
        r = rows["ours"]
        outside = r["per_image_s"] - r["forward_s"]
        notes.append(
            f"(c) per image: {r['forward_s']:.2f} s inside its own forward passes "
            f"({r['forward_rows']:.0f} rows, {r['forward_s'] / r['forward_rows'] * 1e3:.1f} "
            f"ms/row), {outside:.2f} s outside them (SLIC, masking, shap's sampling and "
            f"regression, one p(melanoma) pass): total / own forward time = "
            f"{r['per_image_s'] / r['forward_s']:.3f}. This ratio does not depend on how "
            "busy the shared machine was; the x-floor column does."
        )
        if "floor" in rows and r["forward_s"] / r["forward_rows"] * 1e3 < (
            0.95 * rows["floor"]["forward_best_ms"]
        ):
            notes.append(
                "(c)'s own forward passes ran faster per row than (a)'s best batch: the "
                "machine was busier while (a) ran, so the x-floor column understates (c)."
            )
        err = rows["ours"]["additivity_err"]
        notes.append(f"(c) additivity: |sum SHAP - (f(x) - f(white))| <= {err:.1e}.")
    if not all(r.get("peak_reset", True) for r in rows.values()):
        notes.append("Peak RSS could not be reset after warm-up; peaks include the warm-up.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _update_results(path: Path, profile: str, body: str) -> None:
    """Replace this profile's subsection of SECTION (creating either as needed)."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n"
    sub_head = f"### {profile} profile"
    block = f"{sub_head}\n\n{body}"
    m = re.search(rf"^{re.escape(SECTION)}[ \t]*\n", text, flags=re.M)
    if m is None:
        section = (
            f"{SECTION}\n\nWritten by `benchmarks/bench_kernelshap.py`; see its docstring "
            f"for the variants.\n\n{block}"
        )
        text = text.rstrip("\n") + "\n\n" + section
    else:
        start = m.end()
        nxt = re.search(r"^## ", text[start:], flags=re.M)
        end = start + nxt.start() if nxt else len(text)
        section = text[start:end]
        sm = re.search(rf"^{re.escape(sub_head)}[ \t]*\n", section, flags=re.M)
        if sm is None:
            section = section.rstrip("\n") + "\n\n" + block
        else:
            snxt = re.search(r"^#{2,3} ", section[sm.end():], flags=re.M)
            send = sm.end() + snxt.start() if snxt else len(section)
            section = section[: sm.start()] + block + "\n" + section[send:].lstrip("\n")
        section = section.rstrip("\n") + "\n"
        if end < len(text):
            section += "\n"
        text = text[:start] + section + text[end:]
    path.write_text(text.rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="coalitions per forward pass for (a) and (c) (default 32, "
                        "KernelSHAP's default)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of floor,paper,ours")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = PROFILES[args.profile]

    if args.child:
        out = run_child(args.child, cfg, args.batch_size)
        print("RESULT " + json.dumps(out), flush=True)
        return 0

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}")
    rows = {}
    for v in variants:
        print(f"[{args.profile}] running {v} ...", file=sys.stderr, flush=True)
        rows[v] = _spawn(v, args.profile, args.batch_size)
        print(
            f"[{args.profile}] {v}: {rows[v]['per_image_s']:.2f} s/image, "
            f"+{rows[v]['peak_increase_mb']:.0f} MB (process {rows[v]['process_wall_s']:.0f} s)",
            file=sys.stderr, flush=True,
        )
    body = f"{provenance()} {_versions()}\n\n" + _table(args.profile, cfg, args.batch_size, rows)
    print(f"{SECTION}\n\n### {args.profile} profile\n\n{body}")
    if not args.no_write:
        _update_results(args.results, args.profile, body)
        print(f"updated {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
