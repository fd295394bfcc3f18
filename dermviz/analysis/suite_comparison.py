"""Two suites side by side on the same hold-out: which training recipe is better?

E.g. with and without GradMask, or with and without augmentation. Both suites must
have predicted the same hold-out images with the same labels
(:func:`check_same_holdout`); then :func:`compare_predictions` (pure, on tidy
prediction tables) and :func:`compare_suites` (reading the suites' records and stored
GradCAM maps; no model, no TensorFlow) put side by side:

- the **AUC distribution**: each member's hold-out AUC, per suite;
- the **errors**: per member, melanomas called naevi and naevi called melanoma
  (:func:`dermviz.analysis.errors.error_counts`), and the images wrong in at least
  the k-of-N rule's share of members (:func:`~dermviz.analysis.errors.consistently_misclassified`);
- **calibration**: reliability curves, Brier score and ECE of the members and the
  ensemble (:mod:`dermviz.analysis.calibration`);
- the **share of saliency on the lesion**: each member's mean GradCAM mass on the
  lesion over the masked hold-out images
  (:mod:`dermviz.analysis.lesion_localization`), beside chance;
- the **difference** in mean member AUC (second minus first), with a bootstrap
  interval over members and a Mann-Whitney U test of the two AUC samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from dermviz.analysis.calibration import calibration_summary, reliability_curves
from dermviz.analysis.errors import PAPER_RULE, KOfN, consistently_misclassified, error_counts
from dermviz.analysis.lesion_localization import (
    LESION_SHARE,
    member_scores,
    stored_maps_and_masks,
)
from dermviz.analysis.predictions import check_predictions, member_order, predictions_table

#: Bootstrap draws of the AUC difference's interval.
N_BOOTSTRAP = 2000


class HoldoutMismatchError(ValueError):
    """The suites did not predict the same hold-out images (or disagree on a label)."""


@dataclass(frozen=True)
class SuiteComparison:
    """Two suites side by side (:func:`compare_predictions`). Every table has a ``suite``
    column holding the suites' names, first suite first.

    Attributes
    ----------
    names : tuple of str
        The two suites' names.
    n_images : int
        Hold-out images both predicted.
    auc : DataFrame
        ``suite, member, auc``: one row per member.
    errors : DataFrame
        ``suite, member, melanomas_called_naevi, naevi_called_melanoma``.
    consistent : DataFrame
        ``suite, true_class, images, min_wrong``: images wrong in at least ``min_wrong``
        of the suite's members (the k-of-N rule scaled to its size), by true class.
    calibration : DataFrame
        ``suite, model, is_ensemble, auc, brier, ece, n``.
    reliability : DataFrame
        ``suite, model, mean_predicted, fraction_melanoma, count``.
    lesion_mass : DataFrame
        ``suite, member, mass, chance, images``: each member's mean GradCAM mass on the
        lesion and the mean lesion share; empty for a suite without stored maps.
    difference : dict
        ``mean_auc`` per suite, ``auc_difference`` (second minus first),
        ``ci_low``/``ci_high`` (95 % bootstrap over members), ``mann_whitney_p``
        (NaN where a suite has fewer than 2 members).
    """

    names: tuple[str, str]
    n_images: int
    auc: pd.DataFrame
    errors: pd.DataFrame
    consistent: pd.DataFrame
    calibration: pd.DataFrame
    reliability: pd.DataFrame
    lesion_mass: pd.DataFrame
    difference: dict[str, Any]


def check_same_holdout(first: pd.DataFrame, second: pd.DataFrame) -> list[str]:
    """The image ids two prediction tables share, refusing tables of different hold-outs.

    Raises
    ------
    HoldoutMismatchError
        Some image is predicted by one suite only (a few are named), or the suites
        give an image different true labels.
    """
    labels = [check_predictions(t).groupby("image_id")["y_true"].first() for t in (first, second)]
    only = [sorted(set(labels[k].index) - set(labels[1 - k].index)) for k in (0, 1)]
    if only[0] or only[1]:
        raise HoldoutMismatchError(
            f"the suites were evaluated on different hold-out images: {len(only[0])} only in "
            f"the first (e.g. {only[0][:3]}), {len(only[1])} only in the second (e.g. "
            f"{only[1][:3]}); compare suites trained on the same data set and split")
    differ = labels[0][labels[0] != labels[1].reindex(labels[0].index)]
    if len(differ):
        raise HoldoutMismatchError(f"the suites disagree on the true class of {len(differ)} "
                                   f"image(s), e.g. {list(differ.index[:3])}")
    return [str(i) for i in labels[0].index]


def compare_predictions(
    tables: Mapping[str, pd.DataFrame],
    *,
    lesion_scores: Mapping[str, pd.DataFrame] | None = None,
    rule: KOfN = PAPER_RULE,
    seed: int = 0,
) -> SuiteComparison:
    """Compare two suites from their tidy prediction tables.

    Parameters
    ----------
    tables : mapping of name -> DataFrame
        Exactly two suites' predictions (:func:`dermviz.analysis.predictions.predictions_table`),
        in display order.
    lesion_scores : mapping of name -> DataFrame, optional
        Per suite, :func:`dermviz.analysis.lesion_localization.member_scores` of its
        GradCAM maps; a suite missing here (or with an empty table) has no lesion-mass rows.
    rule : KOfN
        The consistently-misclassified rule, scaled to each suite's member count.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    SuiteComparison

    Raises
    ------
    ValueError
        Not exactly two suites, or a suite without predictions.
    HoldoutMismatchError
        The suites' hold-outs differ (:func:`check_same_holdout`).
    """
    if len(tables) != 2:
        raise ValueError(f"compare exactly two suites, got {len(tables)}")
    names = tuple(str(n) for n in tables)
    if names[0] == names[1]:
        raise ValueError("the two suites need different names")
    for name, table in tables.items():
        if not len(table):
            raise ValueError(f"suite {name!r} has no predictions (no trained member)")
    first, second = tables.values()
    ids = check_same_holdout(first, second)

    def stacked(make: Any) -> pd.DataFrame:
        return pd.concat([make(t).assign(suite=n) for n, t in tables.items()],
                         ignore_index=True).pipe(_suite_first)

    calibration = stacked(calibration_summary)
    auc = calibration[~calibration["is_ensemble"]].rename(columns={"model": "member"})
    errors = stacked(error_counts)[["suite", "member", "melanomas_called_naevi",
                                    "naevi_called_melanoma"]]
    return SuiteComparison(
        names=names, n_images=len(ids),
        auc=auc[["suite", "member", "auc"]].reset_index(drop=True),
        errors=errors,
        consistent=pd.concat([_consistent(n, t, rule) for n, t in tables.items()],
                             ignore_index=True),
        calibration=calibration,
        reliability=stacked(reliability_curves),
        lesion_mass=_lesion_mass(names, tables, lesion_scores or {}),
        difference=auc_difference(
            *(auc.loc[auc["suite"] == n, "auc"].to_numpy() for n in names), seed=seed),
    )


def _suite_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["suite", *(c for c in frame.columns if c != "suite")]]


def _consistent(name: str, table: pd.DataFrame, rule: KOfN) -> pd.DataFrame:
    hits = consistently_misclassified(table, rule=rule)
    n_members = len(member_order(check_predictions(table)))
    counts = hits["y_true"].map({1: "melanoma", 0: "naevus"}).value_counts()
    return pd.DataFrame({
        "suite": name, "true_class": ["melanoma", "naevus"],
        "images": [int(counts.get(c, 0)) for c in ("melanoma", "naevus")],
        "min_wrong": rule.min_wrong(n_members),
    })


def _lesion_mass(names: tuple[str, ...], tables: Mapping[str, pd.DataFrame],
                 scores: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = []
    for name in names:
        long = scores.get(name)
        if long is None or not len(long):
            continue
        members = set(tables[name]["member"])
        unknown = sorted(set(long["member"]) - members)
        if unknown:
            raise ValueError(f"lesion scores of suite {name!r} name unknown member(s) {unknown}")
        per = long.groupby("member", sort=False).agg(
            mass=("mass", "mean"), chance=(LESION_SHARE, "mean"), images=("mass", "count"))
        frames.append(per.reset_index().assign(suite=name))
    if not frames:
        return pd.DataFrame(columns=["suite", "member", "mass", "chance", "images"])
    return _suite_first(pd.concat(frames, ignore_index=True))


def auc_difference(first: np.ndarray, second: np.ndarray, *, seed: int = 0,
                   n_bootstrap: int = N_BOOTSTRAP) -> dict[str, Any]:
    """Mean member AUC of each suite, their difference (second minus first), a 95 %
    percentile bootstrap interval (members resampled within each suite) and the
    two-sided Mann-Whitney U test's p-value.

    NaN AUCs (a member whose hold-out lacks a class) are left out. The interval and
    the test need 2 members in each suite (NaN otherwise).
    """
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    out: dict[str, Any] = {
        "mean_auc": (float(a.mean()) if len(a) else math.nan,
                     float(b.mean()) if len(b) else math.nan),
        "n_members": (len(a), len(b)),
        "auc_difference": float(b.mean() - a.mean()) if len(a) and len(b) else math.nan,
        "ci_low": math.nan, "ci_high": math.nan, "mann_whitney_p": math.nan,
    }
    if len(a) < 2 or len(b) < 2:
        return out
    rng = np.random.default_rng(seed)
    draws = (rng.choice(b, (n_bootstrap, len(b))).mean(axis=1)
             - rng.choice(a, (n_bootstrap, len(a))).mean(axis=1))
    out["ci_low"], out["ci_high"] = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    out["mann_whitney_p"] = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return out


def compare_suites(first: Any, second: Any, *, with_maps: bool = True,
                   rule: KOfN = PAPER_RULE) -> SuiteComparison:
    """:func:`compare_predictions` of two suites' stored predictions and, with
    ``with_maps``, their stored GradCAM maps' mass on the lesion.

    Parameters
    ----------
    first, second : dermviz.models.suite.Suite
        Suites with different names, trained on the same hold-out.
    with_maps : bool
        Score the stored GradCAM maps (nothing is computed; a suite without stored
        maps has no lesion-mass rows).
    rule : KOfN
        As :func:`compare_predictions`.
    """
    tables = {first.name: predictions_table(first), second.name: predictions_table(second)}
    if len(tables) != 2:
        raise ValueError(f"the two suites have the same name {first.name!r}")
    check_same_holdout(*tables.values())  # before reading any map
    scores = {}
    if with_maps:
        for suite in (first, second):
            maps, masks = stored_maps_and_masks(suite, method="gradcam")
            scores[suite.name] = member_scores(maps, masks)
    return compare_predictions(tables, lesion_scores=scores, rule=rule)
