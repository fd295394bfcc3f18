"""``dermviz confounders``: what a model that never sees the lesion scores on a suite's
hold-out, beside the suite; the acquisition check; the suite's metrics by a metadata
column; with ``--counterfactuals``, the members on lesion-removed and surround-replaced
images. See docs/confounders.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from dermviz import api
from dermviz.cli.options import add_command, open_suite, print_suite, split

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``confounders``."""
    parser = add_command(sub, "confounders", _confounders,
                         "lesion-blind baselines beside a suite's AUC, the acquisition check "
                         "and metrics by metadata column")
    parser.add_argument("--suite", required=True)
    parser.add_argument("--by", default=None,
                        help="comma-separated metadata columns to break the metrics down by "
                        "(default: dx_type where present, else the artefact flags)")
    parser.add_argument("--histo-only", action="store_true",
                        help="the breakdown on the histo-confirmed hold-out images only")
    parser.add_argument("--colour-constancy", action="store_true",
                        help="Shades of Gray on every image before the colour features "
                        "(and the counterfactuals)")
    parser.add_argument("--max-train", type=int, default=None,
                        help="fit the baselines on at most this many pool images (default all)")
    parser.add_argument("--counterfactuals", action="store_true",
                        help="also score every member on the hold-out with the lesion removed "
                        "and with the surround replaced (runs the members; cached)")
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples of each interval (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _fmt(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


def _ci(frame: pd.DataFrame) -> pd.Series:
    return frame.apply(lambda r: "-" if pd.isna(r["auc_low"])
                       else f"{r['auc_low']:.3f}-{r['auc_high']:.3f}", axis=1)


def _confounders(args: argparse.Namespace) -> None:
    suite = open_suite(args)
    print_suite(suite, metrics=("auc",))
    options = {"colour_constancy": args.colour_constancy, "max_train": args.max_train,
               "n_bootstrap": args.bootstrap}
    cached = api.stored_blind_report(suite, **options) is not None
    if not cached:
        print("reading every pool and hold-out image for the lesion-blind baselines "
              "(once; cached in the suite folder)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    comparison = api.blind_comparison(suite, **options)
    report = api.blind_report(suite, **options)
    cc = ", Shades of Gray colour constancy" if args.colour_constancy else ""
    print(f"\nThe suite beside lesion-blind baselines (logistic regressions on 30 colour "
          f"statistics, fitted on {report['n_train']} pool images at {report['size']} px{cc}; "
          + ("read from the suite's cache):" if cached
             else f"{time.perf_counter() - start:.1f} s):"))
    shown = comparison.assign(ci95=_ci(comparison))
    print(_fmt(shown[["holdout", "model", "auc", "ci95", "n"]]))
    for holdout in dict.fromkeys(comparison["holdout"]):
        sentence = api.blind_sentence(comparison, holdout=holdout)
        if sentence:
            print(f"- {sentence}")
    if not api.has_histo(suite):
        print("- This data set records no dx_type, so there is no histo-confirmed view.")
    for note in report["notes"]:
        print(f"- note: {note}")

    acquisition = report["acquisition"]
    print("\nAcquisition check (outside-the-lesion colour model predicting how an image was "
          "acquired or confirmed):")
    if acquisition.empty:
        print("  none possible on this data set (no dx_type; no artefact flag with both "
              "values)")
    else:
        print(_fmt(acquisition.assign(ci95=_ci(acquisition))[
            ["target", "within", "auc", "ci95", "n_test", "n_positive_test"]]))

    columns = api.strata_columns(suite)
    by = split(args.by) or (["dx_type"] if "dx_type" in columns else columns)
    if args.histo_only and not api.has_histo(suite):
        raise ValueError(f"suite {suite.name!r}: its data set records no dx_type, so "
                         "--histo-only has nothing to keep")
    for column in by:
        table = api.stratified(suite, column, histo_only=args.histo_only,
                               n_bootstrap=args.bootstrap)
        where = " (histo-confirmed images only)" if args.histo_only else ""
        print(f"\nBy {column}{where}: AUC, sensitivity and specificity with 95% intervals")
        print(_fmt(table.assign(auc_ci=_ci(table))[
            ["model", "stratum", "n", "n_melanoma", "n_naevus", "auc", "auc_ci",
             "sensitivity", "specificity"]]))
    if not columns:
        print("\nThis data set has no metadata column to break the metrics down by.")

    if args.counterfactuals:
        _counterfactuals(suite, args)


def _counterfactuals(suite: api.Suite, args: argparse.Namespace) -> None:
    bar = None
    if not args.no_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(api.holdout(suite)), desc="counterfactuals", unit="img",
                   file=sys.stderr)

    def progress(done: int, total: int, what: str) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    preds = api.counterfactual_predictions(suite, colour_constancy=args.colour_constancy,
                                           progress=progress)
    if bar is not None:
        bar.close()
    table = api.counterfactual_auc(preds, n_bootstrap=args.bootstrap)
    wide = table.assign(auc=table.apply(
        lambda r: f"{r['auc']:.3f} ({r['auc_low']:.3f}-{r['auc_high']:.3f})"
        if pd.notna(r["auc_low"]) else f"{r['auc']:.3f}", axis=1)
    ).pivot(index="model", columns="version", values="auc")
    wide = wide.reindex(index=list(dict.fromkeys(table["model"])),
                        columns=list(api.COUNTERFACTUALS)).reset_index()
    print(f"\nMembers' AUC (95% CI) on the hold-out as it is, with the lesion removed "
          f"(inpainted) and with the lesion on another class's skin; "
          f"{preds.attrs['seconds_per_image'] * 1000:.0f} ms per image to make both, "
          f"{preds.attrs['predict_seconds_per_image'] * 1000:.0f} ms per image and member to "
          "score all three:")
    print(wide.to_string(index=False))
    n_ellipse = int(preds.drop_duplicates("image_id")["uses_ellipse"].sum())
    if n_ellipse:
        print(f"- {n_ellipse} image(s) have no lesion mask: a centred ellipse stood in.")
