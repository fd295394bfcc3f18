"""The search driver: asks Optuna, hands trials to a backend, records, promotes.

:func:`search_suite` builds (or resumes) a suite whose members are each the best
model of their own search, as in the paper (docs/protocol.md §6): member ``m00`` searches
``n_trials`` hyperparameter sets on its own seeded split and keeps the best by the
objective on its validation split (never the hold-out). Layout: see
:mod:`dermviz.models.search`.

Crash safety: every trial runs in a fresh process and counts only once its
``result.json`` exists and Optuna was told (:mod:`dermviz.models.search.plan`);
one driver per suite (:class:`~dermviz.models.search.lock.SuiteLock`). On restart,
trials still RUNNING in storage are recorded from their folders; completed and
pruned trials count towards ``n_trials``; the remainder is run.

Reproducibility: each member's split, its sampler (re-seeded from the member seed
and the number of trials so far, so a resumed search draws what an uninterrupted
one would have) and each trial's fit seed (:func:`dermviz.models.seeds.fit_seed`)
derive from the member seed.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from dermviz.models.backends import LocalBackend, RayBackend, TrialJob
from dermviz.models.config import HYPERPARAMETERS
from dermviz.models.records import finish_manifest, start_manifest
from dermviz.models.search.lock import LOCK_FILE, SuiteLock
from dermviz.models.search.plan import (
    MemberPlan,
    best_trial,
    finished,
    plan_members,
    prune_models,
    read_result,
    record,
    recover,
    trial_folder,
)
from dermviz.models.search.promote import promote_member
from dermviz.models.search.sampling import make_sampler, suggest_params
from dermviz.models.search.storage import (
    STORAGE_ENV,
    default_storage_url,
    display_storage,
    open_storage,
    study_name,
)
from dermviz.models.search.summary import suite_summary
from dermviz.models.search_config import REFERENCES, SearchConfig
from dermviz.models.seeds import derived_seed, fit_seed, member_id
from dermviz.models.suite import Suite, write_manifest
from dermviz.models.workspace import Caches, build_caches, member_splits
from dermviz.store import write_atomic, write_json

CONFIG_FILE = "suite_config.yaml"


def search_suite(
    dataset: Any,
    config: SearchConfig,
    *,
    out_dir: str | Path,
    name: str | None = None,
    storage: str | None = None,
    backend: LocalBackend | RayBackend | None = None,
    device: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Suite:
    """Search (or resume searching) a suite and write it to ``out_dir``.

    Parameters
    ----------
    dataset : Dataset
        Hold-out rows are predicted by every trial but never trained or selected on.
    config : SearchConfig
    out_dir : path
        The suite folder (``models/<name>``).
    name : str, optional
        Suite name (default: the folder name); also names the Optuna studies.
    storage : str, optional
        SQLAlchemy URL of the Optuna storage (default: SQLite ``search.db`` in the
        suite folder). A shared database lets several machines watch or drive
        searches; one driver per suite at a time.
    backend : LocalBackend or RayBackend, optional
        Where trials run (default: local, one at a time or one per GPU).
    device : dict, optional
        ``{"mixed_precision": "auto"|"on"|"off", "xla": "auto"|"on"|"off",
        "deterministic": bool}`` (:func:`dermviz.models.device.configure_device`).
    overwrite : bool
        Delete the suite (and its studies) first.
    progress : bool
        Progress bar and one line per finished trial and member.

    Returns
    -------
    Suite
    """
    if not isinstance(config, SearchConfig):
        raise TypeError(f"config must be a SearchConfig, got {type(config).__name__}")
    out = Path(out_dir)
    name = name or out.name
    url = storage or default_storage_url(out)
    backend = backend if backend is not None else LocalBackend()
    device = {"mixed_precision": "auto", "xla": "auto", "deterministic": False,
              **(device or {})}
    with SuiteLock(out):
        if overwrite:
            _wipe(out, url, name, config)
        manifest = start_manifest(out, name=name, dataset=dataset, config=config.train, search={
            "config": config.to_dict()["search"], "storage": display_storage(url, out),
            "searched": list(HYPERPARAMETERS), "references": REFERENCES,
        })
        _write_config_file(out, config)
        splits = member_splits(config.train, dataset.pool, config.member_seeds())
        caches = build_caches(out, dataset, splits, size=config.train.image_size,
                              progress=progress, masks=config.train.gradmask is not None)
        plans = plan_members(out, name, config, splits, caches.row_of, open_storage(url))
        manifest["search"].update({
            "sampler_used": make_sampler(config.sampler, seed=0, n_startup_trials=0)[1],
            "backend": backend.describe(), "device": device,
            "studies": {p.mid: study_name(name, p.mid) for p in plans},
        })
        for plan in plans:
            recover(plan, keep_models=config.keep_models)
        driver = _Driver(out, name, config, plans, backend, url, device, dataset.holdout,
                         caches, manifest, progress)
        driver.run()
        manifest["search"]["summary"] = suite_summary(manifest["members"])
        finish_manifest(out, manifest)
    return Suite(out)


def _wipe(out: Path, url: str, name: str, config: SearchConfig) -> None:
    if url != default_storage_url(out):
        import optuna  # imported on use: the dashboard reads searches without it

        storage_obj = open_storage(url)
        existing = {s.study_name for s in optuna.study.get_all_study_summaries(storage_obj)}
        for index in range(config.n_members):
            sname = study_name(name, member_id(index))
            if sname in existing:
                optuna.delete_study(study_name=sname, storage=storage_obj)
    for child in out.iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _write_config_file(out: Path, config: SearchConfig) -> None:
    text = ("# dermviz suite config: `dermviz search --config THIS_FILE` rebuilds the suite\n"
            + config.to_yaml()).encode()
    write_atomic(out / CONFIG_FILE, lambda fh: fh.write(text))


@dataclass
class _Running:
    plan: MemberPlan
    trial_id: int
    number: int
    folder: Path
    params: dict[str, Any]
    started: float


class _Driver:
    def __init__(self, out: Path, name: str, config: SearchConfig, plans: list[MemberPlan],
                 backend: Any, url: str, device: dict[str, Any], holdout: pd.DataFrame,
                 caches: Caches, manifest: dict[str, Any], progress: bool) -> None:
        self.out, self.name, self.config, self.plans = out, name, config, plans
        self.backend, self.url, self.device = backend, url, device
        self.holdout, self.caches = holdout, caches
        self.manifest, self.progress = manifest, progress
        self.running: dict[cf.Future, _Running] = {}
        self.bar: Any = None

    # -- bookkeeping -----------------------------------------------------------------

    def _needed(self, plan: MemberPlan) -> int:
        return max(0, self.config.n_trials - finished(plan) - plan.running)

    def _member_done(self, plan: MemberPlan) -> bool:
        entry = next((m for m in self.manifest["members"] if m["id"] == plan.mid), None)
        if entry is None or not (plan.folder / "member.json").is_file():
            return False
        return entry.get("search", {}).get("n_finished") == finished(plan)

    def _say(self, text: str) -> None:
        if self.progress:
            tqdm.write(text)

    # -- main loop -------------------------------------------------------------------

    def run(self) -> None:
        total = sum(self._needed(p) for p in self.plans)
        self.bar = tqdm(total=total, desc=f"search {self.name}", unit="trial",
                        disable=not self.progress)
        for plan in self.plans:
            n = finished(plan)
            if n:
                self._say(f"{plan.mid}: {n}/{self.config.n_trials} trial(s) already done")
        self.backend.start()
        try:
            self._loop()
        except BaseException:
            self.backend.shutdown(kill=True)
            for fut, run in list(self.running.items()):
                try:
                    record(run.plan, run.trial_id, run.number, run.folder)
                except Exception:  # noqa: BLE001 - the next start recovers it
                    pass
                self.running.pop(fut, None)
            raise
        finally:
            self.bar.close()
        self.backend.shutdown()

    def _loop(self) -> None:
        while True:
            for plan in self.plans:
                if self._needed(plan) == 0 and plan.running == 0 and not self._member_done(plan):
                    self._promote(plan)
            while len(self.running) < self.backend.capacity:
                plan = self._next_member()
                if plan is None:
                    break
                self._launch(plan)
            if not self.running:
                break
            done, _ = cf.wait(list(self.running), timeout=2.0, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                self._finish(fut)
            self._show_running()

    def _next_member(self) -> MemberPlan | None:
        candidates = [p for p in self.plans if self._needed(p) > 0]
        if not candidates:
            return None
        return min(candidates, key=lambda p: (p.running, p.index))

    def _launch(self, plan: MemberPlan) -> None:
        study = plan.study
        n_so_far = len(study.get_trials(deepcopy=False))
        study.sampler, _ = make_sampler(
            self.config.sampler, seed=derived_seed(plan.seed, n_so_far),
            n_startup_trials=self.config.n_startup_trials,
        )
        trial = study.ask()
        params = suggest_params(trial, self.config.space)
        folder = trial_folder(plan, trial.number)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        trial.set_user_attr("member", plan.mid)
        trial.set_user_attr("folder", str(folder.relative_to(self.out)))
        spec = {
            "trial_dir": str(folder.resolve()),
            "member": plan.mid,
            "number": trial.number,
            "pool_cache": str(self.caches.pool.resolve()),
            "holdout_cache": str(self.caches.holdout.resolve()),
            "pool_masks": (str(self.caches.pool_masks.resolve()) if self.caches.pool_masks
                           else None),
            "split_file": str(plan.split_file.resolve()),
            "train": self.config.train.to_dict(),
            "params": params,
            "seed": fit_seed(plan.seed, trial.number),
            "objective": self.config.objective,
            "device": {**self.device, "threads": self.backend.trial_threads()},
            "progress": False,
            "report": None if self.config.pruner == "none" else {
                "study": study.study_name, "trial_id": trial._trial_id,  # noqa: SLF001
                "pruner": self.config.pruner, "n_startup_trials": self.config.n_startup_trials,
            },
        }
        spec_path = folder / "spec.json"
        write_json(spec_path, spec)
        env = {STORAGE_ENV: self.url} if spec["report"] else {}
        job = TrialJob(spec_path.resolve(), (folder / "log.txt").resolve(), env)
        fut = self.backend.submit(job)
        plan.running += 1
        self.running[fut] = _Running(plan, trial._trial_id, trial.number, folder,  # noqa: SLF001
                                     params, time.time())

    def _finish(self, fut: cf.Future) -> None:
        run = self.running.pop(fut)
        plan = run.plan
        plan.running -= 1
        try:
            code = fut.result()
        except Exception as exc:  # noqa: BLE001 - a backend error is a failed trial
            code = f"backend error: {exc}"
        state = record(plan, run.trial_id, run.number, run.folder)
        if self.config.keep_models == "best":
            prune_models(plan)
        result = read_result(run.folder) or {}
        best = _best_of(plan)
        self.bar.update(1 if state != "FAIL" else 0)
        hp = _format_params(run.params)
        obj = self.config.objective
        if state == "FAIL":
            plan.failures += 1
            self._say(f"{plan.mid} trial #{run.number} FAILED (exit {code}); log: "
                      f"{run.folder / 'log.txt'}")
            limit = self.config.max_failures or self.config.n_trials
            if plan.failures >= limit:
                raise RuntimeError(
                    f"member {plan.mid}: {plan.failures} trial(s) failed; last log: "
                    f"{run.folder / 'log.txt'}")
            return
        self._say(
            f"{plan.mid} trial #{run.number} ({finished(plan)}/{self.config.n_trials}) "
            f"{state.lower()}: {obj} {result.get('value', float('nan')):.4f} [{hp}] "
            f"{result.get('seconds', 0):.0f} s, peak {result.get('peak_rss_mb', 0):.0f} MB; "
            f"{best}"
        )

    def _show_running(self) -> None:
        if not self.progress or not self.running:
            return
        parts = []
        for run in self.running.values():
            try:
                prog = json.loads((run.folder / "progress.json").read_text())
                parts.append(f"{run.plan.mid}#{run.number} ep {prog['epoch']}/{prog['epochs']}")
            except (OSError, ValueError, KeyError):
                parts.append(f"{run.plan.mid}#{run.number} starting")
        self.bar.set_postfix_str(", ".join(parts))

    def _promote(self, plan: MemberPlan) -> None:
        entry = promote_member(plan, self.config, holdout=self.holdout)
        members = [m for m in self.manifest["members"] if m["id"] != plan.mid] + [entry]
        members.sort(key=lambda m: m["id"])
        self.manifest["members"] = members
        self.manifest["search"]["summary"] = suite_summary(members)
        write_manifest(self.out, self.manifest)
        s = entry["search"]
        self._say(
            f"{plan.mid} done: best trial #{s['best_trial']} {s['objective']} "
            f"{s['best_value']:.4f}; hold-out AUC {_fmt(entry['holdout']['auc'])}, "
            f"accuracy {_fmt(entry['holdout']['accuracy'])}"
        )


def _best_of(plan: MemberPlan) -> str:
    best = best_trial(plan)
    return f"best {best.value:.4f} (#{best.number})" if best is not None else ""


def _format_params(p: dict[str, Any]) -> str:
    opt = p["optimizer"]
    extra = (f"momentum {p['momentum']:.3f}" if opt == "sgd"
             else f"betas {p['beta_1']:.3f}/{p['beta_2']:.4f}")
    return (f"lr {p['learning_rate']:.2e}, {opt} {extra}, dropout {p['dropout']:.2f}, "
            f"dense {p['dense_units']}, epochs {p['epochs']}")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
