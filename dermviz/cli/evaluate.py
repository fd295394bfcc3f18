"""``dermviz evaluate``: the report card of explanation methods on a suite.

Every method's maps scored by faithfulness, robustness and complexity metrics beside a
random map and the centred Gaussian, per member, with 95 % bootstrap intervals over images
(:func:`dermviz.api.evaluation_study`). Cached under ``<suite>/sanity/evaluation-<key>/``,
shared with the dashboard's Report card page; an interrupted run resumes at the image it
stopped at. See docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from dermviz import api
from dermviz.cli.options import add_command, open_suite, split

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``evaluate``."""
    parser = add_command(
        sub,
        "evaluate",
        _evaluate,
        "the report card of explanation methods: faithfulness, robustness "
        "and complexity beside a random map and the centred Gaussian",
    )
    parser.add_argument("--suite", required=True, help="suite name or folder")
    parser.add_argument(
        "--methods",
        default=",".join(api.EVALUATION_DEFAULTS["methods"]),
        help="comma-separated saliency methods (default: "
        f"{','.join(api.EVALUATION_DEFAULTS['methods'])}, the fast ones)",
    )
    parser.add_argument(
        "--metrics",
        default=",".join(api.EVALUATION_DEFAULTS["metrics"]),
        help="comma-separated metrics (default: "
        f"{','.join(api.EVALUATION_DEFAULTS['metrics'])}, the fast ones)",
    )
    parser.add_argument(
        "--images",
        type=int,
        default=8,
        help="number of hold-out images, half of each class (default 8)",
    )
    parser.add_argument(
        "--image-ids", default=None, help="comma-separated hold-out image ids (instead of --images)"
    )
    parser.add_argument("--members", default=None, help="comma-separated members (default: all)")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="steps of the deletion and insertion curves (default: the metrics', 20)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the random baselines")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=2000,
        help="bootstrap resamples of each interval (default 2000)",
    )
    parser.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="write the summary (with --per-image: every image's scores) to this CSV file",
    )
    parser.add_argument(
        "--per-image",
        action="store_true",
        help="--csv gets one row per member, method, image and metric",
    )
    parser.add_argument("--force", action="store_true", help="recompute even when cached")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _names(value: str, known: list[str], what: str) -> list[str]:
    names = split(value)
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"unknown {what} {bad or names}; choose from {', '.join(known)}")
    return names


def _fmt_ci(row: pd.Series, column: str) -> str:
    if pd.isna(row[f"{column}_low"]):
        return f"{row[column]:.3f}"
    return f"{row[column]:.3f} [{row[f'{column}_low']:.3f}, {row[f'{column}_high']:.3f}]"


def _evaluate(args: argparse.Namespace) -> None:
    methods = _names(args.methods, api.evaluation_methods(), "method(s)")
    metrics = _names(args.metrics, api.evaluation_metrics(), "metric(s)")
    if args.images < 1:
        raise ValueError(f"--images must be >= 1, got {args.images}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    suite = open_suite(args)
    metric_params = (
        {m: {"n_steps": args.steps} for m in metrics if m in ("deletion", "insertion")}
        if args.steps
        else None
    )
    start = time.perf_counter()
    result = api.evaluation_study(
        suite,
        methods=methods,
        metrics=metrics,
        image_ids=split(args.image_ids) or None,
        n_images=args.images,
        members=split(args.members) or None,
        metric_params=metric_params,
        seed=args.seed,
        progress=not args.no_progress,
        force=args.force,
    )
    seconds = time.perf_counter() - start
    summary = result.summary(n_bootstrap=args.bootstrap)
    families = result.family_table(summary)
    print(
        f"suite {suite.name}: report card of {', '.join(methods)} on "
        f"{len(result.image_ids)} hold-out images, {len(result.member_ids)} member(s) "
        f"({seconds:.1f} s; cached in {api.evaluation_folder(suite, result)})"
    )
    shown = summary.assign(
        score=summary.apply(_fmt_ci, axis=1, column="score"),
        better=summary["higher_is_better"].map({True: "higher", False: "lower"}),
    )
    columns = [
        "method",
        "family",
        "metric",
        "better",
        "score",
        "score_random",
        "score_gaussian",
        "passes",
    ]
    for member, group in shown.groupby("member", sort=False):
        print(
            f"\nmember {member}: mean score [95% interval over images] beside the random "
            "map and the centred Gaussian"
        )
        print(group[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        fam = families[families["member"] == member].assign(
            best=lambda f: f["best"].map({True: "*", False: ""})
        )
        print("\nper family (* = best mean rank; passes = every metric of the family passes)")
        print(
            fam[
                ["family", "method", "n_passed", "n_metrics", "passes", "mean_rank", "best"]
            ].to_string(index=False, float_format=lambda v: f"{v:.2f}")
        )
    print()
    for sentence in api.report_sentences(summary, families):
        print(f"- {sentence}")
    for warning in result.warnings:
        print(f"- warning: {warning}")
    if args.csv is not None:
        table = result.table if args.per_image else summary
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
        print(f"\nwrote {args.csv}")
