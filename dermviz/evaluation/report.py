"""The report card: methods side by side, per metric family, with the best one marked.

:func:`~dermviz.evaluation.baselines.summarize_scores` gives, per method and metric, the
mean score, its interval, both baselines and whether the method passes. A family holds
several metrics; :func:`family_table` gathers each method's metrics of a family into one
row: how many it passes, and its mean rank among the methods (1 = best on every metric of
the family). The best method of a family is the one with the lowest mean rank; it is
marked, whether or not it passes (a table of methods that all fail still has a best one,
and says that none passes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["family_table", "metric_ranks"]

_SUMMARY_COLUMNS = ("method", "metric", "family", "higher_is_better", "score", "passes")


def _check_summary(summary: pd.DataFrame, by: Sequence[str]) -> None:
    missing = sorted({*_SUMMARY_COLUMNS, *by} - set(summary.columns))
    if missing:
        raise ValueError(
            f"the summary lacks the column(s) {missing} (expected rows of "
            "summarize_scores grouped by method)"
        )


def metric_ranks(summary: pd.DataFrame, *, by: Sequence[str] = ("member",)) -> pd.Series:
    """Each method's rank among the methods on each metric (and ``by`` group): 1 = best.

    Ranks follow the mean score, oriented by ``higher_is_better``; ties share the lower
    rank (``"min"``). A NaN score gets no rank.

    Parameters
    ----------
    summary : pandas.DataFrame
        Rows of :func:`~dermviz.evaluation.baselines.summarize_scores` with a ``method``
        column among its groups.
    by : sequence of str
        The other grouping columns (e.g. ``member``).

    Returns
    -------
    pandas.Series
        Float ranks, aligned with ``summary``'s index.
    """
    by = list(by)
    _check_summary(summary, by)
    oriented = summary["score"].where(summary["higher_is_better"].astype(bool), -summary["score"])
    return oriented.groupby([summary[c] for c in [*by, "metric"]], sort=False).rank(
        method="min", ascending=False
    )


def family_table(summary: pd.DataFrame, *, by: Sequence[str] = ("member",)) -> pd.DataFrame:
    """One row per (``by`` group,) method and family: its metrics, how many pass, its mean
    rank, and which method is the family's best.

    Parameters
    ----------
    summary : pandas.DataFrame
        Rows of :func:`~dermviz.evaluation.baselines.summarize_scores` grouped by
        ``[*by, "method"]``.
    by : sequence of str
        The other grouping columns (e.g. ``member``); may be empty.

    Returns
    -------
    pandas.DataFrame
        Columns ``*by``, ``family``, ``method``, ``metrics`` (their names, comma-separated),
        ``n_metrics``, ``n_passed``, ``passes`` (every metric of the family passes),
        ``mean_rank`` (over the family's metrics; NaN when no score) and ``best`` (the
        lowest mean rank of its group and family; ties are all best).
    """
    by = list(by)
    _check_summary(summary, by)
    if summary.empty:
        return pd.DataFrame(
            columns=[
                *by,
                "family",
                "method",
                "metrics",
                "n_metrics",
                "n_passed",
                "passes",
                "mean_rank",
                "best",
            ]
        )
    ranked = summary.assign(rank=metric_ranks(summary, by=by))
    rows = []
    for key, group in ranked.groupby([*by, "family", "method"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        passed = group["passes"].astype(bool)
        rows.append(
            {
                **dict(zip([*by, "family", "method"], key, strict=True)),
                "metrics": ", ".join(group["metric"]),
                "n_metrics": len(group),
                "n_passed": int(passed.sum()),
                "passes": bool(passed.all()),
                "mean_rank": float(group["rank"].mean()) if group["rank"].notna().any() else np.nan,
            }
        )
    table = pd.DataFrame(rows)
    lowest = table.groupby([*by, "family"], sort=False)["mean_rank"].transform("min")
    table["best"] = table["mean_rank"].notna() & (table["mean_rank"] == lowest)
    return table
