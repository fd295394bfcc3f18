"""Display tables of sanity-check results (pure functions on the long tables).

Every result keeps one long table (one row per image, stage or pair, and
measure); these functions summarise it per stage, per step, per baseline and per
pair, beside the paper's numbers (:data:`~dermviz.sanity.reference.PAPER_REFERENCE`)
when the design matches. The result classes expose them as methods.

The tables read results through the small protocols below (what they need of a
randomization study, its spec, and a pairwise comparison), so this module
imports none of the checks that call it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from dermviz.sanity.reference import PAPER_REFERENCE
from dermviz.sanity.similarity import mean_abs_successive_change

__all__ = [
    "DISPLAY_MEASURES",
    "PairedResult",
    "RandomizationDesign",
    "StagedResult",
    "baseline_table",
    "comparison_table",
    "paper_comparable",
    "paper_comparison_reference",
    "stage_summary",
    "stage_table",
    "step_summary",
    "step_table",
]

#: Measures shown by default: SSIM on the raw maps, and the paper's overlay SSIM.
DISPLAY_MEASURES: tuple[str, ...] = ("ssim", "ssim_paper")


class RandomizationDesign(Protocol):
    """What :func:`paper_comparable` reads of a randomization study's spec
    (:class:`~dermviz.sanity.checks.randomization.RandomizationSpec`)."""

    @property
    def kind(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def layer_set(self) -> str: ...
    @property
    def order(self) -> str: ...
    @property
    def stages(self) -> tuple[str, ...] | None: ...
    @property
    def n_stages(self) -> int | None: ...


class StagedResult(Protocol):
    """What :func:`stage_table` and :func:`step_table` read of a randomization study
    (:class:`~dermviz.sanity.checks.randomization.RandomizationResult`)."""

    @property
    def spec(self) -> RandomizationDesign: ...
    @property
    def stage_names(self) -> list[str]: ...
    @property
    def stage_layers(self) -> list[list[str]]: ...
    @property
    def table(self) -> pd.DataFrame: ...
    @property
    def predictions(self) -> pd.DataFrame: ...


class PairedResult(Protocol):
    """What :func:`comparison_table` reads of a pairwise check
    (:class:`~dermviz.sanity.checks.comparison.ComparisonResult`)."""

    @property
    def kind(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def table(self) -> pd.DataFrame: ...


def stage_summary(table: pd.DataFrame, *, measure: str = "ssim") -> pd.DataFrame:
    """Per stage (and baseline): mean, sd and n over images of one measure.

    Returns
    -------
    DataFrame
        ``kind, stage, stage_name, mean, sd, n``; stages in order, then baselines.
    """
    t = table[table["measure"] == measure]
    out = (
        t.groupby(["kind", "stage", "stage_name"], sort=False)["value"]
        .agg(mean="mean", sd="std", n="count")
        .reset_index()
    )
    order = {"stage": 0, "baseline": 1}
    return out.sort_values(
        ["kind", "stage"], key=lambda c: c.map(order) if c.name == "kind" else c, kind="stable"
    ).reset_index(drop=True)


def step_summary(table: pd.DataFrame, *, measure: str = "ssim") -> pd.DataFrame:
    """The paper's "degradation per randomised layer" for one measure.

    Returns
    -------
    DataFrame
        ``step`` (1..S), ``from_stage``, ``to_stage`` (names), ``mean_abs_change``:
        the mean over images of ``|s_{k-1} - s_k|`` with ``s_k`` the similarity of
        stage k's map to the original (:func:`mean_abs_successive_change`).
    """
    t = table[(table["measure"] == measure) & (table["kind"] == "stage")]
    wide = t.pivot_table(index="stage", columns="image_id", values="value", aggfunc="first")
    wide = wide.sort_index()
    names = t.drop_duplicates("stage").set_index("stage")["stage_name"]
    change = mean_abs_successive_change(wide.to_numpy())
    stages = list(wide.index)
    return pd.DataFrame(
        {
            "step": stages[1:],
            "from_stage": [names[s] for s in stages[:-1]],
            "to_stage": [names[s] for s in stages[1:]],
            "mean_abs_change": change,
        }
    )


def pair_summary(table: pd.DataFrame, *, measure: str = "ssim") -> pd.DataFrame:
    """Mean, sd and n per pair (and baseline) of a comparison's table, one measure."""
    t = table[table["measure"] == measure]
    return (
        t.groupby(["kind", "a", "b"], sort=False)["value"]
        .agg(mean="mean", sd="std", n="count")
        .reset_index()
    )


def paper_comparable(spec: RandomizationDesign) -> bool:
    """Whether a randomization study's stages match the paper's design (so its
    numbers apply)."""
    return (
        spec.kind == "randomization"  # not the smooth test, which shares the spec's fields
        and spec.layer_set == "paper"
        and spec.order == "cascading"
        and spec.stages is None
        and spec.n_stages is None
        and spec.method in PAPER_REFERENCE["randomization"]
    )


def _measures(table: pd.DataFrame, measures: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(table["measure"]))
    wanted = list(measures) if measures is not None else list(DISPLAY_MEASURES)
    return [m for m in wanted if m in present]


def _layers_label(layers: Sequence[str]) -> str:
    if not layers:
        return "-"
    if len(layers) <= 2:
        return ", ".join(layers)
    return f"{layers[0]} ... ({len(layers)} layers)"


def stage_table(result: StagedResult, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per stage: the layers, mean p(melanoma), mean similarity to the
    original per measure (default :data:`DISPLAY_MEASURES`), and the paper's
    overlay SSIM (``paper_ssim_paper``) when the design matches
    (:func:`paper_comparable`)."""
    preds = result.predictions.groupby("stage")["p_melanoma"].mean()
    df = pd.DataFrame({
        "stage": range(len(result.stage_names)),
        "stage_name": result.stage_names,
        "layers": [_layers_label(x) for x in result.stage_layers],
        "p_melanoma": [float(preds.get(k, math.nan)) for k in range(len(result.stage_names))],
    })
    for m in _measures(result.table, measures):
        s = stage_summary(result.table, measure=m)
        s = s[s["kind"] == "stage"].set_index("stage")
        df[m] = [float(s["mean"].get(k, math.nan)) for k in df["stage"]]
    if paper_comparable(result.spec):
        ref = PAPER_REFERENCE["randomization"][result.spec.method]["ssim_to_original"]
        df["paper_ssim_paper"] = [ref[k] if k < len(ref) else math.nan for k in df["stage"]]
    return df


def baseline_table(result: Any, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean similarity of the trained map to each "no information" baseline
    (a randomization or a comparison result)."""
    t = result.table[result.table["kind"] == "baseline"]
    col = "stage_name" if "stage_name" in t else "b"
    names = list(dict.fromkeys(t[col]))
    df = pd.DataFrame({"baseline": [n.removeprefix("baseline:") for n in names]})
    for m in _measures(result.table, measures):
        means = t[t["measure"] == m].groupby(col)["value"].mean()
        df[m] = [float(means.get(n, math.nan)) for n in names]
    return df


def step_table(result: StagedResult, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's per-step metric (mean |change| of similarity to the original)
    per measure, with the paper's GradCAM / KernelSHAP values (overlay SSIM, all
    six steps) when the design matches."""
    df = None
    for m in _measures(result.table, measures):
        s = step_summary(result.table, measure=m).rename(columns={"mean_abs_change": m})
        df = s if df is None else df.merge(s[["step", m]], on="step")
    if df is None:
        raise ValueError("the study has none of the requested measures")
    if paper_comparable(result.spec):
        ref = PAPER_REFERENCE["randomization"][result.spec.method]["mean_abs_step_all"]
        df["paper_ssim_paper"] = [ref[k - 1] if k - 1 < len(ref) else math.nan for k in df["step"]]
    return df


def paper_comparison_reference(kind: str, method: str) -> dict[str, float]:
    """The paper's mean overlay SSIM for a comparison: label -> value."""
    if kind == "reproducibility":
        ref = PAPER_REFERENCE["reproducibility"].get(method)
        return {"same model twice": ref["mean"]} if ref else {}
    refs = PAPER_REFERENCE["cross_model"].get(method, {})
    return {f"seeds {pair}": v["mean"] for pair, v in refs.items()}


def comparison_table(result: PairedResult, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Per pair (and baseline): mean and sd per measure, n, and the paper's value."""
    df = None
    for m in _measures(result.table, measures):
        s = pair_summary(result.table, measure=m).rename(columns={"mean": m, "sd": f"{m}_sd"})
        df = s if df is None else df.merge(s.drop(columns="n"), on=["kind", "a", "b"])
    if df is None:
        raise ValueError("the result has none of the requested measures")
    df.insert(0, "pair", [f"{a} vs {b.removeprefix('baseline:')}" for a, b in zip(
        df["a"], df["b"], strict=True)])
    ref = paper_comparison_reference(result.kind, result.method)
    paper = ", ".join(f"{v:.3f}" for v in ref.values()) if ref else ""
    df["paper_ssim_paper"] = [paper if k == "pair" else "" for k in df["kind"]]
    return df.drop(columns=["a", "b"])
