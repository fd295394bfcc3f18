"""One search trial, in its own process: ``python -m dermviz.models.search.trial SPEC.json``.

A trial fits one (member, hyperparameter set) with :func:`dermviz.models.fit.fit_member`
(the code ``dermviz train`` uses) and writes into its folder::

    progress.json               latest epoch and metrics (for the progress display)
    history.json                per-epoch Keras history
    val_predictions.npy         p(melanoma) on the member's validation split
    holdout_predictions.npy     p(melanoma) on the hold-out (never used for selection)
    model.keras                 the trained model, float32, without optimizer state
    result.json                 written last: status, objective value, timings, peak RSS

Only a folder with ``result.json`` counts; every file is written atomically, so a
trial killed at any moment leaves nothing that could be mistaken for a result.
Running in a fresh process is what keeps a search's memory flat: nothing a trial
allocates (graphs, models, TensorFlow's caches) survives it.

Objective: ``val_auc`` (default) restores the epoch with the best validation AUC
and reports the exact AUC of that model on the validation split; ``val_accuracy``
is the paper's: accuracy at 0.5 after the last epoch, no restoring. A trial whose
predictions are not finite (diverged) is reported with objective 0.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.metrics import roc_auc_score

from dermviz.models.config import TrainConfig
from dermviz.models.fit import SplitRows, fit_member
from dermviz.models.image_cache import ImageCache
from dermviz.models.search.sampling import make_pruner
from dermviz.models.search.storage import STORAGE_ENV, open_storage
from dermviz.store import write_json
from dermviz.store.atomic import atomic_path


class _TrialMonitor(keras.callbacks.Callback):
    """Per-epoch bookkeeping: training time (validation excluded), a progress file
    for the search driver, and optional reporting to Optuna for pruning."""

    def __init__(self, folder: Path, epochs: int, objective: str, reporter: Any = None) -> None:
        super().__init__()
        self.folder = folder
        self.epochs = epochs
        self.key = "val_auc" if objective == "val_auc" else "val_accuracy"
        self.reporter = reporter
        self.train_seconds: list[float] = []
        self.pruned = False
        self._t0 = 0.0
        self._timed = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._t0 = time.perf_counter()
        self._timed = False

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._timed:
            self.train_seconds.append(time.perf_counter() - self._t0)
            self._timed = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not self._timed:
            self.train_seconds.append(time.perf_counter() - self._t0)
            self._timed = True
        logs = {k: float(v) for k, v in (logs or {}).items()}
        write_json(self.folder / "progress.json", {
            "epoch": epoch + 1, "epochs": self.epochs, "logs": logs,
            "train_seconds": self.train_seconds[-1],
        })
        if self.reporter is not None:
            value = logs.get(self.key)
            if value is not None and np.isfinite(value):
                self.reporter.report(value, epoch)
                if self.reporter.should_prune():
                    self.pruned = True
                    self.model.stop_training = True


def run_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit, evaluate and save one trial; return (and write) its result."""
    t_start = time.time()
    folder = Path(spec["trial_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    params = spec["params"]
    config = TrainConfig.from_dict(spec["train"]).replace(**params)
    seed = int(spec["seed"])
    split = SplitRows.from_record(json.loads(Path(spec["split_file"]).read_text()))
    pool = ImageCache(spec["pool_cache"])
    holdout = ImageCache(spec["holdout_cache"])
    pool_masks = ImageCache(spec["pool_masks"]) if spec.get("pool_masks") else None
    monitor = _TrialMonitor(folder, config.epochs, spec["objective"], _reporter(spec))
    label = f"{spec['member']} #{spec['number']}" if spec.get("progress") else None
    fit = fit_member(
        config, split, pool, holdout, seed=seed, restore_best=spec["objective"] == "val_auc",
        device=spec.get("device"), callbacks=[monitor], progress=label, pool_masks=pool_masks,
    )
    t_save = time.time()
    value = 0.0 if fit.diverged else _objective(spec["objective"], split.val_y, fit.p_val)
    write_json(folder / "history.json", fit.history)
    _save_npy(folder / "val_predictions.npy", fit.p_val)
    _save_npy(folder / "holdout_predictions.npy", fit.p_test)
    with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        fit.model.save(tmp)

    steps = monitor.train_seconds[1:] or monitor.train_seconds  # epoch 1 builds the graph
    n_train = len(split.train_rows)
    result = {
        "status": "pruned" if monitor.pruned else "complete",
        "value": float(value),
        "objective": spec["objective"],
        "diverged": bool(fit.diverged),
        "member": spec["member"],
        "number": spec["number"],
        "params": params,
        "seed": seed,
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "steps_per_epoch": fit.steps_per_epoch,
        "n_train": n_train,
        "n_val": len(split.val_rows),
        "fit_seconds": fit.seconds["fit"],
        "phase_seconds": {**fit.seconds, "save": round(time.time() - t_save, 2)},
        "seconds": round(time.time() - t_start, 3),
        "train_images_per_s": round(n_train * len(steps) / sum(steps), 3) if sum(steps) else None,
        "peak_rss_mb": peak_rss_mb(),
        "device": fit.device,
        "policy": fit.policy,
        "pid": os.getpid(),
    }
    write_json(folder / "result.json", result)
    return result


def _objective(objective: str, y: np.ndarray, p: np.ndarray) -> float:
    if objective == "val_accuracy":
        return float(np.mean((p >= 0.5) == (y == 1)))
    if len(np.unique(y)) < 2:
        return 0.5
    return float(roc_auc_score(y, p))


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def _reporter(spec: dict[str, Any]) -> Any:
    """An Optuna trial handle in this process, for pruning (None without a pruner)."""
    report = spec.get("report")
    url = os.environ.get(STORAGE_ENV)
    if not report or not url:
        return None
    import optuna  # imported on use: only pruned searches report from the trial

    study = optuna.load_study(
        study_name=report["study"], storage=open_storage(url),
        pruner=make_pruner(report["pruner"], report["n_startup_trials"]),
    )
    return optuna.trial.Trial(study, int(report["trial_id"]))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: get SIGKILLed when the process that started us dies, so that a killed
    search leaves no orphaned trial writing into the suite."""
    if not parent_pid or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dermviz.models.search.trial SPEC.json", file=sys.stderr)
        return 2
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    parent = os.environ.get("DERMVIZ_TRIAL_PARENT")
    _die_with_parent(int(parent) if parent else None)
    try:
        run_trial(spec)
    except Exception:
        error = traceback.format_exc()
        print(error, file=sys.stderr)
        write_json(Path(spec["trial_dir"]) / "result.json", {
            "status": "failed", "error": error[-4000:], "peak_rss_mb": peak_rss_mb(),
        })
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
