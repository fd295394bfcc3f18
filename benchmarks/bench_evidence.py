"""The ground-truth leaderboard of explanation methods on an evidence-mode suite (issue 22).

On a suite trained on the synthetic evidence benchmark (docs/evidence-benchmark.md) every
hold-out image carries a known evidence mask and can be rendered without its evidence. For
the hold-out melanomas that every member calls melanoma (all hold-out melanomas, said so,
when none is), every method's map of every member is scored against the evidence:

* relevance mass, relevance rank accuracy and the pointing game
  (:func:`dermviz.analysis.evidence.evidence_table`), beside chance (the evidence's share
  of the image) and the centred Gaussian, and the mass in multiples of chance with its 95 %
  bootstrap interval over images;
* the drop in p(melanoma) when the map's top ``--fraction`` of pixels take the
  counterfactual's (:func:`dermviz.evaluation.counterfactual.counterfactual_drop`), beside
  a random map's drop and the full drop (every piece of evidence removed).

Methods: GradCAM at the suite's layer and at one other (a finer one beside ``mixed7`` or
``mixed10``; beside ``mixed2``, the default demo's, the coarser ``mixed7``), GradCAM++,
ScoreCAM, LayerCAM, KernelSHAP with each reference, and the consensus (mean over members) of
the GradCAM maps.
The goal the issue sets: the best method puts at least 3x chance of its mass on the evidence
and more than the centred Gaussian. The section says in words whether any does, and whether
the members use the evidence at all (their full counterfactual drop).

Usage::

    python benchmarks/bench_evidence.py --suite PATH [--images 12] [--nsamples 500]
        [--methods gradcam,...] [--fraction 0.1] [--no-write]

Maps are cached in the suite (use a copy of a suite you must not write to). Writes the
``## Evidence leaderboard (issue 22)`` section of ``benchmarks/RESULTS.md``.
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
if str(HERE.parent) not in sys.path:  # `python benchmarks/bench_evidence.py` from the root
    sys.path.insert(0, str(HERE.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.results import RESULTS, kind_tag, provenance, write_section  # noqa: E402

TITLE = "Evidence leaderboard (issue 22{})"
#: The other GradCAM layer beside the suite's: a finer one (more cells on the evidence's
#: scale), or beside ``mixed2`` (whose grid ``mixed0`` and ``mixed1`` share) the coarser
#: ``mixed7``, for contrast.
FINER_LAYER = {"mixed7": "mixed2", "mixed10": "mixed5", "mixed2": "mixed7"}
REFERENCES = ("white", "mean", "blur", "inpaint")
GOAL_X_CHANCE = 3.0


def method_specs(suite: Any, *, nsamples: int, only: list[str] | None
                 ) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, registered method, parameters) of every method on the leaderboard."""
    from dermviz import api

    layer = api.method_defaults(suite, "gradcam")["layer"]
    specs: list[tuple[str, str, dict[str, Any]]] = [("gradcam", "gradcam", {})]
    if layer in FINER_LAYER:
        specs.append((f"gradcam@{FINER_LAYER[layer]}", "gradcam", {"layer": FINER_LAYER[layer]}))
    specs += [(m, m, {}) for m in ("gradcam_pp", "scorecam", "layercam")]
    specs += [(f"kernelshap@{r}", "kernelshap", {"reference": r, "nsamples": nsamples})
              for r in REFERENCES]
    if only:
        unknown = sorted(set(only) - {s[0] for s in specs} - {"consensus"})
        if unknown:
            raise SystemExit(f"unknown method(s) {unknown}; choose from "
                             f"{[s[0] for s in specs] + ['consensus']}")
        specs = [s for s in specs if s[0] in only]
    return specs


def choose_images(suite: Any, limit: int) -> tuple[list[str], str]:
    """Up to ``limit`` hold-out melanomas the members call melanoma, and how they were chosen.

    Every member right first; where that leaves under half of ``limit``, a majority of
    members right; then any hold-out melanoma (the section says which rule chose them).
    """
    from dermviz import api

    verdicts = api.verdicts(suite)
    mel = verdicts[verdicts["y"] == 1]
    share = mel.groupby("image_id")["correct"].mean()
    order = [str(i) for i in api.holdout(suite)["image_id"] if str(i) in share.index]
    rules = [
        ("hold-out melanomas that every member calls melanoma", lambda v: v == 1.0),
        ("hold-out melanomas that most members call melanoma (too few that all do)",
         lambda v: v > 0.5),
        ("hold-out melanomas, whatever the members call them: **too few are called melanoma "
         "by most members**, so these maps explain calls that are partly wrong",
         lambda v: True),
    ]
    for how, keep in rules:
        ids = [i for i in order if keep(share[i])][:limit]
        if 2 * len(ids) >= min(limit, len(order)):
            return ids, how
    return ids, how


def _positive(maps: np.ndarray, signed: bool) -> np.ndarray:
    return np.clip(maps, 0, None) if signed else maps


def measure(suite_path: Path, args: argparse.Namespace) -> str:
    from dermviz import api
    from dermviz.analysis.evidence import evidence_table
    from dermviz.data.synthetic import load_counterfactuals, load_evidence_masks
    from dermviz.evaluation.baselines import bootstrap_ci
    from dermviz.evaluation.counterfactual import counterfactual_drop
    from dermviz.explain.consensus import normalise_members
    from dermviz.models.predict import predict_proba

    suite = api.open_suite(suite_path)
    if not api.has_evidence(suite):
        raise SystemExit(f"{suite_path} is not an evidence-mode suite: its images carry no "
                         "evidence mask (train it on make_synthetic(evidence=True))")
    ids, how = choose_images(suite, args.images)
    dataset = api.suite_dataset(suite)
    size = suite.image_size
    images = dataset.load_images(ids, size=size)
    masks = load_evidence_masks(dataset, ids, size=size)[api.EVIDENCE]
    without = load_counterfactuals(dataset, ids, size=size)
    specs = method_specs(suite, nsamples=args.nsamples, only=args.methods)
    members = suite.member_ids

    rows, gradcam_maps, seconds = [], {}, {}
    for label, method, params in specs:
        # Maps already in the suite's store load in about a second: no compute time to show.
        stored = all(m is not None for i in ids
                     for m in api.stored_maps(suite, members, i, method=method,
                                              params=params).values())
        start = time.perf_counter()
        for member in members:
            sm = api.saliency(suite, ids, method=method, member=member, **params)
            signed = api.get_explainer(method).signed
            maps = np.asarray(sm.maps, np.float32)
            if label == "gradcam":
                gradcam_maps[member] = maps
            rows.append(_score(label, member, maps, signed, ids, images, masks, without,
                               suite.model(member), args.fraction, evidence_table,
                               counterfactual_drop, predict_proba))
        seconds[label] = None if stored else time.perf_counter() - start
        print(f"{label}: {'maps read from the store' if stored else f'{seconds[label]:.0f} s'}",
              flush=True)
    if (not args.methods or "consensus" in args.methods) and len(gradcam_maps) >= 2:
        stack = np.stack([gradcam_maps[m] for m in members])  # (members, n, H, W)
        mean = np.stack([normalise_members(stack[:, k], signed=False).mean(axis=0)
                         for k in range(len(ids))]).astype(np.float32)
        for member in members:  # the one consensus map, judged by each member's model
            rows.append(_score("consensus (GradCAM)", member, mean, False, ids, images, masks,
                               without, suite.model(member), args.fraction, evidence_table,
                               counterfactual_drop, predict_proba))
    table = pd.concat(rows, ignore_index=True)
    return _report(suite, table, ids, how, args, seconds, bootstrap_ci)


def _score(label: str, member: str, maps: np.ndarray, signed: bool, ids: list[str],
           images: np.ndarray, masks: np.ndarray, without: np.ndarray, model: Any,
           fraction: float, evidence_table: Any, counterfactual_drop: Any,
           predict_proba: Any) -> pd.DataFrame:
    """One member's maps of one method: localization on the evidence and the swap drop."""
    table = evidence_table(maps, masks, image_ids=ids, signed=signed,
                           labels={"method": label, "member": member})
    drop = counterfactual_drop(lambda x: predict_proba(model, x), images, without,
                               _positive(maps, signed), fraction=fraction)
    for key in ("drop", "drop_random", "drop_full"):
        table[key] = drop[key]
    return table


def _seconds_cell(seconds: dict[str, float | None], label: str) -> str:
    if label not in seconds:
        return "-"  # the consensus: no maps of its own
    return "stored" if seconds[label] is None else f"{seconds[label]:.0f}"


def _report(suite: Any, table: pd.DataFrame, ids: list[str], how: str,
            args: argparse.Namespace, seconds: dict[str, float | None], bootstrap_ci: Any
            ) -> str:
    """The section's text. ``seconds``: each method's time to compute its maps, None where
    they were read from the suite's map store."""
    metrics = suite.metrics_table()
    auc = metrics["auc"] if "auc" in metrics.columns else pd.Series(dtype=float)
    lines = [
        f"Suite `{suite.name}`: {len(suite.member_ids)} member(s), {suite.image_size} px; "
        f"hold-out AUC per member {', '.join(f'{a:.3f}' for a in auc)} "
        f"(mean {auc.mean():.3f}).",
        "",
        f"- Images: {len(ids)} {how}."
        + (" So few images: the intervals (over member x image pairs) mean little."
           if len(ids) < 5 else ""),
        f"- Swap: the map's top {args.fraction:.0%} of pixels take the counterfactual's; "
        f"KernelSHAP at {args.nsamples} samples, scored on its positive part.",
        "",
    ]
    full = table.groupby("member")["drop_full"].mean()
    lines.append("Do the members use the evidence? Mean p(melanoma) drop when all of it is "
                 "removed: " + ", ".join(f"{m} {v:+.3f}" for m, v in full.items()) + ".")
    lines.append("")
    lines.append("| method | mass on evidence | x chance (95% CI) | rank accuracy | pointing "
                 "| swap drop | random map's | full drop | seconds |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    summary = []
    for label, part in table.groupby("method", sort=False):
        mean, low, high = bootstrap_ci(part["mass_x_chance"].to_numpy(), seed=0)
        summary.append({"method": label, "mass": part["mass"].mean(), "x": mean, "low": low,
                        "high": high})
        lines.append(
            f"| {label} | {part['mass'].mean():.3f} | {mean:.2f} ({low:.2f}-{high:.2f}) | "
            f"{part['rank'].mean():.3f} | {part['pointing'].mean():.2f} | "
            f"{part['drop'].mean():+.3f} | {part['drop_random'].mean():+.3f} | "
            f"{part['drop_full'].mean():+.3f} | "
            f"{_seconds_cell(seconds, label)} |")
    chance = table["chance"].mean()
    gaussian = table["mass_gaussian"].mean()
    lines.append(f"| chance (evidence's share of the image) | {chance:.3f} | 1.00 | | | | | | |")
    lines.append(f"| centred Gaussian, no model | {gaussian:.3f} | "
                 f"{(table['mass_gaussian'] / table['chance']).mean():.2f} | "
                 f"{table['rank_gaussian'].mean():.3f} | "
                 f"{table['pointing_gaussian'].mean():.2f} | | | | |")
    lines.append("")
    if any(seconds.get(label, 0.0) is None for label in table["method"].unique()):
        lines.append("\"stored\": that method's maps were already in the suite's map store "
                     "and were read from it, so no compute time was measured (remove the "
                     "suite's `maps/` folder to time every method).")
        lines.append("")
    per_member = table.pivot_table(index="method", columns="member", values="mass_x_chance",
                                   aggfunc="mean", sort=False)
    lines.append("Mass on the evidence in multiples of chance, per member:")
    lines.append("")
    lines.append("| method | " + " | ".join(per_member.columns) + " |")
    lines.append("|---|" + "---|" * len(per_member.columns))
    for label, row in per_member.iterrows():
        lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    lines.append("")
    best = max(summary, key=lambda r: r["x"])
    meets = best["x"] >= GOAL_X_CHANCE and best["mass"] > gaussian
    verdict = (f"**{best['method']}** puts the most on the evidence: {best['x']:.2f}x chance "
               f"(95% interval {best['low']:.2f}-{best['high']:.2f}), mass {best['mass']:.3f} "
               f"against the centred Gaussian's {gaussian:.3f}. ")
    verdict += ("It meets the goal (at least 3x chance and more than the Gaussian)."
                if meets else "**No method meets the goal** (at least 3x chance and more "
                "than the centred Gaussian).")
    if full.mean() < 0.05:
        verdict += (f" The members barely use the evidence (mean full drop "
                    f"{full.mean():+.3f}), so no map can be expected to find it: this suite "
                    "does not yet tell a right map from a wrong one.")
    lines.append(verdict)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, required=True,
                        help="an evidence-mode suite folder (maps are cached in it)")
    parser.add_argument("--images", type=int, default=12, help="hold-out melanomas scored")
    parser.add_argument("--nsamples", type=int, default=500, help="KernelSHAP samples")
    parser.add_argument("--methods", type=lambda s: s.split(","), default=None,
                        help="a subset of the leaderboard's labels (default: all)")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--label", default="",
                        help="a variant's name, added to the section's title (another suite "
                             "than the default demo's keeps the default's section)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    body = measure(args.suite, args)
    body += "\n\n- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    print(body)
    if not args.no_write:
        title = TITLE.format(kind_tag())
        write_section(f"{title}: {args.label}" if args.label else title, body,
                      path=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
