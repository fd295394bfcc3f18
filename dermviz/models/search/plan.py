"""A member's search: its split, its Optuna study and the trials' bookkeeping.

A trial folder counts only once ``result.json`` is written (last, atomically),
and a trial counts only once the driver has told Optuna (:func:`record`). Trials
left RUNNING by a dead driver are recorded from their folders (:func:`recover`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dermviz.data.splits import MemberSplit
from dermviz.models.search.sampling import make_pruner, make_sampler
from dermviz.models.search.storage import study_name
from dermviz.models.search_config import SearchConfig
from dermviz.models.seeds import member_id
from dermviz.models.workspace import SPLIT_FILE, write_split

#: Trial result fields copied into Optuna user attributes.
RESULT_ATTRS = ("seconds", "fit_seconds", "peak_rss_mb", "best_epoch", "epochs_run",
                "diverged", "train_images_per_s", "seed")


@dataclass
class MemberPlan:
    """One member of a search: where it lives, its split and its study."""

    index: int
    mid: str
    seed: int
    split: MemberSplit
    folder: Path
    study: Any = None
    failures: int = 0
    running: int = 0

    @property
    def split_file(self) -> Path:
        return self.folder / SPLIT_FILE


def plan_members(out: Path, name: str, config: SearchConfig, splits: list[MemberSplit],
                 row_of: dict[str, int], storage: Any) -> list[MemberPlan]:
    """Write each member's split (as rows of the image cache) and open its study."""
    import optuna  # imported on use: the dashboard reads searches without it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plans = []
    for index, split in enumerate(splits):
        mid = member_id(index)
        plan = MemberPlan(index, mid, split.seed, split, out / "members" / mid)
        write_split(plan.folder, split, row_of)
        sampler, _ = make_sampler(config.sampler, seed=split.seed,
                                  n_startup_trials=config.n_startup_trials)
        plan.study = optuna.create_study(
            study_name=study_name(name, mid), storage=storage, direction="maximize",
            sampler=sampler, pruner=make_pruner(config.pruner, config.n_startup_trials),
            load_if_exists=True,
        )
        plan.study.set_user_attr("member", mid)
        plan.study.set_user_attr("seed", split.seed)
        plans.append(plan)
    return plans


def finished(plan: MemberPlan) -> int:
    """Completed and pruned trials (both count towards ``n_trials``)."""
    from optuna.trial import TrialState  # imported on use (see plan_members)

    return len(plan.study.get_trials(deepcopy=False,
                                     states=(TrialState.COMPLETE, TrialState.PRUNED)))


def trial_folder(plan: MemberPlan, number: int) -> Path:
    return plan.folder / "trials" / f"{number:03d}"


def read_result(folder: Path) -> dict[str, Any] | None:
    """A trial's ``result.json``; None while it has none (or it is unreadable)."""
    try:
        return json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None


def record(plan: MemberPlan, trial_id: int, number: int, folder: Path) -> str:
    """Tell Optuna how a trial ended, from its folder; returns the state name."""
    from optuna.trial import TrialState  # imported on use (see plan_members)

    study = plan.study
    result = read_result(folder)
    status = result.get("status") if result else None
    storage = study._storage  # noqa: SLF001 - user attrs must be set before tell()
    if result:
        for key in RESULT_ATTRS:
            if key in result:
                storage.set_trial_user_attr(trial_id, key, result[key])
        if status == "failed":
            storage.set_trial_user_attr(trial_id, "error", str(result.get("error", ""))[-2000:])
    if status == "complete" and (folder / "model.keras").is_file():
        study.tell(number, float(result["value"]), skip_if_finished=True)
        return "COMPLETE"
    if status == "pruned":
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        drop_models(folder)
        return "PRUNED"
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    drop_models(folder)
    return "FAIL"


def drop_models(folder: Path) -> None:
    """Delete a trial's model and any half-written temporary file."""
    (folder / "model.keras").unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def recover(plan: MemberPlan, *, keep_models: str) -> None:
    """Trials left RUNNING by a dead driver: keep finished results, fail the rest."""
    from optuna.trial import TrialState  # imported on use (see plan_members)

    for t in plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record(plan, t._trial_id, t.number, trial_folder(plan, t.number))  # noqa: SLF001
    if keep_models == "best":
        prune_models(plan)


def best_trial(plan: MemberPlan) -> Any | None:
    """The completed trial with the highest value (earliest on ties)."""
    from optuna.trial import TrialState  # imported on use (see plan_members)

    done = plan.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    return max(done, key=lambda t: (t.value, -t.number))


def prune_models(plan: MemberPlan) -> None:
    """Keep only the best trial's model (88 MB each; a 30 x 25 search would need 66 GB)."""
    best = best_trial(plan)
    trials_dir = plan.folder / "trials"
    if not trials_dir.is_dir():
        return
    keep = f"{best.number:03d}" if best is not None else None
    running = {f"{t.number:03d}" for t in plan.study.get_trials(deepcopy=False)
               if t.state.name == "RUNNING"}
    for sub in trials_dir.iterdir():
        if sub.name != keep and sub.name not in running:
            drop_models(sub)


def trials_table(study: Any) -> pd.DataFrame:
    """One row per trial of a study: number, state, value, hyperparameters, timings."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"number": t.number, "state": t.state.name, "value": t.value}
        row.update(t.params)
        for key in ("seconds", "peak_rss_mb", "best_epoch", "epochs_run", "diverged",
                    "train_images_per_s"):
            row[key] = t.user_attrs.get(key)
        row["start"] = t.datetime_start.isoformat(timespec="seconds") if t.datetime_start else None
        rows.append(row)
    return pd.DataFrame(rows)
