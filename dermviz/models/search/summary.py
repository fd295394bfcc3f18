"""A searched suite's figures: mean and variance over members, and the search for
display (light: no Optuna, no TensorFlow)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dermviz.models.search_config import REFERENCES

SUMMARY_METRICS = {
    "auc": ("holdout", "auc"),
    "accuracy": ("holdout", "accuracy"),
    "argmax_accuracy": ("holdout_at_0.5", "accuracy"),
    "sensitivity": ("holdout", "sensitivity"),
    "specificity": ("holdout", "specificity"),
    "brier": ("holdout", "brier"),
}


def suite_summary(members: list[dict[str, Any]]) -> dict[str, dict[str, float | int | None]]:
    """Mean, variance (ddof=1) and sd over members of each hold-out metric.

    ``accuracy`` uses each member's validation-chosen threshold; ``argmax_accuracy``
    is accuracy at 0.5 (= argmax of the two class probabilities).
    """
    out: dict[str, dict[str, float | int | None]] = {}
    for key, (block, metric) in SUMMARY_METRICS.items():
        values = np.array([m.get(block, {}).get(metric) for m in members
                           if m.get(block, {}).get(metric) is not None], dtype=float)
        n = len(values)
        out[key] = {
            "n": n,
            "mean": float(values.mean()) if n else None,
            "variance": float(values.var(ddof=1)) if n > 1 else None,
            "sd": float(values.std(ddof=1)) if n > 1 else None,
            "min": float(values.min()) if n else None,
            "max": float(values.max()) if n else None,
        }
    return out


def summary_frame(members: list[dict[str, Any]]) -> pd.DataFrame:
    """:func:`suite_summary` as a table, with the paper's and the reproduction's figures."""
    summary = suite_summary(members)
    rows = [{"metric": k, **v} for k, v in summary.items()]
    frame = pd.DataFrame(rows)
    paper, repro = REFERENCES["paper"], REFERENCES["reproduction"]
    frame["paper_mean"] = [paper["mean"] if m == "auc" else None for m in frame["metric"]]
    frame["paper_variance"] = [paper["variance"] if m == "auc" else None for m in frame["metric"]]
    is_acc = [m in ("accuracy", "argmax_accuracy") for m in frame["metric"]]
    frame["reproduction_mean"] = [repro["mean"] if a else None for a in is_acc]
    frame["reproduction_variance"] = [repro["variance"] if a else None for a in is_acc]
    return frame


def search_info(suite: Any) -> dict[str, Any] | None:
    """The search of a suite for display: None for a fixed-hyperparameter suite.

    Returns ``{"config", "sampler", "trials" (long table, one row per trial with a
    ``member`` column), "best" (one row per member: best trial, value and
    hyperparameters), "summary"}``.
    """
    block = suite.manifest.get("search")
    if not block:
        return None
    frames = []
    best_rows = []
    for mid in suite.member_ids:
        path = suite.member_dir(mid) / "trials.csv"
        if path.is_file():
            frames.append(pd.read_csv(path).assign(member=mid))
        s = suite.member(mid).get("search", {})
        if s:
            best_rows.append({"member": mid, "seed": suite.member(mid)["seed"],
                              "best_trial": s.get("best_trial"), s.get("objective", "value"):
                              s.get("best_value"), **s.get("hyperparameters", {}),
                              "hold-out AUC": suite.member(mid)["holdout"]["auc"]})
    return {
        "config": block.get("config", {}),
        "sampler": block.get("sampler_used", block.get("config", {}).get("sampler")),
        "storage": block.get("storage"),
        "trials": pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
        "best": pd.DataFrame(best_rows),
        "summary": summary_frame(suite.manifest.get("members", [])),
    }
