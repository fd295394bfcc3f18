"""How long a cached saliency map takes to load from the map store (target: < 100 ms).

For 128 px and 224 px, real maps are made once with the real explainers on an
untrained ``build_inception(size, seed=0)`` (GradCAM on ``mixed7``/``mixed10``;
KernelSHAP with the paper's SLIC settings and few samples: the sample count does
not change what is stored) and written into a throw-away suite folder for four
members. Then, over ``--loads`` loads after 3 warm-up loads (so the files are in
the OS page cache, as on a dashboard that has shown them once):

* ``MapCache.get``: one ``.npz`` file to a :class:`SaliencyMaps`;
* ``load_or_compute`` hit, with a fresh ``Suite`` each time: the dashboard's
  GradCAM path (``app.state.saliency``) without Streamlit's cache in front;
* ``cached_maps`` for 4 members: the dashboard's KernelSHAP path
  (``app.state.stored_maps``), which Streamlit does not cache.

Usage::

    python benchmarks/bench_store.py [--loads 50] [--no-write]

Writes the ``## Map store: cached map load time`` section of
``benchmarks/RESULTS.md`` (through :func:`benchmarks.results.write_section`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_store.py` from the repo root
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.results import provenance, write_section  # noqa: E402

TITLE = "Map store: cached map load time"
SIZES = {128: "mixed7", 224: "mixed10"}
MEMBERS = ("m00", "m01", "m02", "m03")
TARGET_MS = 100.0


def _image(size: int) -> np.ndarray:
    try:
        from dermviz.data.synthetic import render_lesion

        return render_lesion(seed=1, label="mel", difficulty=0.0, native_size=(size, size))[0]
    except Exception:  # any image will do
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def _make_suite(root: Path, size: int) -> tuple[Any, dict[str, dict[str, Any]]]:
    """A minimal suite folder whose store holds real GradCAM and KernelSHAP maps."""
    from dermviz.explain import GradCAM, KernelSHAP, MapCache
    from dermviz.explain.precompute import default_params
    from dermviz.models.inception import build_inception
    from dermviz.models.suite import Suite, write_manifest

    path = root / f"bench-{size}"
    write_manifest(path, {
        "name": path.name, "status": "complete",
        "config": {"image_size": size, "gradcam_layer": SIZES[size]},
        "dataset": {"name": "none", "source": {"kind": "none"}},
        "members": [{"id": m, "seed": k, "threshold": 0.5, "holdout": {}}
                    for k, m in enumerate(MEMBERS)],
    })
    suite = Suite(path)
    model = build_inception(size, seed=0)
    image = _image(size)[None]
    params = {
        "gradcam": default_params(suite, "gradcam"),
        "kernelshap": default_params(suite, "kernelshap", nsamples=200),
    }
    maps = {
        "gradcam": GradCAM(model, layer=SIZES[size]).explain(image),
        "kernelshap": KernelSHAP(model, **params["kernelshap"]).explain(image),
    }
    cache = MapCache.of(suite)
    for member in MEMBERS:
        for m in maps.values():
            cache.put(member, ["img0"], m)
    return suite, params


def _times_ms(fn: Any, loads: int) -> np.ndarray:
    for _ in range(3):
        fn()
    out = np.empty(loads)
    for k in range(loads):
        t0 = time.perf_counter()
        result = fn()
        out[k] = (time.perf_counter() - t0) * 1e3
        if result is None:
            raise RuntimeError("a load missed the store")
    return out


def run(loads: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    from dermviz.explain.cache import MapCache
    from dermviz.explain.precompute import cached_maps, load_or_compute
    from dermviz.models.suite import Suite

    rows: list[dict[str, Any]] = []
    sizes_kb: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dermviz-bench-store-") as tmp:
        for size in SIZES:
            print(f"[{size} px] computing maps ...", file=sys.stderr, flush=True)
            suite, params = _make_suite(Path(tmp), size)
            for method in ("gradcam", "kernelshap"):
                p = params[method]
                cache = MapCache.of(suite)
                f = cache.path("m00", "img0", method, p)
                sizes_kb[f"{method} {size} px"] = f.stat().st_size / 1024
                cases = {
                    "`MapCache.get` (one file)":
                        lambda c=cache, m=method, p=p: c.get("m00", "img0", m, p),
                    "`load_or_compute` hit, fresh `Suite` (page path, no st cache)":
                        lambda s=str(suite.path), m=method, p=p: load_or_compute(
                            Suite(s), "m00", "img0", method=m, params=p),
                }
                if method == "kernelshap":
                    cases["`cached_maps`, 4 members (page's SHAP row, no st cache)"] = (
                        lambda s=str(suite.path), p=p: cached_maps(
                            Suite(s), list(MEMBERS), "img0", method="kernelshap", params=p)
                    )
                for label, fn in cases.items():
                    t = _times_ms(fn, loads)
                    rows.append({"size": size, "method": method, "path": label,
                                 "median": float(np.median(t)),
                                 "p95": float(np.percentile(t, 95)), "max": float(t.max())})
                    print(f"  {method:10s} {label}: median {rows[-1]['median']:.2f} ms, "
                          f"p95 {rows[-1]['p95']:.2f} ms", file=sys.stderr, flush=True)
    return rows, sizes_kb


def report(rows: list[dict[str, Any]], sizes_kb: dict[str, float], loads: int) -> str:
    lines = [
        provenance(),
        "",
        "Real maps (one image, untrained InceptionV3)"
        f" loaded {loads} times each after 3 warm-up loads (files in the OS page cache).",
        "",
        "| size | method | load path | median (ms) | p95 (ms) | max (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['size']} px | {r['method']} | {r['path']} | {r['median']:.2f} "
                     f"| {r['p95']:.2f} | {r['max']:.2f} |")
    worst = max(r["p95"] for r in rows if "4 members" not in r["path"])
    lines += [
        "",
        "- File sizes: " + ", ".join(f"{k} {v:.0f} KiB" for k, v in sizes_kb.items())
        + " (uncompressed `.npz`; KernelSHAP stores the segmentation too).",
        f"- Target: a cached map loads in under {TARGET_MS:.0f} ms. Worst single-map p95 here: "
        f"{worst:.2f} ms ({'met' if worst < TARGET_MS else 'NOT met'}). The dashboard's "
        "GradCAM path adds Streamlit's `st.cache_data` in front (a hit there skips the store); "
        "its KernelSHAP path reads the store on every run, so a computed map shows at once.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    rows, sizes_kb = run(args.loads)
    body = report(rows, sizes_kb, args.loads)
    print(f"## {TITLE}\n\n{body}")
    if not args.no_write:
        write_section(TITLE, body)
        print("updated benchmarks/RESULTS.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
