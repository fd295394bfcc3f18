"""Spurious-correlation probe: does a suite learn an ink shortcut, and does GradMask stop it?

Builds the probe suites with ``dermviz probe`` (:func:`dermviz.demo.run_probe`): synthetic
images with an ink mark on every training melanoma and no training naevus, and on half of
each class in the hold-out; trained plainly, with GradMask at weight ``--gradmask``, and
(``--control``) without the correlation. For each suite: hold-out accuracy on all images
and with / without the ink (mean over members, at each member's threshold), and the mean
share of GradCAM mass on the ink (over inked images) and on the lesion, beside chance (the
region's share of the image).

Usage::

    python benchmarks/bench_probe.py [--size default] [--gradmask 10] [--control]
                                     [--models-dir DIR] [--no-write]

``--size default`` (128 px, 600 training images, two members, six epochs; GradMask fits
cost 2-3x a plain one) is the real run; ``--size smoke`` only checks that the script works.
Suites already built in ``--models-dir`` are resumed, not retrained. Writes the
``## Spurious-correlation probe`` section of ``benchmarks/RESULTS.md`` (through
:func:`benchmarks.results.write_section`) unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # `python benchmarks/bench_probe.py` from the repo root
    sys.path.insert(0, str(REPO))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.results import provenance, write_section  # noqa: E402

TITLE = "Spurious-correlation probe"


def measure(suite: object) -> dict[str, float]:
    """Mean over members of the probe's accuracy and saliency-share figures."""
    from dermviz.analysis.probe import accuracy_by_artefact, probe_summary, probe_table

    dataset = suite.dataset()
    accuracy = accuracy_by_artefact(suite, dataset=dataset).groupby("subset")["accuracy"].mean()
    summary = probe_summary(probe_table(suite, dataset=dataset)).mean(numeric_only=True)
    auc = suite.metrics_table()["auc"].mean()
    return {"auc": auc, "acc_all": accuracy["all"], "acc_with": accuracy["with ink"],
            "acc_without": accuracy["without ink"], "ink_share": summary["ink_share"],
            "ink_chance": summary["ink_chance"], "lesion_share": summary["lesion_share"],
            "lesion_chance": summary["lesion_chance"]}


def render(rows: list[dict], size: str) -> str:
    lines = [
        provenance(),
        "",
        f"Probe size `{size}`: synthetic data, ink on every training melanoma and no training "
        "naevus (the control: on half of each class), on half of each class in the "
        "hold-out. Means over each suite's members; accuracy at each member's threshold; "
        "shares of GradCAM mass (ink: over the inked hold-out images), chance in brackets "
        "(the region's share of the image). A shortcut shows as accuracy near 50% with and "
        "without the ink and an ink share far above its chance.",
        "",
        "| suite | GradMask λ | members | AUC | accuracy | with ink | without ink "
        "| ink share (chance) | lesion share (chance) | build min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lam = "-" if r["gradmask"] is None else f"{r['gradmask']:g}"
        lines.append(
            f"| {r['name']} | {lam} | {r['members']} | {r['auc']:.3f} | {r['acc_all']:.1%} "
            f"| {r['acc_with']:.1%} | {r['acc_without']:.1%} "
            f"| {r['ink_share']:.1%} ({r['ink_chance']:.1%}) "
            f"| {r['lesion_share']:.1%} ({r['lesion_chance']:.1%}) | {r['minutes']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["smoke", "default"], default="default")
    parser.add_argument("--gradmask", type=float, default=10.0, metavar="LAMBDA",
                        help="GradMask weight of the second suite (default 10)")
    parser.add_argument("--control", action="store_true",
                        help="also build the uncorrelated control suite")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where the suites are built (default: a temporary folder)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    from dermviz.cli import probe_name
    from dermviz.demo import run_probe

    variants = [(True, None), (True, args.gradmask)] + ([(False, None)] if args.control else [])
    with tempfile.TemporaryDirectory() as tmp:
        root = args.models_dir or Path(tmp)
        rows = []
        for k, (correlated, gradmask) in enumerate(variants, 1):
            name = probe_name(size=args.size, control=not correlated, gradmask=gradmask)
            print(f"[{k}/{len(variants)}] building {name} under {root} ...", flush=True)
            t0 = time.perf_counter()
            suite = run_probe(size=args.size, correlated=correlated, gradmask=gradmask,
                              out_dir=root / name)
            minutes = (time.perf_counter() - t0) / 60
            print(f"[{k}/{len(variants)}] {name} built in {minutes:.1f} min; measuring",
                  flush=True)
            rows.append({"name": name, "gradmask": gradmask, "members": len(suite.member_ids),
                         "minutes": minutes, **measure(suite)})
    text = render(rows, args.size)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)


if __name__ == "__main__":
    main()
