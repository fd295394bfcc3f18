"""The training record a suite's Home page shows (dermviz.analysis.training)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from dermviz.analysis.training import training_summary


def _suite(members, config=None):  # noqa: ANN001, ANN202 - a stand-in Suite
    return SimpleNamespace(manifest={"members": members},
                           config=config or {"epochs": 10, "lr_schedule": "cosine",
                                             "patience": 3, "seed": 1})


def _member(auc, seconds=None, cpu=None):  # noqa: ANN001, ANN202
    entry = {"holdout": {"auc": auc}}
    if seconds is not None:
        entry["fit_seconds"] = seconds
    if cpu is not None:
        entry["machine"] = {"cpu": cpu, "cores": 2}
    return entry


def test_summary_of_recorded_members():
    summary = training_summary(_suite([_member(0.8, 60.0, "EPYC"), _member(0.9, 120.0, "EPYC"),
                                       _member(0.7, 90.0, "Xeon")]))
    assert summary["members"] == 3
    assert summary["auc_mean"] == pytest.approx(0.8)
    assert summary["auc_sd"] == pytest.approx(0.1)  # sample sd
    assert (summary["auc_min"], summary["auc_max"]) == (0.7, 0.9)
    assert summary["config"] == {"epochs": 10, "lr_schedule": "cosine", "patience": 3}
    assert summary["fit_seconds_total"] == 270.0 and summary["fit_seconds_mean"] == 90.0
    assert summary["fits_timed"] == 3 and summary["cpus"] == ["EPYC", "Xeon"]


def test_members_without_a_record_and_a_single_member():
    summary = training_summary(_suite([_member(0.75)]))
    assert summary["auc_mean"] == 0.75 and math.isnan(summary["auc_sd"])
    assert summary["fit_seconds_total"] is None and summary["fits_timed"] == 0
    assert summary["cpus"] == []
    empty = training_summary(_suite([]))
    assert empty["members"] == 0 and math.isnan(empty["auc_mean"])
