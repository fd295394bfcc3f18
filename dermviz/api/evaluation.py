"""The report card of explanation methods: faithfulness, robustness and complexity of each
method's maps beside two uninformed baselines, per member, through the one sanity runner.

- :func:`evaluate`: run (or read from the suite's study cache) a report-card study and
  return pandas: the summary per member, method and metric (mean, 95 % bootstrap interval,
  both baselines, gains, passes), or with ``per_image=True`` one row per image;
- :func:`evaluation_study`: the study itself (maps, deletion and insertion curves);
- :func:`report_card`: a saved study's summary and its family table (the best method of
  each family marked); :func:`report_sentences` says in words what it shows;
- :func:`report_curve`, :func:`report_map`: one image's curves and map, for a drill-down.

Studies are cached under ``<suite>/sanity/evaluation-<key>/`` and listed with
:func:`dermviz.api.sanity.saved_studies` (kind ``"evaluation"``). See docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz import sanity
from dermviz.api.suites import suite_dataset
from dermviz.evaluation import FAMILIES, METRICS, available_metrics
from dermviz.explain import available_methods
from dermviz.models.suite import Suite
from dermviz.sanity.checks.evaluation import (
    DEFAULT_METHODS,
    DEFAULT_METRICS,
    EvaluationResult,
)

__all__ = [
    "EVALUATION_DEFAULTS",
    "EVALUATION_KIND",
    "evaluate",
    "evaluation_folder",
    "evaluation_methods",
    "evaluation_metrics",
    "evaluation_study",
    "report_card",
    "report_curve",
    "report_map",
    "report_sentences",
]

#: The sanity runner's kind of a report-card study.
EVALUATION_KIND = "evaluation"
#: What the page and the command line offer by default (the fast ones).
EVALUATION_DEFAULTS = {"methods": DEFAULT_METHODS, "metrics": DEFAULT_METRICS}
#: Names of the curve sources, as tables and plots show them.
SOURCE_LABELS = {"method": "method", "random": "random map", "gaussian": "centred Gaussian"}


def evaluation_methods() -> list[str]:
    """The saliency methods a study can evaluate (the explain registry's names)."""
    return available_methods()


def evaluation_metrics(family: str | None = None) -> list[str]:
    """The metrics a study can compute, optionally of one family (:data:`FAMILIES`)."""
    return available_metrics(family)


def evaluation_study(
    suite: Suite,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    image_ids: Sequence[str] | None = None,
    n_images: int = 8,
    members: Sequence[str] | None = None,
    method_params: Mapping[str, Mapping[str, Any]] | None = None,
    metric_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    progress: bool | Callable[[int, int, str], None] = False,
    force: bool = False,
) -> EvaluationResult:
    """A report-card study on the suite: read from its cache, or computed and saved.

    Parameters
    ----------
    suite : Suite
    methods : sequence of str
        Saliency methods (:func:`evaluation_methods`); default the fast CAMs.
    metrics : sequence of str
        Metrics (:func:`evaluation_metrics`); default deletion, insertion, sparseness and
        complexity.
    image_ids : sequence of str, optional
        Hold-out images; default ``n_images`` of them, half of each class.
    n_images : int
        How many images when ``image_ids`` is not given.
    members : sequence of str, optional
        Default every member.
    method_params, metric_params : mapping, optional
        Per method or metric, its options (:func:`dermviz.sanity.evaluation_spec`); they
        enter the cache key.
    seed : int
        Seeds the random baselines.
    progress : bool or callable
        False: silent; True: a tqdm bar; a callable gets ``(done, total, what)`` after each
        member and image.
    force : bool
        Recompute even when cached.

    Returns
    -------
    EvaluationResult
        ``table`` (one row per member, method, image and metric), ``summary()``,
        ``family_table()``, ``curve(...)``, ``saliency(...)``.

    Raises
    ------
    KeyError
        An unknown method, member or image; the message lists the known ones.
    ValueError
        An unknown metric (the message lists the known ones) or a bad parameter.
    """
    dataset = suite_dataset(suite)
    spec = sanity.evaluation_spec(
        suite,
        members=members,
        methods=methods,
        metrics=metrics,
        image_ids=image_ids,
        n_images=n_images,
        method_params=method_params,
        metric_params=metric_params,
        seed=seed,
        dataset=dataset,
    )
    return sanity.run(
        suite, spec, dataset=dataset, load_model=suite.model, progress=progress, force=force
    )


def evaluate(
    suite: Suite,
    *,
    methods: Sequence[str] = DEFAULT_METHODS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    image_ids: Sequence[str] | None = None,
    per_image: bool = False,
    n_bootstrap: int = 2000,
    **options: Any,
) -> pd.DataFrame:
    """The report card of ``methods`` on the suite, as pandas.

    Runs (or reads from the suite's cache) :func:`evaluation_study` with ``methods``,
    ``metrics``, ``image_ids`` and ``options`` (``n_images``, ``members``,
    ``method_params``, ``metric_params``, ``seed``, ``progress``, ``force``).

    Parameters
    ----------
    per_image : bool
        Return one row per member, method, image and metric (the scores of the method and
        of both baselines) instead of the summary.
    n_bootstrap : int
        Bootstrap resamples of each interval of the summary.

    Returns
    -------
    pandas.DataFrame
        The summary: one row per member, method and metric with ``family``, ``images``,
        ``score`` and its 95 % interval ``score_low``/``score_high``, ``score_random`` and
        ``score_gaussian``, ``gain_vs_<baseline>`` with intervals, and ``passes``
        (:func:`dermviz.evaluation.summarize_scores`).
    """
    result = evaluation_study(
        suite, methods=methods, metrics=metrics, image_ids=image_ids, **options
    )
    return result.table.copy() if per_image else result.summary(n_bootstrap=n_bootstrap)


def evaluation_folder(suite: Suite, result: EvaluationResult) -> Path:
    """Where a study is cached in the suite: ``<suite>/sanity/evaluation-<key>``."""
    if result.spec is None:
        raise ValueError("this study has no spec, so no folder in a suite")
    return sanity.study_folder(suite, result.spec)


def _load(folder: str | Path) -> EvaluationResult:
    result = sanity.load_study(folder)
    if not isinstance(result, EvaluationResult):
        raise ValueError(f"{folder} holds a {result.kind!r} study, not a report card")
    return result


def report_card(
    folder: str | Path, *, n_bootstrap: int = 2000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A saved study's summary (per member, method and metric) and family table (per member,
    family and method, the best one marked), read from its folder (no model)."""
    result = _load(folder)
    summary = result.summary(n_bootstrap=n_bootstrap)
    return summary, result.family_table(summary)


def report_curve(
    folder: str | Path, member: str, method: str, image_id: str, metric: str
) -> pd.DataFrame:
    """One image's ``metric`` curve (deletion or insertion) beside its baselines':
    ``fraction``, ``source`` (method, random map, centred Gaussian) and ``p``."""
    curve = _load(folder).curve(member, method, image_id, metric)
    return curve.assign(source=curve["source"].map(SOURCE_LABELS))


def report_map(
    folder: str | Path, member: str, method: str, image_id: str
) -> tuple[np.ndarray, np.ndarray]:
    """One image (uint8, ``(H, W, 3)``) and its map (``(H, W)``) in a saved study."""
    result = _load(folder)
    saliency = result.saliency(member, method, image_id)  # KeyError naming what it has
    return result.images[result.image_ids.index(image_id)], saliency


def report_sentences(summary: pd.DataFrame, families: pd.DataFrame) -> list[str]:
    """What a report card shows, in words: per member and family, which method is best and
    whether it passes; families not computed; results too noisy to say.

    Parameters
    ----------
    summary, families : pandas.DataFrame
        :func:`report_card`'s two tables.
    """
    if summary.empty:
        return ["The study has no scores."]
    out = []
    if int(summary["images"].max()) < 2:
        out.append(
            "With one image there is no interval, so no method can pass: run the study "
            "on more images."
        )
    missing = [f for f in FAMILIES if f not in set(summary["family"])]
    if missing:
        out.append(
            f"Not computed in this study: {', '.join(missing)} (add one of its metrics: "
            + "; ".join(f"{f}: {', '.join(available_metrics(f))}" for f in missing)
            + ")."
        )
    for (member, family), group in families.groupby(["member", "family"], sort=False):
        best = group[group["best"]]
        names = " and ".join(best["method"]) if len(best) else "no method"
        passing = group[group["passes"]]
        rows = summary[(summary["member"] == member) & (summary["family"] == family)]
        straddle = rows.apply(_undecided, axis=1)
        if passing.empty:
            # A family passes only on every metric computed; name the metrics that did pass.
            some = rows[rows["passes"].astype(bool)] if "passes" in rows else rows.iloc[:0]
            partly = ", ".join(f"{m} on {k}" for m, k in zip(some["method"], some["metric"],
                                                             strict=True))
            out.append(
                f"{member}, {family}: no method passes every {family} metric computed "
                f"(beats both the random map and the centred Gaussian, with its 95 % "
                f"interval above 0, on each)"
                + (f"; passed on one metric: {partly}" if partly else "")
                + f"; the best ranked is {names}."
            )
        else:
            out.append(
                f"{member}, {family}: best ranked {names}; passing: {', '.join(passing['method'])}."
            )
        if straddle.mean() > 0.5:
            out.append(
                f"{member}, {family}: on most metrics an interval of the gain over a "
                f"baseline includes 0: the result is noisy at "
                f"{int(rows['images'].max())} images."
            )
    return out


def _undecided(row: pd.Series) -> bool:
    """Whether an interval of the row's gains over the baselines the metric must beat
    includes 0 (or is missing): too few images to say whether it passes."""
    needed = METRICS[row["metric"]].pass_baselines if row["metric"] in METRICS else ()
    return any(not (row[f"gain_vs_{b}_low"] > 0 or row[f"gain_vs_{b}_high"] < 0) for b in needed)
