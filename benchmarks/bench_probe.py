"""Spurious-correlation probe: does a suite learn an artefact shortcut, and does GradMask
stop it?

Builds the probe suites with ``dermviz probe`` (:func:`dermviz.demo.run_probe`): synthetic
images with an artefact (``--artefact``: an ink mark near the lesion, or a ruler along one
edge) on every training melanoma and no training naevus, and on half of each class in the
hold-out; trained plainly, with GradMask at weight ``--gradmask`` (unless
``--no-gradmask``), and (``--control``) without the correlation. For each suite: hold-out
accuracy on all images and with / without the artefact (mean over members, at each member's
threshold), and the mean share of GradCAM (at two layers) and KernelSHAP mass on the
artefact (over the images that carry it) and on the lesion, beside chance (the region's
share of the image).

Usage::

    python benchmarks/bench_probe.py [--size default] [--artefact ink|ruler]
                                     [--gradmask 10 | --no-gradmask] [--control]
                                     [--models-dir DIR] [--no-write]

``--size default`` (128 px, 600 training images, two members, six epochs; GradMask fits
cost 2-3x a plain one) is the real run; ``--size smoke`` only checks that the script works.
Suites already built in ``--models-dir`` are resumed, not retrained. Writes the
``## Spurious-correlation probe`` section of ``benchmarks/RESULTS.md`` (``## ...: ruler``
for the ruler; through :func:`benchmarks.results.write_section`) unless ``--no-write``.
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
from dermviz.models.profiles import PROBE_FINE_LAYER  # noqa: E402

TITLE = "Spurious-correlation probe"


def title(artefact: str) -> str:
    """The RESULTS.md section of a probe artefact (the default ink keeps the bare title)."""
    from dermviz.models.profiles import PROBE_ARTEFACT

    return TITLE if artefact == PROBE_ARTEFACT else f"{TITLE}: {artefact}"


#: Where the maps come from: (label, method, parameter overrides). GradCAM at the suite's
#: layer (mixed7: a 6x6 grid at 128 px) and at mixed2 (13x13, fine enough for a thin ink
#: mark), and KernelSHAP on SLIC superpixels, hidden ones showing a blurred copy (the white
#: reference leaves these saturated members little to explain).
MAP_SOURCES = (("GradCAM, suite layer", "gradcam", {}),
               (f"GradCAM, {PROBE_FINE_LAYER}", "gradcam", {"layer": PROBE_FINE_LAYER}),
               ("KernelSHAP, blur reference", "kernelshap", {"reference": "blur"}))


def measure(suite: object, *, artefact: str, shap_images: int, shap_nsamples: int) -> dict:
    """Mean over members of the probe's accuracy and saliency-share figures."""
    from dermviz.analysis.probe import accuracy_by_artefact, probe_summary, probe_table
    from dermviz.explain.precompute import default_params

    dataset = suite.dataset()
    accuracy = accuracy_by_artefact(suite, dataset=dataset).groupby("subset")["accuracy"].mean()
    holdout = dataset.holdout.sort_values("test_index")
    marked = holdout.loc[holdout[artefact].astype(bool), "image_id"].tolist()
    shares = {}
    for label, method, overrides in MAP_SOURCES:
        params = default_params(suite, method, **overrides)
        ids = None
        if method == "kernelshap":  # seconds per map: a subset of the marked images
            params = default_params(suite, method, nsamples=shap_nsamples, **overrides)
            ids = marked[:shap_images]
        table = probe_table(suite, method=method, params=params, image_ids=ids,
                            dataset=dataset)
        summary = probe_summary(table).mean(numeric_only=True)
        shares[label] = {k: float(summary[k]) for k in
                         ("lesion_share", "lesion_chance")}
        shares[label]["artefact_share"] = float(summary[f"{artefact}_share"])
        shares[label]["artefact_chance"] = float(summary[f"{artefact}_chance"])
        shares[label]["images"] = len(ids) if ids is not None else len(holdout)
        shares[label]["layer"] = params.get("layer")
    fit = [suite.member(m).get("fit_seconds") for m in suite.member_ids]
    return {"auc": suite.metrics_table()["auc"].mean(), "acc_all": accuracy["all"],
            "acc_with": accuracy[f"with {artefact}"],
            "acc_without": accuracy[f"without {artefact}"],
            "fit_minutes": sum(fit) / 60 if all(f is not None for f in fit) else None,
            "shares": shares}


def render(rows: list[dict], size: str, *, artefact: str, shap_nsamples: int) -> str:
    what = {"ink": "an ink mark near the lesion",
            "ruler": "a ruler along one edge"}.get(artefact, artefact)
    lines = [
        provenance(),
        "",
        f"Probe size `{size}`, artefact `{artefact}` ({what}): synthetic data, the artefact "
        "on every training melanoma and no training naevus (the control: on half of each "
        "class), on half of each class in the hold-out. Means over each suite's members; "
        "accuracy at each member's threshold. A shortcut shows as accuracy near 50% with "
        f"and without the {artefact}.",
        "",
        f"| suite | GradMask λ | members | AUC | accuracy | with {artefact} "
        f"| without {artefact} | training min (members' fits) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lam = "-" if r["gradmask"] is None else f"{r['gradmask']:g}"
        fit = "not recorded" if r["fit_minutes"] is None else f"{r['fit_minutes']:.1f}"
        lines.append(
            f"| {r['name']} | {lam} | {r['members']} | {r['auc']:.3f} | {r['acc_all']:.1%} "
            f"| {r['acc_with']:.1%} | {r['acc_without']:.1%} | {fit} |")
    lines += [
        "",
        f"Where the maps go: the share of each map's positive mass on the {artefact} (over "
        "the hold-out images that carry it) and on the lesion, and in brackets that share "
        "over chance (the region's share of the image: 1x is a map blind to the region). "
        f"KernelSHAP: {shap_nsamples} samples, the first hold-out images with the {artefact} "
        "only (count in the table).",
        "",
        f"| suite | maps | images | {artefact} share (x chance) | lesion share (x chance) "
        f"| more on the {artefact} than on the lesion |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        for label, v in r["shares"].items():
            on, lesion = v["artefact_share"], v["lesion_share"]
            lines.append(
                f"| {r['name']} | {label} | {v['images']} "
                f"| {on:.1%} ({on / v['artefact_chance']:.2f}x) "
                f"| {lesion:.1%} ({lesion / v['lesion_chance']:.2f}x) "
                f"| {'yes' if on > lesion else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["smoke", "default"], default="default")
    parser.add_argument("--artefact", choices=["ink", "ruler"], default="ink",
                        help="the spurious artefact (default: ink)")
    parser.add_argument("--gradmask", type=float, default=10.0, metavar="LAMBDA",
                        help="GradMask weight of the second suite (default 10)")
    parser.add_argument("--no-gradmask", action="store_true",
                        help="build the plain suite (and the control) only")
    parser.add_argument("--control", action="store_true",
                        help="also build the uncorrelated control suite")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="where the suites are built (default: a temporary folder)")
    parser.add_argument("--shap-images", type=int, default=12,
                        help="hold-out images with the artefact explained with KernelSHAP, "
                        "per member")
    parser.add_argument("--shap-nsamples", type=int, default=400)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    from dermviz.cli import probe_name
    from dermviz.demo import run_probe

    variants = ([(True, None)] + ([] if args.no_gradmask else [(True, args.gradmask)])
                + ([(False, None)] if args.control else []))
    with tempfile.TemporaryDirectory() as tmp:
        root = args.models_dir or Path(tmp)
        rows = []
        for k, (correlated, gradmask) in enumerate(variants, 1):
            name = probe_name(size=args.size, control=not correlated, gradmask=gradmask,
                              artefact=args.artefact)
            print(f"[{k}/{len(variants)}] building {name} under {root} ...", flush=True)
            t0 = time.perf_counter()
            suite = run_probe(size=args.size, correlated=correlated, gradmask=gradmask,
                              artefact=args.artefact, out_dir=root / name)
            minutes = (time.perf_counter() - t0) / 60
            print(f"[{k}/{len(variants)}] {name} built in {minutes:.1f} min; measuring",
                  flush=True)
            rows.append({"name": name, "gradmask": gradmask, "members": len(suite.member_ids),
                         **measure(suite, artefact=args.artefact,
                                   shap_images=args.shap_images,
                                   shap_nsamples=args.shap_nsamples)})
    text = render(rows, args.size, artefact=args.artefact, shap_nsamples=args.shap_nsamples)
    print(text)
    if not args.no_write:
        write_section(title(args.artefact), text)


if __name__ == "__main__":
    main()
