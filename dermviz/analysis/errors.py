"""Who gets which lesion wrong: per member, per image, and the suite's vote.

Every function takes the tidy predictions table of
:mod:`dermviz.analysis.predictions` and returns a DataFrame (export with
``DataFrame.to_csv``). A member calls an image melanoma when
``p_melanoma >= threshold`` (its own operating threshold); melanoma is the
positive class, so a false negative is a melanoma called a naevus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.bootstrap import DEFAULT_LEVEL, N_BOOTSTRAP, metrics_with_ci
from dermviz.analysis.predictions import check_predictions, member_order

#: The AUC of a member that ranks melanomas above naevi no better than a coin.
CHANCE_AUC = 0.5


@dataclass(frozen=True)
class KOfN:
    """A consistent-misclassification rule: wrong in at least ``k`` of ``n`` members."""

    k: int
    n: int

    def __post_init__(self) -> None:
        if not (isinstance(self.n, int) and isinstance(self.k, int) and 1 <= self.k <= self.n):
            raise ValueError(f"need integers 1 <= k <= n, got k={self.k!r}, n={self.n!r}")

    def min_wrong(self, n_members: int) -> int:
        """The rule scaled to a suite of ``n_members``: ``ceil(k * n_members / n)``."""
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        # Integer arithmetic: 25 * 30 / 30 must give exactly 25.
        return max(1, -(-self.k * n_members // self.n))


#: The paper's rule: wrong in >= 25 of its 30 models.
PAPER_RULE = KOfN(25, 30)
#: The 2025 reproduction's rule: wrong in >= 13 of its 15 models.
REPRODUCTION_RULE = KOfN(13, 15)
#: Images the paper found wrong in >= 25 of 30 models (400-image hold-out).
PAPER_CONSISTENT_COUNT = 17
#: Images the 2025 reproduction found wrong in >= 13 of 15 models, of 400.
REPRODUCTION_CONSISTENT_COUNT = 9
REPRODUCTION_HOLDOUT_SIZE = 400
#: The melanoma (hold-out test id) every reproduction model called a naevus.
REPRODUCTION_ALWAYS_WRONG_TEST_ID = 57
#: Reproduction, per model: melanomas called naevi, (mean, sd) over 15 models.
REPRODUCTION_MELANOMAS_CALLED_NAEVI = (29.3, 9.22)
#: Reproduction, per model: naevi called melanoma, (mean, sd) over 15 models.
REPRODUCTION_NAEVI_CALLED_MELANOMA = (20.2, 6.82)


def majority_vote(n_called_melanoma: Any, n_members: Any) -> Any:
    """1 (melanoma) where at least half the members call melanoma, else 0.

    A tie calls melanoma: the cautious call for a lesion that may need excision.
    Works elementwise on arrays and Series.
    """
    return (2 * np.asarray(n_called_melanoma) >= np.asarray(n_members)).astype(int)


def member_summary(table: pd.DataFrame, *, n_bootstrap: int = N_BOOTSTRAP,
                   seed: int = 0) -> pd.DataFrame:
    """Per member: confusion counts at its own threshold, AUC with its interval, and rates.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy predictions.
    n_bootstrap : int, default 1000
        Class-stratified resamples for the AUC's 95% interval
        (:func:`dermviz.analysis.bootstrap.metrics_with_ci`); 0 leaves it NaN.
    seed : int, default 0

    Returns
    -------
    pandas.DataFrame
        One row per member (suite order): ``member, threshold, n, tp, fp, tn,
        fn, auc, auc_low, auc_high, beats_chance, sensitivity, specificity,
        accuracy``. ``beats_chance``: the AUC's interval lies above
        :data:`CHANCE_AUC` (False where it reaches it, or is undefined). A rate
        whose denominator is zero, and the AUC when one class is absent, are NaN.
    """
    checked = check_predictions(table)
    rows = []
    for member in member_order(checked):
        part = checked[checked["member"] == member]
        y = part["y_true"].to_numpy() == 1
        p = part["p_melanoma"].to_numpy()
        call = part["called_melanoma"].to_numpy()
        tp, fn = int((call & y).sum()), int((~call & y).sum())
        fp, tn = int((call & ~y).sum()), int((~call & ~y).sum())
        ci = metrics_with_ci(y.astype(int), p, n_bootstrap=n_bootstrap, level=DEFAULT_LEVEL,
                             seed=seed)
        low, high = (math.nan if ci[k] is None else float(ci[k]) for k in ("auc_low", "auc_high"))
        rows.append({
            "member": member, "threshold": float(part["threshold"].iloc[0]), "n": len(part),
            "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "auc": math.nan if ci["auc"] is None else float(ci["auc"]),
            "auc_low": low, "auc_high": high,
            "beats_chance": bool(low > CHANCE_AUC),  # NaN > x is False
            "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "accuracy": _ratio(tp + tn, len(part)),
        })
    return pd.DataFrame(rows)


def chance_sentence(summary: pd.DataFrame) -> str | None:
    """What to say of the members whose hold-out AUC is no better than chance, or None.

    ``summary`` is :func:`member_summary`'s table. A member counts when its AUC's 95%
    interval reaches :data:`CHANCE_AUC` (0.5) or lies below it; members whose AUC is
    undefined (a hold-out of one class) are not judged.
    """
    judged = summary[np.isfinite(summary["auc_low"].to_numpy(float))]
    weak = judged[~judged["beats_chance"].astype(bool)]
    if weak.empty:
        return None
    each = "; ".join(f"{r.member} {r.auc:.2f} (95% interval {r.auc_low:.2f}-{r.auc_high:.2f})"
                     for r in weak.itertuples())
    one = len(weak) == 1
    return (f"{len(weak)} of {len(summary)} members rank{'s' if one else ''} the hold-out's "
            f"melanomas above its naevi no better than chance (AUC {CHANCE_AUC}): {each}. "
            f"{'Its' if one else 'Their'} verdicts are no better than a coin there, so "
            f"{'its' if one else 'their'} maps explain a model that has not learned the task: "
            + ("train longer." if len(weak) == len(summary)
               else "read the other members', or train longer."))


def image_summary(table: pd.DataFrame, *, ensemble_threshold: float | None = None) -> pd.DataFrame:
    """Per image: how many members are wrong, the suite's vote, and its uncertainty.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy predictions.
    ensemble_threshold : float, optional
        Threshold on the members' mean probability for ``mean_vote``; default
        the mean of the members' thresholds (each chosen on its validation data).

    Returns
    -------
    pandas.DataFrame
        One row per image, worst first (``n_wrong`` descending): ``image_id,
        y_true, n_members, n_wrong, frac_wrong, mean_p, sd_p, n_called_melanoma,
        majority_vote, majority_correct, mean_vote, mean_correct, frac_against``
        (and ``test_index`` when the table has it).

    Notes
    -----
    ``majority_vote`` follows :func:`majority_vote` (a tie calls melanoma).
    ``frac_against`` (0 to 0.5) is the fraction of members whose call
    differs from the majority vote; with ``sd_p`` (sample sd over members,
    ``ddof=1``; NaN for one member) it measures the suite's disagreement.
    """
    checked = check_predictions(table)
    if ensemble_threshold is None:
        ensemble_threshold = float(checked.groupby("member")["threshold"].first().mean())
    elif not 0.0 <= ensemble_threshold <= 1.0:
        raise ValueError(f"ensemble_threshold must be in [0, 1], got {ensemble_threshold}")
    keys = ["image_id", "y_true"] + (["test_index"] if "test_index" in checked else [])
    out = checked.groupby(keys, sort=False, as_index=False).agg(
        n_members=("member", "size"), n_wrong=("wrong", "sum"),
        mean_p=("p_melanoma", "mean"), sd_p=("p_melanoma", "std"),
        n_called_melanoma=("called_melanoma", "sum"),
    )
    out["n_wrong"] = out["n_wrong"].astype(int)
    out["n_called_melanoma"] = out["n_called_melanoma"].astype(int)
    out["frac_wrong"] = out["n_wrong"] / out["n_members"]
    out["majority_vote"] = majority_vote(out["n_called_melanoma"], out["n_members"]).astype(int)
    out["majority_correct"] = out["majority_vote"] == out["y_true"]
    out["mean_vote"] = (out["mean_p"] >= ensemble_threshold).astype(int)
    out["mean_correct"] = out["mean_vote"] == out["y_true"]
    against = np.where(out["majority_vote"] == 1, out["n_members"] - out["n_called_melanoma"],
                       out["n_called_melanoma"])
    out["frac_against"] = against / out["n_members"]
    cols = [*keys, "n_members", "n_wrong", "frac_wrong", "mean_p", "sd_p", "n_called_melanoma",
            "majority_vote", "majority_correct", "mean_vote", "mean_correct", "frac_against"]
    return out[cols].sort_values("n_wrong", ascending=False, kind="stable").reset_index(drop=True)


def consistently_misclassified(
    table: pd.DataFrame, *, min_wrong: int | None = None, rule: KOfN = PAPER_RULE
) -> pd.DataFrame:
    """Images wrong in at least ``min_wrong`` members.

    Parameters
    ----------
    table : pandas.DataFrame
        Tidy predictions.
    min_wrong : int, optional
        The ``k`` of "wrong in >= k of N". Default: ``rule`` scaled to the
        suite's member count (:meth:`KOfN.min_wrong`): 25 for 30 members under
        :data:`PAPER_RULE`.
    rule : KOfN
        Used only when ``min_wrong`` is None.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`image_summary` that qualify, worst first, with a
        ``min_wrong`` column recording the rule applied.
    """
    summary = image_summary(table)
    n_members = int(summary["n_members"].iloc[0])
    if min_wrong is None:
        min_wrong = rule.min_wrong(n_members)
    if not isinstance(min_wrong, (int, np.integer)) or not 1 <= min_wrong <= n_members:
        raise ValueError(f"min_wrong must be an integer in [1, {n_members}], got {min_wrong!r}")
    hits = summary[summary["n_wrong"] >= min_wrong].reset_index(drop=True)
    return hits.assign(min_wrong=int(min_wrong))


def error_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Per member: melanomas called naevi and naevi called melanoma.

    Columns ``member, melanomas_called_naevi, naevi_called_melanoma,
    n_melanoma, n_naevus``; compare with :data:`REPRODUCTION_MELANOMAS_CALLED_NAEVI`.
    """
    summary = member_summary(table)
    return pd.DataFrame({
        "member": summary["member"],
        "melanomas_called_naevi": summary["fn"],
        "naevi_called_melanoma": summary["fp"],
        "n_melanoma": summary["tp"] + summary["fn"],
        "n_naevus": summary["tn"] + summary["fp"],
    })


def error_count_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample sd (``ddof=1``) over members of :func:`error_counts`.

    One row per error kind: ``error, mean, sd, min, max, n_members``.
    """
    counts = error_counts(table)
    rows = []
    for kind in ("melanomas_called_naevi", "naevi_called_melanoma"):
        col = counts[kind].astype(float)
        rows.append({"error": kind, "mean": col.mean(), "sd": col.std(ddof=1),
                     "min": int(col.min()), "max": int(col.max()), "n_members": len(col)})
    return pd.DataFrame(rows)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def members_wrong_distribution(table: pd.DataFrame) -> pd.DataFrame:
    """How many images are wrong in exactly k members, for k = 0..N.

    Columns ``n_wrong, n_images``; every k appears, with 0 where no image has it.
    """
    summary = image_summary(table)
    n_members = int(summary["n_members"].max()) if len(summary) else 0
    counts = summary["n_wrong"].value_counts().reindex(range(n_members + 1), fill_value=0)
    return pd.DataFrame({"n_wrong": counts.index.astype(int),
                         "n_images": counts.to_numpy().astype(int)})
