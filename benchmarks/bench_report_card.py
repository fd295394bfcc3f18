"""The report card of explanation methods on a suite: the numbers of issue 23.

For a suite folder it runs a report-card study (:func:`dermviz.api.evaluation_study`,
cached in the suite: run it on a copy of a suite you must not write to) with the given
methods and metrics on as many hold-out images as fit in ``--budget-s`` seconds (measured
on a 2-image study first, whose images the full study includes), and writes:

* per member, method and metric: the mean score with its 95 % bootstrap interval over
  images, beside the random map's and the centred Gaussian's, and whether it passes
  (:func:`dermviz.evaluation.summarize_scores`);
* per member and family: metrics passed and mean rank of each method, the best marked
  (:func:`dermviz.evaluation.report.family_table`);
* the same maps' lesion relevance mass
  (:func:`dermviz.analysis.localization.relevance_mass_accuracy`)
  beside chance and the centred Gaussian;
* per member, Spearman's rank correlation between the methods' faithfulness ranking (their
  mean rank on the faithfulness metrics) and their localization ranking (relevance mass):
  do the two views of "a good map" agree?

Usage::

    python benchmarks/bench_report_card.py --suite PATH [--budget-s 600] [--methods ...]
        [--metrics ...] [--steps 20] [--max-images 100] [--config FILE] [--no-write]

Writes the ``## Report card (issue 23): <demo | HAM10000>`` section of
``benchmarks/RESULTS.md`` (or of ``--results PATH``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_report_card.py` from the root
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE = "Report card (issue 23)"
METHODS = ("gradcam", "gradcam_pp", "layercam")
METRICS = ("deletion", "insertion", "max_sensitivity", "sparseness", "complexity")
CALIBRATION_IMAGES = 2


def _options(args: argparse.Namespace) -> dict[str, Any]:
    steps = {"n_steps": args.steps}
    params: dict[str, dict[str, Any]] = {
        m: dict(steps) for m in ("deletion", "insertion") if m in args.metrics
    }
    for m in ("max_sensitivity", "avg_sensitivity"):
        if m in args.metrics:
            params[m] = {"n_samples": args.sensitivity_samples}
    return {
        "methods": args.methods,
        "metrics": args.metrics,
        "metric_params": params,
        "members": args.members or None,
    }


def _ci(row: pd.Series) -> str:
    if pd.isna(row["score_low"]):
        return f"{row['score']:.3f}"
    return f"{row['score']:.3f} [{row['score_low']:.3f}, {row['score_high']:.3f}]"


def _localization(result: Any, suite: Any) -> pd.DataFrame:
    """Relevance mass on the lesion of every map of the study, beside its baselines."""
    from dermviz.analysis.localization import localization_table
    from dermviz.api import suite_dataset

    masks = suite_dataset(suite).load_masks(result.image_ids, size=suite.image_size, missing="ones")
    frames = []
    for a, member in enumerate(result.member_ids):
        for b, method in enumerate(result.methods):
            maps = result.maps[a, b]
            frames.append(
                localization_table(
                    maps,
                    masks,
                    image_ids=result.image_ids,
                    signed=bool((maps < 0).any()),
                    scores=["mass"],
                    labels={"member": member, "method": method},
                )
            )
    return pd.concat(frames, ignore_index=True)


def _rank_agreement(families: pd.DataFrame, mass: pd.DataFrame) -> pd.DataFrame:
    """Per member: Spearman between the methods' faithfulness and localization rankings."""
    from scipy.stats import spearmanr

    rows = []
    for member, group in families[families["family"] == "faithfulness"].groupby("member"):
        faithful = group.set_index("method")["mean_rank"]  # 1 = best
        located = mass[mass["member"] == member].groupby("method")["mass"].mean()
        methods = [m for m in faithful.index if m in located.index]
        # higher mass = better: rank it so that 1 = best, as the faithfulness ranks are
        loc_rank = located[methods].rank(ascending=False)
        rho = spearmanr(faithful[methods], loc_rank).statistic if len(methods) > 2 else np.nan
        rows.append(
            {
                "member": member,
                "methods": len(methods),
                "faithfulness order": " > ".join(faithful[methods].sort_values().index),
                "localization order": " > ".join(loc_rank.sort_values().index),
                "spearman": float(rho),
            }
        )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame) -> str:
    """A pipe table (floats to 3 decimals, NaN as "-")."""

    def cell(value: Any) -> str:
        if isinstance(value, float | np.floating):
            return "-" if np.isnan(value) else f"{value:.3f}"
        return str(value)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def measure(suite_path: Path, args: argparse.Namespace) -> tuple[str, str]:
    from dermviz import api
    from dermviz.sanity import evaluation_image_ids

    suite = api.open_suite(suite_path)
    options = _options(args)
    holdout = api.holdout(suite)
    pool = evaluation_image_ids(holdout, min(args.max_images, len(holdout)))
    # The calibration study: the first images of each class, which the full study holds too.
    # Its first image per member pays the model's loading and tracing: the cost of the
    # others is what more images add.
    calibration = evaluation_image_ids(holdout, CALIBRATION_IMAGES)
    ticks: list[tuple[str, float]] = []
    last = [time.perf_counter()]

    def tick(done: int, total: int, what: str) -> None:
        now = time.perf_counter()
        ticks.append((what, now - last[0]))
        last[0] = now

    api.evaluation_study(suite, image_ids=calibration, progress=tick, force=True, **options)
    per_image = sum(s for what, s in ticks if not what.endswith(f" {calibration[0]}"))
    per_image /= CALIBRATION_IMAGES - 1
    n = int(min(len(pool), max(CALIBRATION_IMAGES, args.budget_s // per_image)))
    n -= n % 2  # half of each class
    ids = evaluation_image_ids(holdout, n)
    start = time.perf_counter()
    result = api.evaluation_study(suite, image_ids=ids, progress=True, force=True, **options)
    seconds = time.perf_counter() - start
    summary = result.summary(n_bootstrap=args.bootstrap)
    families = result.family_table(summary)
    mass = _localization(result, suite)
    agreement = _rank_agreement(families, mass)

    kind = "HAM10000" if suite.dataset_info.get("name") == "ham10000" else "demo"
    params = result.spec.metric_params
    lines = [config_line(suite.config, args.config), ""] if args.config else []
    lines += [
        f"Suite `{suite.name}` ({suite.dataset_info.get('name')}, {suite.image_size} px, "
        f"{len(result.member_ids)} member(s): {', '.join(result.member_ids)}); "
        f"{len(ids)} hold-out images, half of each class: as many as fit in the "
        f"{args.budget_s:.0f} s budget at {per_image:.1f} s per image (all members, all "
        f"methods; after each member's first, which pays its loading and tracing), measured "
        f"on a {CALIBRATION_IMAGES}-image study first; the study took "
        f"{seconds:.0f} s. Methods: {', '.join(result.methods)} (the suite's layer). "
        "Metrics: "
        + "; ".join(
            f"{m} ({', '.join(f'{k}={v}' for k, v in params[m].items() if k != 'batch_size')})"
            for m in result.spec.metrics
        )
        + ".",
        "",
        "Every score beside the random map's and the centred Gaussian's; [95 % bootstrap "
        "interval over images]; a method passes a metric when its gain over every baseline "
        "the metric requires has its interval above 0 (robustness: the random map only). "
        "★ = best mean rank of its family.",
    ]
    for member in result.member_ids:
        mine = summary[summary["member"] == member]
        fam = families[families["member"] == member]
        best = set(map(tuple, fam.loc[fam["best"], ["family", "method"]].to_numpy()))
        table = pd.DataFrame(
            {
                "family": mine["family"],
                "metric": mine["metric"],
                "better": mine["higher_is_better"].map({True: "higher", False: "lower"}),
                "method": [
                    m + (" ★" if (f, m) in best else "")
                    for f, m in zip(mine["family"], mine["method"], strict=True)
                ],
                "score [95% CI]": mine.apply(_ci, axis=1),
                "random map": mine["score_random"],
                "centred Gaussian": mine["score_gaussian"],
                "passes": mine["passes"].map({True: "yes", False: "no"}),
            }
        ).sort_values(["family", "metric"], kind="stable")
        lines += ["", f"Member `{member}`:", "", _markdown(table)]
        grid = (
            fam.assign(
                cell=fam.apply(
                    lambda r: (
                        f"{r['n_passed']}/{r['n_metrics']} pass, rank {r['mean_rank']:.2f}"
                        + (" ★" if r["best"] else "")
                    ),
                    axis=1,
                )
            )
            .pivot(index="method", columns="family", values="cell")
            .reset_index()
        )
        lines += ["", _markdown(grid)]
    located = (
        mass.groupby(["member", "method"], sort=False)[["mass", "mass_gaussian", "chance"]]
        .mean()
        .reset_index()
        .rename(columns={"mass": "lesion relevance mass", "mass_gaussian": "centred Gaussian"})
    )
    lines += [
        "",
        "Localization of the same maps (share of the map's mass on the lesion "
        "mask; signed maps: their positive part):",
        "",
        _markdown(located),
    ]
    lines += [
        "",
        "Do the two views agree? Spearman's rank correlation, over the methods, "
        "between their faithfulness ranking (mean rank on the faithfulness metrics, "
        "1 = best) and their localization ranking (relevance mass, highest first); "
        f"with {len(result.methods)} methods a correlation is coarse (its possible "
        "values are few):",
        "",
        _markdown(agreement),
    ]
    for sentence in api.report_sentences(summary, families):
        lines.append(f"- {sentence}")
    for warning in result.warnings:
        lines.append(f"- warning: {warning}")
    return kind, "\n".join(lines)


def config_line(suite_config: dict[str, Any], path: Path) -> str:
    """How a suite's training settings differ from the config file ``path`` it follows."""
    from dermviz.models.config import TrainConfig

    shipped = TrainConfig.from_file(path).to_dict()
    differs = {k: (suite_config.get(k), v) for k, v in shipped.items()
               if k in suite_config and suite_config.get(k) != v}
    if not differs:
        return f"Trained from `{path.as_posix()}` with every setting as shipped."
    return (f"Trained from `{path.as_posix()}`; it differs from the shipped settings in: "
            + ", ".join(f"{k} {ours} (shipped: {theirs})"
                        for k, (ours, theirs) in differs.items()) + ".")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--suite",
        type=Path,
        required=True,
        help="a suite folder (the study is cached in it: use a copy)",
    )
    parser.add_argument("--methods", type=lambda s: s.split(","), default=list(METHODS))
    parser.add_argument("--metrics", type=lambda s: s.split(","), default=list(METRICS))
    parser.add_argument("--members", type=lambda s: s.split(","), default=None)
    parser.add_argument("--steps", type=int, default=20, help="deletion/insertion steps")
    parser.add_argument(
        "--sensitivity-samples",
        type=int,
        default=5,
        help="noisy copies per image of the sensitivity metrics",
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=600.0,
        help="seconds the full study may take (sets the number of images)",
    )
    parser.add_argument("--max-images", type=int, default=100)
    parser.add_argument("--config", type=Path, default=None,
                        help="the config file the suite was trained from: the section says "
                        "how the suite differs from it")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    kind, body = measure(args.suite, args)
    body += "\n\n- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    print(body)
    if not args.no_write:
        write_section(f"{TITLE}: {kind}", body, path=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
