"""Confounders on a suite: what a model that never sees the lesion scores (issue 28).

For each suite given (default: a fresh smoke demo suite, built in a temporary folder), with
Shades of Gray colour constancy off and on, through :mod:`dermviz.api.confounders`:

* the lesion-blind baselines (logistic regressions on 30 colour statistics of the whole
  image, the skin outside the grown lesion mask, the lesion alone), fitted on the pool and
  scored on the hold-out, beside the suite's AUC on the same images, on the whole hold-out
  and on its histo-confirmed images (where the data set records ``dx_type``);
* the acquisition check;
* the ensemble's AUC, sensitivity and specificity by a metadata column (``dx_type`` on
  HAM10000, the artefact flags on the synthetic set), with intervals and counts;
* every member's AUC on the hold-out as it is, with the lesion removed (Telea inpainting)
  and with the lesion on the skin of an image of the other class, and the time per image.

Colour constancy "on" corrects every image before the features and before the members
score it; the members were trained without it (there is no training option yet), so their
"on" rows measure what the correction alone does to a model trained on uncorrected images.

Writes the "Confounders (issue 28): demo" section and, given ``--ham-suite``, the
"Confounders (issue 28): HAM10000" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE_DEMO = "Confounders (issue 28): demo"
TITLE_HAM = "Confounders (issue 28): HAM10000"
SETTINGS = {"off": False, "on": True}


def measure(suite_path: Path, *, max_train: int | None, n_bootstrap: int) -> dict[str, Any]:
    """Everything :func:`render` shows, for one suite, as plain tables."""
    from dermviz import api

    suite = api.open_suite(suite_path)
    dataset = suite.dataset()
    out: dict[str, Any] = {
        "name": suite.name, "members": list(suite.member_ids), "size": suite.image_size,
        "dataset": suite.dataset_info.get("name"),
        "holdout": (suite.dataset_info.get("source", {}).get("holdout", "paper")
                    if suite.dataset_info.get("name") == "ham10000" else "its"),
        "n_pool": len(dataset.pool), "n_holdout": len(dataset.holdout),
        "config": {k: suite.config.get(k) for k in ("n_members", "max_train", "epochs",
                                                    "batch_size", "recipe", "weights")},
        "fit_minutes": sum(float(suite.member(m).get("fit_seconds") or 0)
                           for m in suite.member_ids) / 60,
        "max_train": max_train, "comparison": {}, "acquisition": {}, "counterfactual": {},
        "timing": {}, "notes": [],
    }
    holdout = dataset.holdout
    histo_ids = (set(holdout.loc[holdout["dx_type"] == "histo", "image_id"].astype(str))
                 if "dx_type" in holdout.columns else set())
    for label, cc in SETTINGS.items():
        start = time.perf_counter()
        report = api.blind_report(suite, colour_constancy=cc, max_train=max_train,
                                  n_bootstrap=n_bootstrap, refresh=True)
        blind_seconds = time.perf_counter() - start
        comparison = api.blind_comparison(suite, colour_constancy=cc, max_train=max_train,
                                          n_bootstrap=n_bootstrap)
        preds = api.counterfactual_predictions(suite, colour_constancy=cc)
        cf = api.counterfactual_auc(preds, n_bootstrap=n_bootstrap)
        if cc:  # the suite's own rows: the members on the corrected originals
            comparison = _suite_on_corrected(comparison, preds, n_bootstrap, histo_ids)
        out["comparison"][label] = comparison
        out["acquisition"][label] = report["acquisition"]
        out["counterfactual"][label] = cf
        out["timing"][label] = {
            "blind_seconds": blind_seconds, "n_train": report["n_train"],
            "make_ms": 1000 * preds.attrs["seconds_per_image"],
            "predict_ms": 1000 * preds.attrs["predict_seconds_per_image"]}
        out["notes"] = report["notes"]
        out["sentence"] = out.get("sentence") or {
            h: api.blind_sentence(comparison, holdout=h)
            for h in dict.fromkeys(comparison["holdout"])}
    columns = api.strata_columns(suite)
    by = ["dx_type"] if "dx_type" in columns else columns
    strata = [api.stratified(suite, c, n_bootstrap=n_bootstrap) for c in by]
    if api.has_histo(suite):
        strata.append(api.stratified(suite, "dx_type", histo_only=True,
                                     n_bootstrap=n_bootstrap).assign(column="dx_type, histo only"))
    table = pd.concat(strata, ignore_index=True) if strata else pd.DataFrame()
    out["strata"] = table[table["model"] == api.ENSEMBLE] if len(table) else table
    return out


def _suite_on_corrected(comparison: pd.DataFrame, preds: pd.DataFrame,
                        n_bootstrap: int, histo_ids: set[str]) -> pd.DataFrame:
    """``comparison`` with its suite and member rows scored on the colour-corrected
    originals (the counterfactual table's ``original`` version)."""
    from dermviz.analysis.bootstrap import metrics_with_ci

    original = preds[preds["version"] == "original"]
    rows = []
    for row in comparison.to_dict("records"):
        if row["kind"] != "blind":
            part = original if row["kind"] == "suite" else original[
                original["member"] == row["model"]]
            if row["holdout"] != "all":
                part = part[part["image_id"].isin(histo_ids)]
            if row["kind"] == "suite":
                part = part.groupby(["image_id", "y_true"], as_index=False)["p_melanoma"].mean()
            if part["y_true"].nunique() == 2:
                ci = metrics_with_ci(part["y_true"].to_numpy(), part["p_melanoma"].to_numpy(),
                                     n_bootstrap=n_bootstrap)
                row = {**row, **{k: ci[k] for k in ("auc", "auc_low", "auc_high", "n")}}
            else:
                row = {**row, "auc": None, "auc_low": None, "auc_high": None}
        rows.append(row)
    return pd.DataFrame(rows, columns=comparison.columns)


def _auc(row: Any) -> str:
    if row is None or pd.isna(row["auc"]):
        return "-"
    if pd.isna(row["auc_low"]):
        return f"{row['auc']:.3f}"
    return f"{row['auc']:.3f} ({row['auc_low']:.3f}-{row['auc_high']:.3f})"


def _find(frame: pd.DataFrame, **match: Any) -> Any:
    keep = pd.Series(True, index=frame.index)
    for k, v in match.items():
        keep &= frame[k] == v
    hits = frame[keep]
    return None if hits.empty else hits.iloc[0]


def render_suite(data: dict[str, Any], *, label: str) -> str:
    """One suite's block of the section."""
    cfg = data["config"]
    lines = [
        f"### {label}: suite `{data['name']}`",
        "",
        f"- {data['dataset']}, {data['holdout']} hold-out ({data['n_holdout']} images), pool "
        f"{data['n_pool']}; {len(data['members'])} member(s) at {data['size']} px "
        f"(recipe {cfg.get('recipe')}, max_train {cfg.get('max_train')}, epochs "
        f"{cfg.get('epochs')}, batch {cfg.get('batch_size')}, weights {cfg.get('weights')}"
        + (f"; trained in {data['fit_minutes']:.0f} min, all members" if data.get("fit_minutes")
           else "") + "). "
        f"Baselines fitted on {data['timing']['off']['n_train']} pool images"
        + (f" (a class-stratified subset, `--max-train {data['max_train']}`)"
           if data["max_train"] else "") + ".",
        "",
        "AUC (95% bootstrap CI) on the same hold-out images; colour constancy (Shades of Gray, "
        "p = 6) off and on:",
        "",
        "| hold-out | model | off | on |",
        "|---|---|---|---|",
    ]
    off, on = data["comparison"]["off"], data["comparison"]["on"]
    for row in off.to_dict("records"):
        twin = _find(on, holdout=row["holdout"], model=row["model"])
        lines.append(f"| {row['holdout']} (n={row['n']}) | {row['model']} | {_auc(row)} | "
                     f"{_auc(twin)} |")
    lines.append("")
    for holdout, sentence in data["sentence"].items():
        if sentence:
            lines.append(f"- Colour constancy off, {holdout}: {sentence}")
    for note in data["notes"]:
        lines.append(f"- Note: {note}.")
    acq_off, acq_on = data["acquisition"]["off"], data["acquisition"]["on"]
    if len(acq_off):
        lines += ["", "Acquisition check (the outside-the-lesion colour model predicting how an "
                  "image was acquired or confirmed, on the hold-out):", "",
                  "| target | within | n (positive) | off | on |", "|---|---|---|---|---|"]
        for row in acq_off.to_dict("records"):
            twin = _find(acq_on, target=row["target"], within=row["within"])
            lines.append(f"| {row['target']} | {row['within']} | {row['n_test']} "
                         f"({row['n_positive_test']}) | {_auc(row)} | {_auc(twin)} |")
    else:
        lines += ["", "- Acquisition check: none possible on this suite's data: no acquisition "
                  "field (`dx_type`, an artefact flag) has both of its values among the chosen "
                  "images of the pool and of the hold-out (see the notes)."]
    strata = data["strata"]
    if len(strata):
        lines += ["", "The ensemble (members' mean p) by metadata column, colour constancy off:",
                  "", "| column | stratum | n (mel / nv) | AUC (95% CI) | sensitivity | "
                  "specificity |", "|---|---|---|---|---|---|"]
        for row in strata.to_dict("records"):
            sens = "-" if row["sensitivity"] is None or pd.isna(row["sensitivity"]) \
                else f"{row['sensitivity']:.3f}"
            spec = "-" if row["specificity"] is None or pd.isna(row["specificity"]) \
                else f"{row['specificity']:.3f}"
            lines.append(f"| {row['column']} | {row['stratum']} | {row['n']} "
                         f"({row['n_melanoma']} / {row['n_naevus']}) | {_auc(row)} | {sens} | "
                         f"{spec} |")
    lines += ["", "Members' AUC (95% CI) on the hold-out as it is, with the lesion removed "
              "(Telea inpainting of the grown mask) and with the lesion on the lesion-removed "
              "skin of an image of the other class:", "",
              "| model | version | off | on |", "|---|---|---|---|"]
    cf_off, cf_on = data["counterfactual"]["off"], data["counterfactual"]["on"]
    for row in cf_off.to_dict("records"):
        twin = _find(cf_on, model=row["model"], version=row["version"])
        lines.append(f"| {row['model']} | {row['version']} | {_auc(row)} | {_auc(twin)} |")
    t_off, t_on = data["timing"]["off"], data["timing"]["on"]
    lines += ["", f"- Time: the baselines (reading every image's features, fitting, "
              f"bootstrapping) {t_off['blind_seconds']:.1f} s off, {t_on['blind_seconds']:.1f} s "
              f"on; making both counterfactuals {t_off['make_ms']:.0f} ms per image (off), "
              f"{t_on['make_ms']:.0f} ms (on); scoring the three versions "
              f"{t_off['predict_ms']:.0f} ms per image and member (off), {t_on['predict_ms']:.0f} "
              "ms (on), first batch's tracing included."]
    return "\n".join(lines)


def render(blocks: list[tuple[str, dict[str, Any]]], *, provenance_line: str,
           preamble: str = "") -> str:
    """A section: the preamble, each suite's block, the provenance line."""
    parts = [preamble.strip()] if preamble.strip() else []
    parts += [render_suite(data, label=label) for label, data in blocks]
    parts.append(f"- {provenance_line}")
    return "\n\n".join(parts)


PREAMBLE = ("Colour constancy \"on\" corrects every image before the colour features and "
            "before the members score it; the members were trained on uncorrected images. "
            "See docs/confounders.md for the features and how to read the rows.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a demo suite folder (default: build smoke)")
    parser.add_argument("--ham-suite", type=Path, action="append", default=[],
                        help="a HAM10000 suite folder (repeat for the paper and histo "
                        "hold-outs)")
    parser.add_argument("--ham-only", action="store_true", help="skip the demo section")
    parser.add_argument("--max-train", type=int, default=None,
                        help="HAM10000: fit the baselines on at most this many pool images")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    line = provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    sections = []
    if not args.ham_only:
        with tempfile.TemporaryDirectory(prefix="bench-confounders-") as tmp:
            path = args.suite
            if path is None:
                from dermviz.demo import run_demo

                path = Path(tmp) / "demo-smoke"
                run_demo(profile="smoke", out_dir=path, progress=False)
            data = measure(path, max_train=None, n_bootstrap=args.bootstrap)
        sections.append((TITLE_DEMO, render([("Synthetic demo", data)], provenance_line=line,
                                            preamble=PREAMBLE)))
    blocks = []
    for path in args.ham_suite:
        data = measure(path, max_train=args.max_train, n_bootstrap=args.bootstrap)
        blocks.append((f"HAM10000, {data['holdout']} hold-out", data))
    if blocks:
        sections.append((TITLE_HAM, render(blocks, provenance_line=line, preamble=PREAMBLE)))
    for title, body in sections:
        print(f"## {title}\n\n{body}\n")
        if not args.no_write:
            write_section(title, body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
