"""``dermviz sanity``: a suite's sanity checks, cached, beside the paper's numbers.

A thin caller of :mod:`dermviz.sanity`: options -> specs
(:func:`~dermviz.sanity.design.randomization_spec`,
:func:`~dermviz.sanity.design.comparison_spec`) -> :func:`~dermviz.sanity.runner.run`
-> printed tables and an optional CSV. Studies are cached under
``<suite>/sanity/<kind>-<key>/``, shared with the dashboard's researcher pages.

This module is imported when the CLI starts: heavy imports (TensorFlow, the
backend) happen inside the functions. It imports only :mod:`dermviz.sanity`'s package-level
names.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermviz.cli.options import add_command, open_suite, split

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from dermviz.sanity import (
        ComparisonResult,
        EfficientRandomizationResult,
        RandomizationResult,
    )

__all__ = ["ALSO", "TESTS", "add_commands", "add_sanity_arguments", "run_sanity"]

#: ``--test`` names -> check kinds: the classic layer-randomization test and the two
#: repaired ones of Hedstroem et al. (smooth and efficient MPRT).
TESTS = {"classic": "randomization", "smprt": "smprt", "emprt": "emprt"}
#: ``--also`` names -> check kinds.
ALSO = {"reproducibility": "reproducibility", "cross-model": "cross_model"}
# Kept literal so that building the parser imports nothing heavy; the same as
# dermviz.sanity.design.METHODS and CROSS_MODEL_MEMBERS (checked in the tests).
_METHODS = ("gradcam", "kernelshap")
_CROSS_MODEL_MEMBERS = 3


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``sanity``."""
    add_sanity_arguments(add_command(sub, "sanity", run_sanity,
                                     "run sanity-check studies on a suite"))


def add_sanity_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dermviz sanity`` (kept free of heavy imports: runs at start-up)."""
    parser.description = (
        "Sanity checks of a suite's saliency maps: layer randomization (after Adebayo "
        "et al. and the paper's protocol), reproducibility and cross-model similarity. "
        "Results are cached under <suite>/sanity/ and shown in the dashboard's "
        "Researchers pages."
    )
    parser.add_argument("--suite", required=True, help="suite name or folder")
    parser.add_argument(
        "--study", choices=["paper", "custom"], default="paper",
        help="paper: the paper's design (six layers, cascading, 16 hold-out images, both "
             "methods, plus reproducibility and cross-model); custom: every option as given",
    )
    parser.add_argument(
        "--test", choices=list(TESTS), default="classic",
        help="classic: the layer-randomization test (Adebayo et al., the paper's); smprt: "
             "the same on maps averaged over noisy copies of the image; emprt: the entropy "
             "of the maps of the fully randomized model over the trained model's "
             "(Hedstroem et al. 2023; smprt and emprt need --study custom)",
    )
    parser.add_argument("--member", default=None, help="member to randomize (default: first)")
    parser.add_argument("--methods", default=",".join(_METHODS),
                        help="comma-separated saliency methods (default: gradcam,kernelshap)")
    parser.add_argument("--layer-set", choices=["paper", "blocks"], default=None,
                        help="paper: the paper's six single layers (default); blocks: whole "
                             "Inception blocks (custom study only; emprt's default: every "
                             "weighted layer)")
    parser.add_argument("--order", choices=["cascading", "bottom_up", "independent"],
                        default=None,
                        help="custom study only: cascading (top-down, the classic default), "
                             "bottom_up (from the input, the smprt default) or independent")
    parser.add_argument("--n-noisy", type=int, default=50,
                        help="smprt: explanations averaged per map, the noise-free one "
                             "included (default 50)")
    parser.add_argument("--noise-level", type=float, default=0.1,
                        help="smprt: noise sd as a fraction of the image's value range "
                             "(default 0.1)")
    parser.add_argument("--n-bins", type=int, default=100,
                        help="emprt: histogram bins of the map entropy (default 100)")
    parser.add_argument("--target", choices=["original", "predicted"], default=None,
                        help="class each stage explains: the trained model's prediction "
                             "(custom default) or each stage's own (the paper's)")
    parser.add_argument("--stages", default=None,
                        help="custom study: comma-separated stage names to randomize "
                             "(default: all of the layer set)")
    parser.add_argument("--images", default=None,
                        help="comma-separated hold-out image ids (default: the paper's 16, "
                             "8 mel + 8 nv, or a stand-in on a small hold-out)")
    parser.add_argument("--layer", default=None,
                        help="GradCAM target layer (default: the suite's)")
    parser.add_argument("--nsamples", type=int, default=None,
                        help="KernelSHAP coalitions per image (default: the explainer's, the "
                             "paper's 2500; slow on a CPU, about 1-2 min per image at 224 px)")
    parser.add_argument("--n-segments", type=int, default=None,
                        help="KernelSHAP superpixels (default: the explainer's, the paper's)")
    parser.add_argument("--reset-bias", action="store_true",
                        help="custom study: also reset biases (the paper kept them)")
    parser.add_argument("--reset-batchnorm", action="store_true",
                        help="custom study: also reset BatchNorm (the paper kept it)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the re-initialisation and the random baseline")
    parser.add_argument("--also", default=None,
                        help="comma-separated extra checks: reproducibility, cross-model, or "
                             "none (paper default: both; custom default: none)")
    parser.add_argument("--cross-members", default=None,
                        help="cross-model: comma-separated members (default: --member and "
                             f"the next ones, {_CROSS_MODEL_MEMBERS} in all)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="write every result's long table to this CSV file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parse_also(value: str | None, study: str) -> list[str]:
    if value is None:
        return list(ALSO.values()) if study == "paper" else []
    names = split(value)
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in ALSO]
    if unknown:
        raise ValueError(f"unknown --also {unknown}; choose from {sorted(ALSO)} or none")
    return [ALSO[n] for n in names]


def run_sanity(args: argparse.Namespace) -> None:
    """``dermviz sanity``: run (or load) the studies, print the tables, write the CSV."""
    from dermviz import api, sanity

    suite = open_suite(args)
    methods = split(args.methods)
    known = api.available_methods()
    bad = [m for m in methods if m not in known]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {bad or methods}; choose from {known}")
    also = _parse_also(args.also, args.study)
    if args.nsamples is not None and args.nsamples < 1:
        raise ValueError(f"--nsamples must be >= 1, got {args.nsamples}")
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    member = args.member or suite.member_ids[0]
    suite.member(member)  # KeyError naming the members
    cross_members = split(args.cross_members) or None
    for m in cross_members or []:
        suite.member(m)
    dataset = suite.dataset()
    models: dict[str, Any] = {}

    def load_model(member_id: str) -> Any:  # each member loaded once, only on a cache miss
        if member_id not in models:
            models[member_id] = suite.load_model(member_id)
        return models[member_id]

    if args.test != "classic" and args.study == "paper":
        raise ValueError(f"--test {args.test} is not the paper's design; add --study custom")
    if args.test == "emprt" and args.order is not None:
        raise ValueError("--order does not apply to emprt: it randomizes every layer at once")
    single = len(suite.member_ids) < 2 and not cross_members
    plan = []  # (title kind, spec), in the order printed
    for method in methods:
        params = sanity.method_params(suite, method, layer=args.layer, nsamples=args.nsamples,
                                      n_segments=args.n_segments)
        spec = _randomization_spec(args, suite, member, method, params, dataset)
        plan.append(spec)
        plan.extend(
            sanity.comparison_spec(
                suite, kind, member=member, members=cross_members, method=method,
                params=params, image_ids=spec.image_ids, seed=args.seed, dataset=dataset,
            )
            for kind in also
            if not (kind == "cross_model" and single)
        )

    print(f"suite {suite.name}: {args.study} study of member {member}, "
          f"{len(plan[0].image_ids)} images, methods {', '.join(methods)}")
    tables = []
    for spec in plan:
        start = time.perf_counter()
        result = sanity.cached_study(suite, spec)
        cached = result is not None
        if not cached:
            result = sanity.run(suite, spec, dataset=dataset, load_model=load_model,
                                progress=not args.no_progress)
        status = _status(cached, time.perf_counter() - start, sanity.study_folder(suite, spec))
        if spec.kind in ("randomization", "smprt"):
            _print_randomization(result, status)
        elif spec.kind == "emprt":
            _print_emprt(result, status)
        else:
            _print_comparison(result, status)
        tables.append(_long(result, spec.kind, member))
    if also and "cross_model" in also and single:
        print(f"\ncross_model: skipped, suite {suite.name!r} has a single member")
    if args.csv is not None:
        _write_csv(args.csv, tables)
        print(f"\nwrote {args.csv}")


def _randomization_spec(args: argparse.Namespace, suite: Any, member: str, method: str,
                        params: dict[str, Any], dataset: Any) -> Any:
    """The spec of ``--test`` (classic, smprt or emprt) from the options."""
    from dermviz import sanity

    common = dict(member=member, method=method, params=params, image_ids=split(args.images),
                  target=args.target, seed=args.seed, reset_bias=args.reset_bias,
                  reset_batchnorm=args.reset_batchnorm, stages=split(args.stages) or None,
                  dataset=dataset)
    if args.test == "emprt":
        return sanity.emprt_spec(suite, layer_set=args.layer_set or "blocks",
                                 n_bins=args.n_bins, **common)
    if args.test == "smprt":
        return sanity.smprt_spec(suite, layer_set=args.layer_set,
                                 order=args.order or "bottom_up", n_noisy=args.n_noisy,
                                 noise_level=args.noise_level, **common)
    return sanity.randomization_spec(suite, study=args.study, layer_set=args.layer_set,
                                     order=args.order or "cascading", **common)


def _long(result: Any, study: str, member: str) -> pd.DataFrame:
    t = result.table.copy()
    t.insert(0, "study", study)
    t.insert(1, "member", member)
    return t


def _write_csv(path: Path, tables: list[pd.DataFrame]) -> None:
    import pandas as pd

    from dermviz.store.atomic import write_atomic

    cols = ["study", "member", "method", "image_id", "kind", "stage", "stage_name", "a", "b",
            "measure", "value"]
    df = pd.concat(tables, ignore_index=True)
    if "stage" in df:
        df["stage"] = df["stage"].astype("Int64")  # NaN for comparison rows
    df = df[[c for c in cols if c in df] + [c for c in df if c not in cols]]
    data = df.to_csv(index=False).encode()
    write_atomic(Path(path), lambda fh: fh.write(data))


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


def _status(cached: bool, seconds: float, folder: Path) -> str:
    return f"cached, {folder}" if cached else f"computed in {seconds:.0f} s, saved to {folder}"


def _print_randomization(result: RandomizationResult, status: str) -> None:
    from dermviz import sanity

    spec = result.spec
    params = ", ".join(f"{k}={v}" for k, v in spec.method_params.items())
    title = "layer randomization"
    if spec.kind == "smprt":
        title = (f"smooth layer randomization (sMPRT, {spec.n_noisy} copies at noise "
                 f"{spec.noise_level:g})")
    print(f"\n== {spec.method} {title}: member {spec.member_id}, "
          f"{len(result.image_ids)} images, {spec.layer_set} layers, {spec.order}, "
          f"target {spec.target} ({params})")
    print(f"   [{status}]")
    print("similarity to the original map (mean over images; higher = more similar):")
    print(_fmt(result.stage_table().drop(columns="stage")))
    print("baselines (the trained map against a map with no information):")
    print(_fmt(result.baseline_table()))
    print("per step, mean |change| of similarity to the original (the paper's metric):")
    print(_fmt(result.step_table().drop(columns=["from_stage"])))
    if not sanity.paper_comparable(spec):
        print("(no paper reference: the design differs from the paper's)")
    for w in result.warnings:
        print(f"warning: {w}")


def _print_emprt(result: EfficientRandomizationResult, status: str) -> None:
    spec = result.spec
    print(f"\n== {spec.method} efficient layer randomization (eMPRT): member "
          f"{spec.member_id}, {len(result.image_ids)} images, {len(result.layers)} layers "
          f"({spec.layer_set}) randomized, {spec.n_bins} bins")
    print(f"   [{status}]")
    print("map entropy of the fully randomized model over the trained model's "
          "(higher = the method noticed; 1 = no change):")
    print(_fmt(result.scores()))
    print(f"mean ratio: {result.mean_ratio:.3f}")
    print("reference maps (entropy, and ratio to the trained map's):")
    print(_fmt(result.summary()))
    for w in result.warnings:
        print(f"warning: {w}")


def _print_comparison(result: ComparisonResult, status: str) -> None:
    title = {"reproducibility": "reproducibility (same member twice)",
             "cross_model": "cross-model similarity"}[result.kind]
    spec = result.spec
    seeds = spec.explainer_seeds()
    extra = f", explainer seeds {seeds}" if seeds else ""
    print(f"\n== {result.method} {title}: members {' vs '.join(spec.members)}, "
          f"{len(result.image_ids)} images{extra}")
    print(f"   [{status}]")
    print(_fmt(result.comparison_table().drop(columns=["kind"])))
    for w in result.warnings:
        print(f"warning: {w}")
