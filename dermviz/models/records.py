"""What a suite writes about itself: member records and the manifest.

One writer for both ``dermviz train`` and ``dermviz search`` (the folder layout
is described in :mod:`dermviz.models.suite`). A member's files are written
atomically and ``member.json`` last, so a member without it is incomplete; the
manifest lists only complete members.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz._version import __version__
from dermviz.models.config import TrainConfig
from dermviz.models.metrics import binary_metrics, choose_threshold
from dermviz.store import read_json, write_json
from dermviz.store.atomic import atomic_path

MANIFEST = "suite.json"
MEMBER_FILE = "member.json"
#: Search options that may change when a searched suite resumes.
RESUMABLE_SEARCH_OPTIONS = ("n_trials", "max_failures")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write a suite's manifest (``suite.json``) into the folder ``path``."""
    write_json(path / MANIFEST, manifest)


def now() -> str:
    """UTC time stamp, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def machine_info() -> dict[str, Any]:
    """The machine a member was fitted on: CPU model, logical cores, OS (for the record:
    fit times are only comparable on the same CPU)."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()}


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the first processor.

    Attributes
    ----------
    model : str
        The model name (else what :mod:`platform` says, else ``"unknown"``).
    flags : frozenset of str or None
        Its feature flags; None where no ``/proc/cpuinfo`` could be read (not the same as
        a CPU without flags).
    """

    model: str
    flags: frozenset[str] | None


def cpu_info(cpuinfo: str | None = None) -> CpuInfo:
    """The CPU's model name and feature flags: the one reader of ``/proc/cpuinfo``.

    Parameters
    ----------
    cpuinfo : str, optional
        Text in the format of ``/proc/cpuinfo``; read from there by default (empty where
        it does not exist).

    Returns
    -------
    CpuInfo
        The first processor's entry (all cores of a machine are alike).
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as info:
                cpuinfo = info.read()
        except OSError:
            cpuinfo = ""
    model, flags = "", None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and not model:
            model = value.strip()
        elif key.strip() == "flags" and flags is None:
            flags = frozenset(value.split())
    if flags is None and cpuinfo.strip():
        flags = frozenset()
    return CpuInfo(model=model or platform.processor() or platform.machine() or "unknown",
                   flags=flags)


def cpu_model() -> str:
    """The CPU's model name (:func:`cpu_info`)."""
    return cpu_info().model


def save_member(
    folder: Path,
    *,
    model: Any,
    mid: str,
    seed: int,
    config: TrainConfig,
    split_summary: dict[str, Any],
    history: dict[str, list[float]],
    best_epoch: int,
    val_y: np.ndarray,
    p_val: np.ndarray,
    holdout: pd.DataFrame,
    p_test: np.ndarray,
    extra: dict[str, Any] | None = None,
    fit_seconds: float | None = None,
) -> dict[str, Any]:
    """Write a member folder; returns its manifest entry.

    The threshold is chosen on the validation predictions (Youden's J).

    Parameters
    ----------
    folder : Path
        ``members/<id>``.
    model : keras.Model or Path
        The float32 member, or the path of its saved ``.keras`` file (copied).
    config : TrainConfig
        The member's effective options (recorded in ``member.json``).
    extra : dict, optional
        More entry fields (a searched member's ``search`` block, ``fit_seed``).
    fit_seconds : float, optional
        Wall time of the member's fit, recorded with :func:`machine_info` (the
        entry's ``fit_seconds`` and ``machine``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MEMBER_FILE).unlink(missing_ok=True)  # incomplete until rewritten
    with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        if isinstance(model, str | Path):
            shutil.copyfile(model, tmp)
        else:
            model.save(tmp)
    write_json(folder / "history.json", history)
    threshold = choose_threshold(val_y, p_val)
    y_test = holdout["y"].to_numpy()
    preds = pd.DataFrame({
        "image_id": holdout["image_id"].to_numpy(),
        "test_index": holdout["test_index"].to_numpy(),
        "y": y_test,
        "p_melanoma": p_test,
        "predicted": (p_test >= threshold).astype(int),
    })
    with atomic_path(folder / "holdout_predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    entry = {
        "id": mid,
        "seed": int(seed),
        "threshold": threshold,
        "val_auc": binary_metrics(val_y, p_val, threshold=threshold)["auc"],
        "best_epoch": int(best_epoch),
        "split": split_summary,
        "holdout": binary_metrics(y_test, p_test, threshold=threshold),
        "holdout_at_0.5": binary_metrics(y_test, p_test, threshold=0.5),
        "trained": now(),
        "fit_seconds": None if fit_seconds is None else round(float(fit_seconds), 1),
        "machine": machine_info(),
        **(extra or {}),
    }
    write_json(folder / MEMBER_FILE, {**entry, "config": config.to_dict()})
    return entry


def start_manifest(
    out: Path, *, name: str, dataset: Any, config: TrainConfig,
    search: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Open (resume) or create ``suite.json``; returns the manifest.

    A resumed suite must have the same training config (and, for a search, the
    same search config up to :data:`RESUMABLE_SEARCH_OPTIONS`) and data source;
    members whose ``member.json`` is gone are dropped (and redone).

    Parameters
    ----------
    search : dict, optional
        A searched suite's ``search`` block (``config`` and ``storage`` at least);
        on resume only those two keys are updated.
    """
    out = Path(out)
    if (out / MANIFEST).is_file():
        manifest = read_json(out / MANIFEST)
        _check_resume(manifest, out, dataset, config, search)
        manifest["members"] = [
            m for m in manifest["members"] if (out / "members" / m["id"] / MEMBER_FILE).is_file()
        ]
        if search is not None:
            manifest["search"].update(config=search["config"], storage=search["storage"])
        manifest["status"] = "training"
    else:
        manifest = {
            "name": name,
            "created": now(),
            "status": "training",
            "dataset": dataset.describe(),
            "config": config.to_dict(),
            "members": [],
            "dermviz_version": __version__,
        }
        if search is not None:
            manifest["search"] = dict(search)
    write_manifest(out, manifest)
    return manifest


def _check_resume(manifest: dict[str, Any], out: Path, dataset: Any, config: TrainConfig,
                  search: dict[str, Any] | None) -> None:
    old_search = manifest.get("search")
    if search is not None and old_search is None:
        raise ValueError(f"a suite trained with fixed hyperparameters exists at {out}; "
                         "use another --name or --overwrite")
    if search is None and old_search is not None:
        raise ValueError(f"a searched suite exists at {out}; use another --name or --overwrite")
    if TrainConfig.from_dict(manifest["config"]) != config:
        raise ValueError(f"a suite with a different config already exists at {out}; "
                         "use another --name or --overwrite")
    if search is not None and _resumable(old_search.get("config", {})) != _resumable(
            search["config"]):
        raise ValueError(f"a suite with a different config already exists at {out}; "
                         "use another --name or --overwrite (only n_trials may change)")
    if manifest.get("dataset", {}).get("source") != dataset.describe().get("source"):
        raise ValueError(f"the suite at {out} was trained on another data set")


def _resumable(search_config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in search_config.items() if k not in RESUMABLE_SEARCH_OPTIONS}


def finish_manifest(out: Path, manifest: dict[str, Any]) -> None:
    """Mark the suite complete."""
    manifest["status"] = "complete"
    manifest["finished"] = now()
    write_manifest(out, manifest)
