"""Benchmark: KernelSHAP against each reference: how many maps are degenerate, where mass goes.

KernelSHAP's values sum to ``f(image) - f(background)``, the reference gap. For every
reference of :data:`dermviz.explain.backgrounds.BACKGROUNDS` (``white`` is the paper's)
and a few hold-out images x every member of a suite, this reports the share of maps whose
gap is below :data:`~dermviz.explain.backgrounds.DEGENERATE_GAP` (maps that distribute
almost nothing), the median gap, and the mean share of *positive* SHAP mass inside the
lesion mask (:func:`dermviz.analysis.localization.localization_table`, score ``mass``),
over all maps and over the non-degenerate ones, beside chance and a centred Gaussian.

The gap does not depend on ``nsamples`` (f(image) and f(background) are evaluated
exactly), so a small ``--nsamples`` is enough for it; the mass is a sampled estimate.

Suites: those named with ``--suite``; by default ``demo`` when it exists under the models
folder, else ``demo-smoke`` (built with the smoke profile, ~3 min, when it is missing),
plus every trained HAM10000 suite found there (none is trained by this script).

Usage::

    python benchmarks/bench_references.py --models-dir /tmp/models           # smoke demo
    python benchmarks/bench_references.py --suite demo --images 16 --nsamples 500

Writes the section ``## KernelSHAP references: degenerate gaps and lesion mass`` of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import provenance, write_section  # noqa: E402

TITLE = "KernelSHAP references: degenerate gaps and lesion mass"


def default_suites(root: Path) -> list[str]:
    """``demo`` (else ``demo-smoke``) and every HAM10000 suite under ``root``."""
    from dermviz.models.suite import list_suites

    suites = list_suites(root)
    names = [s.name for s in suites]
    chosen = ["demo" if "demo" in names else "demo-smoke"]
    chosen += [s.name for s in suites
               if s.dataset_info.get("name") == "ham10000" and s.complete]
    return chosen


def open_or_build(name: str, root: Path) -> Any:
    """The suite ``name``; ``demo-smoke`` is built (smoke profile) when it is missing."""
    from dermviz.models.suite import Suite, SuiteNotFoundError

    try:
        return Suite.open(name, root=root)
    except SuiteNotFoundError:
        if name != "demo-smoke":
            raise
    from dermviz.demo import run_demo

    print(f"building {root / name} (smoke profile)...", file=sys.stderr)
    return run_demo(profile="smoke", out_dir=root / name, overwrite=True)


def measure_suite(suite: Any, *, n_images: int, nsamples: int, n_segments: int) -> dict:
    """Per reference: gaps, localization rows and seconds, over members x images."""
    import pandas as pd

    from dermviz.analysis.localization import localization_table
    from dermviz.explain import KernelSHAP
    from dermviz.explain.backgrounds import BACKGROUNDS

    dataset = suite.dataset()
    ids = dataset.holdout["image_id"].tolist()[:n_images]
    images = dataset.load_images(ids, size=suite.image_size)
    try:
        masks = dataset.load_masks(ids, size=suite.image_size)
    except ValueError as err:  # a dataset without lesion masks: gaps only
        print(f"{suite.name}: no lesion masks ({err}); mass left out", file=sys.stderr)
        masks = None
    gaps: dict[str, list[np.ndarray]] = {ref: [] for ref in BACKGROUNDS}
    tables: dict[str, list[pd.DataFrame]] = {ref: [] for ref in BACKGROUNDS}
    seconds = dict.fromkeys(BACKGROUNDS, 0.0)
    p_melanoma = []
    for member in suite.member_ids:
        model = suite.load_model(member)
        for ref in BACKGROUNDS:
            explainer = KernelSHAP(model, reference=ref, nsamples=nsamples,
                                   n_segments=n_segments)
            start = time.perf_counter()
            res = explainer.explain(images, threshold=suite.threshold(member))
            seconds[ref] += time.perf_counter() - start
            gaps[ref].append(res.extras["reference_gap"].astype(np.float64))
            if ref == BACKGROUNDS[0]:
                p_melanoma.append(res.p_melanoma)
            if masks is not None:
                table = localization_table(res.maps, masks, image_ids=ids, signed=True,
                                           scores=["mass"], labels={"member": member})
                table["gap"] = res.extras["reference_gap"]
                tables[ref].append(table)
            print(f"{suite.name} {member} {ref}: median gap "
                  f"{np.median(gaps[ref][-1]):.4f}", file=sys.stderr)
    return {
        "ids": ids,
        "gaps": {ref: np.concatenate(v) for ref, v in gaps.items()},
        "tables": {ref: pd.concat(v, ignore_index=True) if v else None
                   for ref, v in tables.items()},
        "seconds": seconds,
        "p_melanoma": np.concatenate(p_melanoma),
    }


def render_suite(suite: Any, result: dict, *, nsamples: int, n_segments: int) -> str:
    """The markdown of one suite's measurements."""
    from dermviz.explain.backgrounds import BACKGROUNDS, DEGENERATE_GAP

    n_maps = len(result["gaps"]["white"])
    p_mel = result["p_melanoma"]
    lines = [
        f"### Suite `{suite.name}` ({suite.dataset_info.get('name', '?')}, "
        f"{suite.image_size} px, {len(suite.member_ids)} members)",
        "",
        f"{len(result['ids'])} hold-out images (the first of the hold-out) x "
        f"{len(suite.member_ids)} members = {n_maps} maps per reference; each map explains "
        f"the member's predicted class; nsamples={nsamples}, n_segments={n_segments}, seed 0. "
        f"The members' p(melanoma) on these images spans {p_mel.min():.4f}-{p_mel.max():.4f} "
        f"(standard deviation {p_mel.std():.4f}).",
        "",
        f"| reference | maps with gap < {DEGENERATE_GAP} | median gap | positive mass in "
        "lesion, all maps | same, non-degenerate maps | s per map |",
        "|---|---|---|---|---|---|",
    ]
    first = None
    for ref in BACKGROUNDS:
        gap = result["gaps"][ref]
        small = gap < DEGENERATE_GAP
        table = result["tables"][ref]
        if table is None:
            mass_all = mass_ok = "n/a"
        else:
            first = table if first is None else first
            mass_all = f"{np.nanmean(table['mass']):.3f}"
            kept = table.loc[table["gap"] >= DEGENERATE_GAP, "mass"]
            mass_ok = (f"{np.nanmean(kept):.3f} ({kept.notna().sum()} maps)"
                       if kept.notna().any() else "none")
        label = f"`{ref}`" + (" (paper's)" if ref == "white" else "")
        lines.append(
            f"| {label} | {int(small.sum())} of {len(gap)} ({small.mean():.0%}) | "
            f"{np.median(gap):.4f} | {mass_all} | {mass_ok} | "
            f"{result['seconds'][ref] / len(gap):.1f} |"
        )
    if all((result["gaps"][ref] < DEGENERATE_GAP).all() for ref in BACKGROUNDS):
        lines += [
            "",
            "Every map of every reference is degenerate here: the members' outputs barely "
            "move (see the p(melanoma) span above), so no reference leaves anything to "
            "explain and this suite cannot rank the references; the masses above are noise. "
            "Run on a trained suite (`--suite demo`, or a HAM10000 suite) for that.",
        ]
    if first is not None:
        lines += [
            "",
            f"Chance (the mask's share of the image): {first['chance'].mean():.3f}; "
            f"centred Gaussian, no model: {first['mass_gaussian'].mean():.3f}. "
            "Mass is the share of a map's positive values inside the lesion mask (NaN maps, "
            "with no positive value, left out).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder of suites (default: $DERMVIZ_MODELS or ./models)")
    parser.add_argument("--suite", action="append", default=None,
                        help="suite name (repeatable; default: see the module docstring)")
    parser.add_argument("--images", type=int, default=8, help="hold-out images per suite")
    parser.add_argument("--nsamples", type=int, default=200)
    parser.add_argument("--n-segments", type=int, default=50)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    from dermviz.models.suite import models_root

    root = args.models_dir or models_root()
    names = args.suite or default_suites(root)
    parts = []
    for name in names:
        suite = open_or_build(name, root)
        result = measure_suite(suite, n_images=args.images, nsamples=args.nsamples,
                               n_segments=args.n_segments)
        parts.append(render_suite(suite, result, nsamples=args.nsamples,
                                  n_segments=args.n_segments))
    text = "\n\n".join([
        provenance(),
        "A map whose reference gap |f(image) - f(background)| is below the threshold "
        "distributes almost nothing: scaled per image, as in the paper, it paints noise in "
        "full colour. The gap is exact (it does not depend on nsamples).",
        *parts,
    ])
    print(text)
    if not args.no_write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
