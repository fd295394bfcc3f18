"""Promotion: a member's best trial becomes the member (its model, record, trials)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.models.config import HYPERPARAMETERS
from dermviz.models.records import save_member
from dermviz.models.search.plan import (
    MemberPlan,
    best_trial,
    finished,
    read_result,
    trial_folder,
    trials_table,
)
from dermviz.models.search_config import SearchConfig
from dermviz.store.atomic import atomic_path


def promote_member(plan: MemberPlan, config: SearchConfig, *, holdout: pd.DataFrame
                   ) -> dict[str, Any]:
    """Make the member's best trial its model: files, ``trials.csv``, ``member.json``
    last; returns the manifest entry."""
    best = best_trial(plan)
    if best is None:
        raise RuntimeError(f"member {plan.mid}: no trial completed")
    folder = trial_folder(plan, best.number)
    result = read_result(folder)
    if result is None or not (folder / "model.keras").is_file():
        raise RuntimeError(f"member {plan.mid}: the files of its best trial #{best.number} "
                           f"are missing from {folder}")
    if result.get("diverged"):
        raise RuntimeError(f"member {plan.mid}: every completed trial diverged")
    table = trials_table(plan.study)
    with atomic_path(plan.folder / "trials.csv") as tmp:
        table.to_csv(tmp, index=False)
    states = table["state"].value_counts().to_dict() if len(table) else {}
    params = {k: result["params"][k] for k in HYPERPARAMETERS}
    split = json.loads(plan.split_file.read_text())
    search = {
        "study": plan.study.study_name,
        "best_trial": best.number,
        "best_value": float(best.value),
        "objective": config.objective,
        "hyperparameters": params,
        "trial_seed": result.get("seed"),
        "n_finished": finished(plan),
        "n_complete": int(states.get("COMPLETE", 0)),
        "n_pruned": int(states.get("PRUNED", 0)),
        "n_failed": int(states.get("FAIL", 0)),
    }
    return save_member(
        plan.folder, model=Path(folder / "model.keras"), mid=plan.mid, seed=plan.seed,
        config=config.train.replace(**params), split_summary=plan.split.summary(),
        history=json.loads((folder / "history.json").read_text()),
        best_epoch=result["best_epoch"], val_y=np.asarray(split["val"]["y"], dtype=int),
        p_val=np.load(folder / "val_predictions.npy", allow_pickle=False),
        holdout=holdout,
        p_test=np.load(folder / "holdout_predictions.npy", allow_pickle=False),
        extra={"fit_seed": result.get("seed"), "search": search,
               "policy": result.get("policy", "float32"),
               "steps_per_epoch": result.get("steps_per_epoch")},
    )
