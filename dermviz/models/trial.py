"""One search trial, in its own process: ``python -m dermviz.models.trial SPEC.json``.

A trial trains one (member, hyperparameter set) on the member's split, streaming
``uint8`` images from the suite's decoded cache (:mod:`dermviz.models.image_cache`)
through ``tf.data``, and writes into its folder::

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
(Keras' streaming AUC picks the epoch) and reports the exact AUC of that model on
the validation split; ``val_accuracy`` is the paper's: accuracy at 0.5 after the
last epoch, no restoring. A trial whose predictions are not finite (diverged) is
reported with objective 0.

Device: on a GPU, memory growth is switched on, mixed precision (float16 compute,
float32 output and saved weights) and XLA are used by default (``auto``); the saved
model is always a plain float32 model.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.models.image_cache import ImageCache, iter_batches
from dermviz.models.search_config import BETA_CAP, derived_seed

#: The environment variable through which the storage URL reaches a trial (it may
#: hold credentials, so it is never written into the spec file).
STORAGE_ENV = "DERMVIZ_SEARCH_STORAGE"


# --------------------------------------------------------------------------- data


def make_train_dataset(
    cache: ImageCache, rows: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int,
    weights: np.ndarray | None = None, augs: list | None = None, flips: bool = False,
) -> Any:
    """A ``tf.data`` pipeline of ``(float32 images, y, sample weight)`` batches.

    Each epoch draws a new order (and flips) from ``seed`` and the epoch number;
    images are read from ``cache`` batch by batch and converted to float32 in the
    pipeline, so neither the uint8 nor the float split is ever held in memory.
    """
    import tensorflow as tf

    from dermviz.models.training import _to_float

    size = cache.shape[1:]
    n_batches = -(-len(rows) // batch_size)
    epochs = itertools.count()

    def gen() -> Any:
        epoch = next(epochs)
        yield from iter_batches(
            cache, rows, y, batch_size=batch_size, weights=weights, augs=augs,
            shuffle_seed=derived_seed(seed, epoch), flips=flips,
        )

    signature = (
        tf.TensorSpec((None, *size), tf.uint8),
        tf.TensorSpec((None,), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.map(_to_float).prefetch(tf.data.AUTOTUNE)


def make_eval_dataset(
    cache: ImageCache, rows: np.ndarray, y: np.ndarray, *, batch_size: int,
    augs: list | None = None,
) -> Any:
    """``(float32 images, y)`` batches in order, for Keras' validation."""
    import tensorflow as tf

    size = cache.shape[1:]
    n_batches = -(-len(rows) // batch_size)

    def gen() -> Any:
        for x, yb, _ in iter_batches(cache, rows, y, batch_size=batch_size, augs=augs):
            yield x, yb

    signature = (tf.TensorSpec((None, *size), tf.uint8), tf.TensorSpec((None,), tf.float32))
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(tf.data.AUTOTUNE)


def predict_rows(
    model: Any, cache: ImageCache, rows: np.ndarray, *, batch_size: int,
    augs: list | None = None, eager: bool = False,
) -> np.ndarray:
    """p(melanoma) for cache rows, batch by batch (augmentations applied).

    ``eager`` skips tracing a ``tf.function`` (seconds), for tiny runs."""
    from dermviz.models.predict import forward_fn

    fn = (lambda x: model(x, training=False)) if eager else forward_fn(model)
    out = np.empty(len(rows), dtype=np.float32)
    dummy = np.zeros(len(rows), np.float32)
    pos = 0
    for x, _, _ in iter_batches(cache, rows, dummy, batch_size=batch_size, augs=augs):
        p = np.asarray(fn(x.astype(np.float32)), dtype=np.float32)[:, 0]
        out[pos : pos + len(p)] = p
        pos += len(p)
    return out


# --------------------------------------------------------------------------- model


def make_optimizer(params: dict[str, Any]) -> Any:
    """Adam(lr, beta_1, beta_2) or SGD(lr, momentum), as in the paper (protocol §5)."""
    import keras

    lr = float(params["learning_rate"])
    if params["optimizer"] == "adam":
        return keras.optimizers.Adam(
            learning_rate=lr, beta_1=min(float(params["beta_1"]), BETA_CAP),
            beta_2=min(float(params["beta_2"]), BETA_CAP),
        )
    return keras.optimizers.SGD(learning_rate=lr, momentum=float(params["momentum"]))


def configure_device(device: dict[str, Any]) -> dict[str, Any]:
    """Memory growth on every GPU, threads, mixed precision; returns what was set."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised
            pass
    threads = device.get("threads")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
    mixed = device.get("mixed_precision", "auto")
    use_mixed = mixed == "on" or (mixed == "auto" and bool(gpus))
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    xla = device.get("xla", "auto")
    jit: Any = {"on": True, "off": False}.get(xla, "auto")  # Keras' auto: XLA on GPUs only
    return {
        "gpus": [g.name for g in gpus], "mixed_precision": use_mixed, "jit_compile": jit,
        "threads": threads,
    }


def build_trial_model(train: dict[str, Any], params: dict[str, Any], *, seed: int | None,
                      mixed: bool) -> tuple[Any, Any]:
    """``(model, train_model)``: the InceptionV3 member and what is fitted (the same
    model, or under mixed precision the model with a float32 output cast)."""
    import keras

    from dermviz.models.inception import build_inception

    model = build_inception(
        int(train["image_size"]), weights=train["weights"],
        dense_units=int(params["dense_units"]), dropout=float(params["dropout"]),
        bn_momentum=train["bn_momentum"], seed=seed,
    )
    if not mixed:
        return model, model
    out = keras.layers.Activation("linear", dtype="float32", name="pred_float32")(model.output)
    return model, keras.Model(model.input, out, name="dermviz_inception_v3_mixed")


def export_float32(model: Any, train: dict[str, Any], params: dict[str, Any]) -> Any:
    """An uncompiled float32 twin with ``model``'s weights: what is saved (no
    optimizer state, no mixed-precision policies)."""
    import keras

    from dermviz.models.inception import build_inception

    keras.mixed_precision.set_global_policy("float32")
    twin = build_inception(
        int(train["image_size"]), weights=None, dense_units=int(params["dense_units"]),
        dropout=float(params["dropout"]), bn_momentum=train["bn_momentum"],
    )
    twin.set_weights(model.get_weights())
    return twin


def _callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class _TrialMonitor(_callback_base()):  # type: ignore[misc]
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
        from dermviz.store.atomic import write_json

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


# --------------------------------------------------------------------------- the trial


def run_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """Train, evaluate and save one trial; return (and write) its result."""
    t_start = time.time()
    folder = Path(spec["trial_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    train = spec["train"]
    params = spec["params"]
    seed = int(spec["seed"])

    import keras

    from dermviz.models.training import _BestEpoch, _EpochBar
    from dermviz.store.atomic import atomic_path, write_json

    device = configure_device(spec.get("device") or {})
    keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow: a fresh process

    split = json.loads(Path(spec["split_file"]).read_text())
    pool = ImageCache(spec["pool_cache"])
    holdout = ImageCache(spec["holdout_cache"])
    tr, va = split["train"], split["val"]
    tr_rows, va_rows = np.asarray(tr["rows"]), np.asarray(va["rows"])
    tr_y, va_y = np.asarray(tr["y"], np.float32), np.asarray(va["y"], np.float32)
    tr_aug = tr["aug"] if any(tr["aug"]) else None
    va_aug = va["aug"] if any(va["aug"]) else None
    cw = split.get("class_weight") or {"0": 1.0, "1": 1.0}
    w_train = np.where(tr_y == 1, float(cw["1"]), float(cw["0"])).astype(np.float32)
    batch = int(train["batch_size"])
    epochs = int(params["epochs"])

    t_build = time.time()
    model, train_model = build_trial_model(
        train, params, seed=seed, mixed=device["mixed_precision"]
    )
    train_model.compile(
        optimizer=make_optimizer(params), loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        run_eagerly=bool(train.get("run_eagerly", False)), jit_compile=device["jit_compile"],
    )
    train_ds = make_train_dataset(
        pool, tr_rows, tr_y, batch_size=batch, seed=seed, weights=w_train, augs=tr_aug,
        flips=bool(split.get("random_flips")),
    )
    val_ds = make_eval_dataset(pool, va_rows, va_y, batch_size=batch, augs=va_aug)

    reporter = _reporter(spec)
    best = _BestEpoch()
    monitor = _TrialMonitor(folder, epochs, spec["objective"], reporter)
    callbacks = [best, monitor, keras.callbacks.TerminateOnNaN()]
    bar = None
    if spec.get("progress"):
        bar = _EpochBar(epochs, -(-len(tr_rows) // batch), f"{spec['member']} #{spec['number']}")
        callbacks.append(bar)
    t_fit = time.time()
    history = train_model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0,
                              callbacks=callbacks, shuffle=False)  # the pipeline shuffles
    fit_seconds = time.time() - t_fit
    if bar is not None:
        bar.close()
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    kept_epoch = len(monitor.train_seconds) - 1  # the paper's: the last epoch
    if spec["objective"] == "val_auc":
        best.restore(model)
        kept_epoch = best.best_epoch

    t_export = time.time()
    twin = export_float32(model, train, params)
    t_predict = time.time()
    eager = bool(train.get("run_eagerly", False))
    p_val = predict_rows(twin, pool, va_rows, batch_size=batch, augs=va_aug, eager=eager)
    p_test = predict_rows(twin, holdout, np.arange(len(holdout)), batch_size=batch, eager=eager)
    t_save = time.time()
    diverged = not (np.isfinite(p_val).all() and np.isfinite(p_test).all())
    value = 0.0 if diverged else _objective(spec["objective"], va_y, p_val)

    write_json(folder / "history.json", hist)
    _save_npy(folder / "val_predictions.npy", p_val)
    _save_npy(folder / "holdout_predictions.npy", p_test)
    with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        twin.save(tmp)

    steps = monitor.train_seconds[1:] or monitor.train_seconds  # epoch 1 builds the graph
    n_train = len(tr_rows)
    result = {
        "status": "pruned" if monitor.pruned else "complete",
        "value": float(value),
        "objective": spec["objective"],
        "diverged": bool(diverged),
        "member": spec["member"],
        "number": spec["number"],
        "params": params,
        "seed": seed,
        "best_epoch": int(kept_epoch),
        "epochs_run": len(monitor.train_seconds),
        "n_train": n_train,
        "n_val": len(va_rows),
        "fit_seconds": round(fit_seconds, 3),
        "phase_seconds": {
            "start": round(t_build - t_start, 2), "build": round(t_fit - t_build, 2),
            "fit": round(fit_seconds, 2), "export": round(t_predict - t_export, 2),
            "predict": round(t_save - t_predict, 2), "save": round(time.time() - t_save, 2),
        },
        "seconds": round(time.time() - t_start, 3),
        "train_images_per_s": round(n_train * len(steps) / sum(steps), 3) if sum(steps) else None,
        "peak_rss_mb": peak_rss_mb(),
        "device": device,
        "pid": os.getpid(),
    }
    write_json(folder / "result.json", result)
    return result


def _objective(objective: str, y: np.ndarray, p: np.ndarray) -> float:
    if objective == "val_accuracy":
        return float(np.mean((p >= 0.5) == (y == 1)))
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return 0.5
    return float(roc_auc_score(y, p))


def _save_npy(path: Path, array: np.ndarray) -> None:
    from dermviz.store.atomic import atomic_path

    with atomic_path(path, suffix=".npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def _reporter(spec: dict[str, Any]) -> Any:
    """An Optuna trial handle in this process, for pruning (None without a pruner)."""
    report = spec.get("report")
    url = os.environ.get(STORAGE_ENV)
    if not report or not url:
        return None
    import optuna

    from dermviz.models.search import make_pruner, open_storage

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
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: get SIGKILLed when the process that started us dies, so that a killed
    search leaves no orphaned trial writing into the suite."""
    if not parent_pid or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m dermviz.models.trial SPEC.json", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    parent = os.environ.get("DERMVIZ_TRIAL_PARENT")
    _die_with_parent(int(parent) if parent else None)
    try:
        run_trial(spec)
    except Exception:
        from dermviz.store.atomic import write_json

        error = traceback.format_exc()
        print(error, file=sys.stderr)
        write_json(Path(spec["trial_dir"]) / "result.json", {
            "status": "failed", "error": error[-4000:], "peak_rss_mb": peak_rss_mb(),
        })
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
