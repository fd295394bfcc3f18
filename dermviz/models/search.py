"""Hyperparameter search for a model suite: Optuna studies, one per member.

:func:`search_suite` builds (or resumes) a suite whose members are each the best
model of their own search, as in the paper (protocol §6): member ``m00`` searches
``n_trials`` hyperparameter sets on its own seeded split and keeps the best by the
objective on its validation split (never the hold-out). The result is an ordinary
suite folder that :class:`dermviz.models.suite.Suite` reads like a fixed-HP one::

    models/<suite>/
      suite.json             ... plus a "search" block (config, storage, summary)
      suite_config.yaml      the suite config file ([train] + [search]), reloadable
      search.db              Optuna storage (SQLite) unless --storage names another
      cache/images-<size>/   pool.npy, holdout.npy: decoded uint8 images, read per batch
      members/<id>/
        model.keras, member.json, history.json, holdout_predictions.csv  (best trial)
        trials.csv           one row per trial: state, value, hyperparameters, timings
        split.json           the member's split as rows of the image cache
        trials/<nnn>/        one folder per trial (see dermviz.models.trial)

Crash safety and resume
-----------------------
Every trial runs in a fresh process; its folder counts only once ``result.json``
is written (last, atomically), and a trial counts only once the driver has told
Optuna. On a restart the driver takes the suite's lock (one driver per suite
folder), and any trial still RUNNING in storage belongs to a dead driver: it is
recorded as COMPLETE if its ``result.json`` exists, otherwise as FAIL and asked
again. Completed and pruned trials count towards ``n_trials``; the remainder is
run. The best trial's model is promoted into the member folder with an atomic
rename and ``member.json`` is written last, so a half-written member never counts.

Reproducibility
---------------
Each member has its own seed (:meth:`SearchConfig.member_seeds`); its split, its
sampler (re-seeded from the member seed and the number of trials so far, so a
resumed search draws what an uninterrupted one would have) and each trial's weight
initialisation, data order and flips are derived from it. With one worker a search
is a pure function of its config (up to floating-point nondeterminism on GPUs).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import fcntl
import json
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.metrics import binary_metrics, choose_threshold
from dermviz.data.splits import MemberSplit, make_split
from dermviz.models.backends import LocalBackend, RayBackend, TrialJob
from dermviz.models.image_cache import build_cache
from dermviz.models.search_config import (
    REFERENCES,
    SearchConfig,
    SearchSpace,
    derived_seed,
    member_id,
)
from dermviz.models.trial import STORAGE_ENV

DB_FILE = "search.db"
CONFIG_FILE = "suite_config.yaml"
LOCK_FILE = ".search.lock"
SEARCHED = ("learning_rate", "dropout", "optimizer", "momentum", "beta_1", "beta_2",
            "dense_units", "epochs")


# --------------------------------------------------------------------------- optuna pieces


def open_storage(url: str) -> Any:
    """An Optuna RDB storage with generous lock timeouts (SQLite is shared by the
    driver and, with pruning, the trial processes)."""
    import optuna

    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 120}}
    else:
        kwargs = {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def default_storage_url(suite_dir: Path) -> str:
    return f"sqlite:///{(Path(suite_dir) / DB_FILE).resolve()}"


def display_storage(url: str, suite_dir: Path) -> str:
    """The storage as recorded in suite.json: relative for the default SQLite file,
    password hidden otherwise."""
    if url == default_storage_url(suite_dir):
        return f"sqlite:///<suite>/{DB_FILE}"
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a parseable URL; record nothing secret
        return "<unparseable storage URL>"


def gp_available() -> bool:
    """Optuna's GPSampler needs PyTorch: the ``search`` extra (``torch==2.13.0``, CPU build)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def make_sampler(kind: str, *, seed: int, n_startup_trials: int) -> tuple[Any, str]:
    """``(sampler, name actually used)``: GP (log expected improvement) or TPE.

    Without PyTorch the GP sampler is unavailable: TPE is used instead, with a
    warning, and the suite records ``"tpe (gp unavailable)"``.
    """
    import optuna

    if kind == "gp":
        if gp_available():
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False,
            ), "gp"
        warnings.warn(
            "the GP sampler needs PyTorch, which is not installed (the `search` extra: pip "
            "install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu); "
            "falling back to TPE", RuntimeWarning, stacklevel=2,
        )
        kind = "tpe (gp unavailable)"
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials), kind


def make_pruner(kind: str, n_startup_trials: int) -> Any:
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, n_startup_trials),
                                           n_warmup_steps=1)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


def suggest_params(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Draw every dimension of the paper's space (a static space, as the GP needs)."""
    s = space
    return {
        "learning_rate": trial.suggest_float("learning_rate", *s.learning_rate, log=True),
        "dropout": trial.suggest_float("dropout", *s.dropout),
        "optimizer": trial.suggest_categorical("optimizer", list(s.optimizers)),
        "momentum": trial.suggest_float("momentum", *s.momentum),
        "beta_1": trial.suggest_float("beta_1", *s.beta_1),
        "beta_2": trial.suggest_float("beta_2", *s.beta_2),
        "dense_units": trial.suggest_int("dense_units", *s.dense_units),
        "epochs": trial.suggest_int("epochs", *s.epochs),
    }


def study_name(suite_name: str, mid: str) -> str:
    return f"dermviz:{suite_name}:{mid}"


# --------------------------------------------------------------------------- the plan


@dataclass
class MemberPlan:
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
        return self.folder / "split.json"


@dataclass
class Running:
    plan: MemberPlan
    trial_id: int
    number: int
    folder: Path
    params: dict[str, Any]
    started: float


class SuiteLock:
    """An exclusive ``flock`` on the suite folder: one driver per suite at a time.
    The kernel drops it when the process dies, however it dies."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_FILE
        self._fh: Any = None

    def __enter__(self) -> SuiteLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a")  # noqa: SIM115 - held for the whole search
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise RuntimeError(f"another search is running on {self.path.parent} "
                               "(wait for it, or stop it first)") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


# --------------------------------------------------------------------------- driver


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
) -> Any:
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
        ``{"mixed_precision": "auto"|"on"|"off", "xla": "auto"|"on"|"off"}``.
    overwrite : bool
        Delete the suite (and its studies) first.
    progress : bool
        Progress bar and one line per finished trial and member.

    Returns
    -------
    Suite
    """
    from dermviz.models.suite import Suite

    out = Path(out_dir)
    name = name or out.name
    url = storage or default_storage_url(out)
    backend = backend if backend is not None else LocalBackend()
    device = {"mixed_precision": "auto", "xla": "auto", **(device or {})}
    with SuiteLock(out):
        if overwrite:
            _wipe(out, url, name, config)
        manifest = _start_manifest(out, name, dataset, config, display_storage(url, out))
        _write_config_file(out, config)
        size = config.train.image_size
        cache_dir = out / "cache" / f"images-{size}"
        pool = dataset.pool
        holdout = dataset.holdout
        splits = _member_splits(config, pool)
        used = {i for split in splits for f in (split.train, split.val) for i in f["image_id"]}
        cache_ids = [i for i in pool["image_id"].tolist() if i in used]  # pool order
        pool_cache = build_cache(dataset, cache_ids, cache_dir, "pool", size=size,
                                 progress=progress)
        holdout_cache = build_cache(dataset, holdout["image_id"].tolist(), cache_dir, "holdout",
                                    size=size, progress=progress)
        storage_obj = open_storage(url)
        plans = _plan_members(out, name, config, splits, cache_ids, storage_obj)
        sampler_used = make_sampler(config.sampler, seed=0, n_startup_trials=0)[1]
        manifest["search"].update({
            "sampler_used": sampler_used, "backend": backend.describe() if hasattr(
                backend, "describe") else {}, "device": device,
            "studies": {p.mid: study_name(name, p.mid) for p in plans},
        })
        for plan in plans:
            _recover(plan, config)
        driver = _Driver(out, name, config, plans, backend, url, device, holdout,
                         pool_cache, holdout_cache, manifest, progress)
        driver.run()
        manifest["search"]["summary"] = suite_summary(manifest["members"])
        manifest["status"] = "complete"
        manifest["finished"] = _now()
        _write_manifest(out, manifest)
    return Suite(out)


def _wipe(out: Path, url: str, name: str, config: SearchConfig) -> None:
    if url != default_storage_url(out):
        import optuna

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


def _comparable(search_block: dict[str, Any]) -> dict[str, Any]:
    """What must match for a resume: everything but n_trials (which may grow)."""
    return {k: v for k, v in search_block.items() if k not in ("n_trials", "max_failures")}


def _start_manifest(out: Path, name: str, dataset: Any, config: SearchConfig,
                    storage_display: str) -> dict[str, Any]:
    from dermviz.models.suite import MANIFEST
    from dermviz.store.atomic import read_json

    search_block = config.to_dict()["search"]
    if (out / MANIFEST).is_file():
        manifest = read_json(out / MANIFEST)
        old = manifest.get("search")
        if old is None:
            raise ValueError(f"a suite trained with fixed hyperparameters exists at {out}; "
                             "use another --name or --overwrite")
        if manifest["config"] != config.train.to_dict() or _comparable(
                old.get("config", {})) != _comparable(search_block):
            raise ValueError(f"a suite with a different config already exists at {out}; "
                             "use another --name or --overwrite (only n_trials may change)")
        if manifest.get("dataset", {}).get("source") != dataset.describe().get("source"):
            raise ValueError(f"the suite at {out} was searched on another data set")
        manifest["members"] = [
            m for m in manifest["members"] if (out / "members" / m["id"] / "member.json").is_file()
        ]
        manifest["search"]["config"] = search_block
        manifest["search"]["storage"] = storage_display
        manifest["status"] = "training"
        _write_manifest(out, manifest)
        return manifest
    manifest = {
        "name": name,
        "created": _now(),
        "status": "training",
        "dataset": dataset.describe(),
        "config": config.train.to_dict(),
        "members": [],
        "dermviz_version": _version(),
        "search": {
            "config": search_block, "storage": storage_display, "searched": list(SEARCHED),
            "references": REFERENCES,
        },
    }
    _write_manifest(out, manifest)
    return manifest


def _write_config_file(out: Path, config: SearchConfig) -> None:
    from dermviz.store.atomic import write_atomic

    text = ("# dermviz suite config: `dermviz search --config THIS_FILE` rebuilds the suite\n"
            + config.to_yaml()).encode()
    write_atomic(out / CONFIG_FILE, lambda fh: fh.write(text))


def _member_splits(config: SearchConfig, pool: pd.DataFrame) -> list[MemberSplit]:
    """Each member's split of the training pool, from its own seed."""
    train = config.train
    return [make_split(pool, recipe=train.recipe, seed=seed, val_fraction=train.val_fraction,
                       max_train=train.max_train, leak_twins=train.leak_twins)
            for seed in config.member_seeds()]


def _plan_members(out: Path, name: str, config: SearchConfig, splits: list[MemberSplit],
                  cache_ids: list[str], storage_obj: Any) -> list[MemberPlan]:
    """Write each member's split (as rows of the image cache) and open its study."""
    import optuna

    from dermviz.store.atomic import write_json

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    row_of = {image_id: k for k, image_id in enumerate(cache_ids)}

    def part(frame: pd.DataFrame) -> dict[str, list]:
        return {"ids": frame["image_id"].tolist(),
                "rows": [row_of[i] for i in frame["image_id"]],
                "y": frame["y"].astype(int).tolist(),
                "aug": [a if isinstance(a, str) else None for a in frame["aug"]]}

    plans = []
    for index, split in enumerate(splits):
        mid, seed = member_id(index), split.seed
        plan = MemberPlan(index, mid, seed, split, out / "members" / mid)
        plan.folder.mkdir(parents=True, exist_ok=True)
        write_json(plan.split_file, {
            "seed": seed, "summary": split.summary(), "train": part(split.train),
            "val": part(split.val), "random_flips": split.random_flips,
            "class_weight": ({str(k): v for k, v in split.class_weight.items()}
                             if split.class_weight else None),
        })
        sampler, _ = make_sampler(config.sampler, seed=seed,
                                  n_startup_trials=config.n_startup_trials)
        plan.study = optuna.create_study(
            study_name=study_name(name, mid), storage=storage_obj, direction="maximize",
            sampler=sampler, pruner=make_pruner(config.pruner, config.n_startup_trials),
            load_if_exists=True,
        )
        plan.study.set_user_attr("member", mid)
        plan.study.set_user_attr("seed", seed)
        plans.append(plan)
    return plans


def _finished(plan: MemberPlan) -> int:
    from optuna.trial import TrialState

    return len(plan.study.get_trials(deepcopy=False,
                                     states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _trial_folder(plan: MemberPlan, number: int) -> Path:
    return plan.folder / "trials" / f"{number:03d}"


def _read_result(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return None


_RESULT_ATTRS = ("seconds", "fit_seconds", "peak_rss_mb", "best_epoch", "epochs_run",
                 "diverged", "train_images_per_s", "seed")


def _record(plan: MemberPlan, trial_id: int, number: int, folder: Path) -> str:
    """Tell Optuna how a trial ended, from its folder; returns the state name."""
    from optuna.trial import TrialState

    study = plan.study
    result = _read_result(folder)
    status = result.get("status") if result else None
    storage = study._storage  # noqa: SLF001 - user attrs must be set before tell()
    if result:
        for key in _RESULT_ATTRS:
            if key in result:
                storage.set_trial_user_attr(trial_id, key, result[key])
        if status == "failed":
            storage.set_trial_user_attr(trial_id, "error", str(result.get("error", ""))[-2000:])
    if status == "complete" and (folder / "model.keras").is_file():
        study.tell(number, float(result["value"]), skip_if_finished=True)
        return "COMPLETE"
    if status == "pruned":
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        _drop_models(folder)
        return "PRUNED"
    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    _drop_models(folder)
    return "FAIL"


def _drop_models(folder: Path) -> None:
    (folder / "model.keras").unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp*"):
        tmp.unlink(missing_ok=True)


def _recover(plan: MemberPlan, config: SearchConfig) -> None:
    """Trials left RUNNING by a dead driver: keep finished results, fail the rest."""
    from optuna.trial import TrialState

    for t in plan.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        folder = _trial_folder(plan, t.number)
        _record(plan, t._trial_id, t.number, folder)  # noqa: SLF001
    if config.keep_models == "best":
        _prune_models(plan)


def _best_trial(plan: MemberPlan) -> Any | None:
    from optuna.trial import TrialState

    done = plan.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    return max(done, key=lambda t: (t.value, -t.number))


def _prune_models(plan: MemberPlan) -> None:
    """Keep only the best trial's model (88 MB each; a 30 x 25 search would need 66 GB)."""
    best = _best_trial(plan)
    trials_dir = plan.folder / "trials"
    if not trials_dir.is_dir():
        return
    keep = f"{best.number:03d}" if best is not None else None
    running = {f"{t.number:03d}" for t in plan.study.get_trials(deepcopy=False)
               if t.state.name == "RUNNING"}
    for sub in trials_dir.iterdir():
        if sub.name != keep and sub.name not in running:
            _drop_models(sub)


class _Driver:
    def __init__(self, out: Path, name: str, config: SearchConfig, plans: list[MemberPlan],
                 backend: Any, url: str, device: dict[str, Any], holdout: pd.DataFrame,
                 pool_cache: Path, holdout_cache: Path, manifest: dict[str, Any],
                 progress: bool) -> None:
        self.out, self.name, self.config, self.plans = out, name, config, plans
        self.backend, self.url, self.device = backend, url, device
        self.holdout, self.pool_cache, self.holdout_cache = holdout, pool_cache, holdout_cache
        self.manifest, self.progress = manifest, progress
        self.running: dict[cf.Future, Running] = {}
        self.bar: Any = None

    # -- bookkeeping -----------------------------------------------------------------

    def _needed(self, plan: MemberPlan) -> int:
        return max(0, self.config.n_trials - _finished(plan) - plan.running)

    def _member_done(self, plan: MemberPlan) -> bool:
        entry = next((m for m in self.manifest["members"] if m["id"] == plan.mid), None)
        if entry is None or not (plan.folder / "member.json").is_file():
            return False
        return entry.get("search", {}).get("n_finished") == _finished(plan)

    def _say(self, text: str) -> None:
        if self.progress:
            from tqdm.auto import tqdm

            tqdm.write(text)

    # -- main loop -------------------------------------------------------------------

    def run(self) -> None:
        from tqdm.auto import tqdm

        total = sum(self._needed(p) for p in self.plans)
        self.bar = tqdm(total=total, desc=f"search {self.name}", unit="trial",
                        disable=not self.progress)
        for plan in self.plans:
            n = _finished(plan)
            if n:
                self._say(f"{plan.mid}: {n}/{self.config.n_trials} trial(s) already done")
        self.backend.start()
        try:
            self._loop()
        except BaseException:
            self.backend.shutdown(kill=True)
            for fut, run in list(self.running.items()):
                try:
                    _record(run.plan, run.trial_id, run.number, run.folder)
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
        from dermviz.store.atomic import write_json

        study = plan.study
        n_so_far = len(study.get_trials(deepcopy=False))
        study.sampler, _ = make_sampler(
            self.config.sampler, seed=derived_seed(plan.seed, n_so_far),
            n_startup_trials=self.config.n_startup_trials,
        )
        trial = study.ask()
        params = suggest_params(trial, self.config.space)
        folder = _trial_folder(plan, trial.number)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        trial.set_user_attr("member", plan.mid)
        trial.set_user_attr("folder", str(folder.relative_to(self.out)))
        spec = {
            "trial_dir": str(folder.resolve()),
            "member": plan.mid,
            "number": trial.number,
            "pool_cache": str(self.pool_cache.resolve()),
            "holdout_cache": str(self.holdout_cache.resolve()),
            "split_file": str(plan.split_file.resolve()),
            "train": self.config.train.to_dict(),
            "params": params,
            "seed": derived_seed(plan.seed, trial.number, 1),
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
        self.running[fut] = Running(plan, trial._trial_id, trial.number, folder, params,  # noqa: SLF001
                                    time.time())

    def _finish(self, fut: cf.Future) -> None:
        run = self.running.pop(fut)
        plan = run.plan
        plan.running -= 1
        try:
            code = fut.result()
        except Exception as exc:  # noqa: BLE001 - a backend error is a failed trial
            code = f"backend error: {exc}"
        state = _record(plan, run.trial_id, run.number, run.folder)
        if self.config.keep_models == "best":
            _prune_models(plan)
        result = _read_result(run.folder) or {}
        best = _best_trial(plan)
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
        best_txt = f"best {best.value:.4f} (#{best.number})" if best is not None else ""
        self._say(
            f"{plan.mid} trial #{run.number} ({_finished(plan)}/{self.config.n_trials}) "
            f"{state.lower()}: {obj} {result.get('value', float('nan')):.4f} [{hp}] "
            f"{result.get('seconds', 0):.0f} s, peak {result.get('peak_rss_mb', 0):.0f} MB; "
            f"{best_txt}"
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

    # -- promotion -------------------------------------------------------------------

    def _promote(self, plan: MemberPlan) -> None:
        entry = promote_member(
            plan, self.config, holdout=self.holdout, out=self.out,
        )
        members = [m for m in self.manifest["members"] if m["id"] != plan.mid] + [entry]
        members.sort(key=lambda m: m["id"])
        self.manifest["members"] = members
        self.manifest["search"]["summary"] = suite_summary(members)
        _write_manifest(self.out, self.manifest)
        s = entry["search"]
        self._say(
            f"{plan.mid} done: best trial #{s['best_trial']} {s['objective']} "
            f"{s['best_value']:.4f}; hold-out AUC {_fmt(entry['holdout']['auc'])}, "
            f"accuracy {_fmt(entry['holdout']['accuracy'])}"
        )


def promote_member(plan: MemberPlan, config: SearchConfig, *, holdout: pd.DataFrame,
                   out: Path) -> dict[str, Any]:
    """Make the member's best trial its model: atomic copy, files, member.json last."""
    from dermviz.store.atomic import atomic_path, write_json

    best = _best_trial(plan)
    if best is None:
        raise RuntimeError(f"member {plan.mid}: no trial completed")
    folder = _trial_folder(plan, best.number)
    result = _read_result(folder)
    if result is None or not (folder / "model.keras").is_file():
        raise RuntimeError(f"member {plan.mid}: the files of its best trial #{best.number} "
                           f"are missing from {folder}")
    if result.get("diverged"):
        raise RuntimeError(f"member {plan.mid}: every completed trial diverged")
    member = plan.folder
    (member / "member.json").unlink(missing_ok=True)  # incomplete until rewritten
    with atomic_path(member / "model.keras", suffix=".keras") as tmp:
        shutil.copyfile(folder / "model.keras", tmp)
    with atomic_path(member / "history.json") as tmp:
        shutil.copyfile(folder / "history.json", tmp)
    p_val = np.load(folder / "val_predictions.npy")
    p_test = np.load(folder / "holdout_predictions.npy")
    split = json.loads(plan.split_file.read_text())
    val_y = np.asarray(split["val"]["y"], dtype=int)
    threshold = choose_threshold(val_y, p_val)
    y_test = holdout["y"].to_numpy()
    preds = pd.DataFrame({
        "image_id": holdout["image_id"].to_numpy(),
        "test_index": holdout["test_index"].to_numpy(),
        "y": y_test,
        "p_melanoma": p_test,
        "predicted": (p_test >= threshold).astype(int),
    })
    with atomic_path(member / "holdout_predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    table = trials_table(plan.study)
    with atomic_path(member / "trials.csv") as tmp:
        table.to_csv(tmp, index=False)
    states = table["state"].value_counts().to_dict() if len(table) else {}
    params = {k: result["params"][k] for k in SEARCHED}
    effective = config.train.replace(
        learning_rate=params["learning_rate"], dropout=params["dropout"],
        optimizer=params["optimizer"], momentum=params["momentum"],
        dense_units=params["dense_units"], epochs=params["epochs"],
    )
    val_metrics = binary_metrics(val_y, p_val, threshold=threshold)
    entry = {
        "id": plan.mid,
        "seed": plan.seed,
        "threshold": threshold,
        "val_auc": val_metrics["auc"],
        "best_epoch": result["best_epoch"],
        "split": plan.split.summary(),
        "holdout": binary_metrics(y_test, p_test, threshold=threshold),
        "holdout_at_0.5": binary_metrics(y_test, p_test, threshold=0.5),
        "trained": _now(),
        "search": {
            "study": plan.study.study_name,
            "best_trial": best.number,
            "best_value": float(best.value),
            "objective": config.objective,
            "hyperparameters": params,
            "trial_seed": result.get("seed"),
            "n_finished": _finished(plan),
            "n_complete": int(states.get("COMPLETE", 0)),
            "n_pruned": int(states.get("PRUNED", 0)),
            "n_failed": int(states.get("FAIL", 0)),
        },
    }
    write_json(member / "member.json", {**entry, "config": effective.to_dict()})
    return entry


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


# --------------------------------------------------------------------------- evaluation


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


# --------------------------------------------------------------------------- helpers


def _format_params(p: dict[str, Any]) -> str:
    opt = p["optimizer"]
    extra = (f"momentum {p['momentum']:.3f}" if opt == "sgd"
             else f"betas {p['beta_1']:.3f}/{p['beta_2']:.4f}")
    return (f"lr {p['learning_rate']:.2e}, {opt} {extra}, dropout {p['dropout']:.2f}, "
            f"dense {p['dense_units']}, epochs {p['epochs']}")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    from dermviz.models.suite import write_manifest

    write_manifest(out, manifest)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version() -> str:
    from dermviz import __version__

    return __version__

