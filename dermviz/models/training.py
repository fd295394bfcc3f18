"""Training a suite: N members, each on its own seeded split of the training pool.

Each member is trained with fixed hyperparameters (:class:`TrainConfig`), the
epoch with the best validation AUC is kept, the operating threshold is chosen on
validation data, and the member is saved with its history and hold-out
predictions. Members are saved one by one (atomically), so an interrupted run
resumes where it stopped: completed members are never retrained.

For speed with fixed hyperparameters, one compiled model is reused across
members: each member starts from freshly seeded initial weights and a reset
optimizer, which avoids paying the ~20 s graph build per member.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dermviz.analysis.metrics import binary_metrics, choose_threshold
from dermviz.data.dataset import Dataset
from dermviz.data.splits import MemberSplit, apply_augmentation, make_split
from dermviz.models.config import TrainConfig
from dermviz.models.inception import build_inception
from dermviz.models.predict import predict_proba
from dermviz.models.suite import MANIFEST, Suite, write_manifest
from dermviz.store import read_json, write_json
from dermviz.store.atomic import atomic_path


def member_seed(suite_seed: int, index: int) -> int:
    """A distinct, reproducible seed per member (the paper reused seeds, §14.5)."""
    return int(np.random.SeedSequence([suite_seed, index]).generate_state(1)[0] % (2**31 - 1))


def member_id(index: int) -> str:
    return f"m{index:02d}"


def load_split_images(
    dataset: Dataset, frame: pd.DataFrame, *, size: int, batch_size: int = 64
) -> np.ndarray:
    """``uint8`` images for a split frame, paper-style augmentations applied."""
    out = np.empty((len(frame), size, size, 3), dtype=np.uint8)
    ids = frame["image_id"].tolist()
    augs = frame["aug"].tolist()
    for start in range(0, len(ids), batch_size):
        chunk = dataset.load_images(ids[start : start + batch_size], size=size)
        for k, img in enumerate(chunk):
            out[start + k] = apply_augmentation(img, augs[start + k])
    return out


class MemberTrainer:
    """Trains members that share hyperparameters with one compiled Keras model."""

    def __init__(self, config: TrainConfig) -> None:
        import keras

        self.config = config
        self.model = build_inception(
            config.image_size, weights=config.weights, dense_units=config.dense_units,
            dropout=config.dropout, bn_momentum=config.bn_momentum, seed=config.seed,
        )
        if config.optimizer == "adam":
            optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        else:
            optimizer = keras.optimizers.SGD(
                learning_rate=config.learning_rate, momentum=config.momentum
            )
        self.model.compile(
            optimizer=optimizer,
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc")],
            run_eagerly=config.run_eagerly,
        )
        optimizer.build(self.model.trainable_variables)
        self._optimizer_initial = [v.numpy() for v in optimizer.variables]
        self._export: Any = None

    def reset(self, seed: int) -> None:
        """Fresh seeded initial weights and optimizer state, same compiled graph."""
        fresh = build_inception(
            self.config.image_size, weights=self.config.weights,
            dense_units=self.config.dense_units, dropout=self.config.dropout,
            bn_momentum=self.config.bn_momentum, seed=seed,
        )
        self.model.set_weights(fresh.get_weights())
        del fresh
        for var, value in zip(self.model.optimizer.variables, self._optimizer_initial, strict=True):
            var.assign(value)

    def export_model(self) -> Any:
        """The trained weights in an uncompiled twin: saved without optimizer state
        (88 MB instead of 266 MB per member). The twin is built once and reused."""
        import keras

        if self._export is None:
            # From the config, not clone_model: a clone is compiled like its source
            # and would save the optimizer too.
            self._export = keras.Model.from_config(self.model.get_config())
        self._export.set_weights(self.model.get_weights())
        return self._export

    def fit(
        self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        split: MemberSplit, *, desc: str = "",
    ) -> tuple[dict[str, list[float]], int]:
        """Train, then restore the epoch with the best validation AUC.

        Returns the per-epoch history and the (0-based) epoch kept.
        """
        import tensorflow as tf

        cfg = self.config
        seed = split.seed
        # Class weights travel as per-sample weights (always present, 1 when
        # unweighted): the input signature never changes between members, so the
        # compiled train step is reused instead of retraced.
        cw = split.class_weight or {0: 1.0, 1: 1.0}
        w_train = np.where(y_train == 1, cw[1], cw[0]).astype("float32")
        train = tf.data.Dataset.from_tensor_slices((x_train, y_train.astype("float32"), w_train))
        train = train.shuffle(len(x_train), seed=seed, reshuffle_each_iteration=True)
        if split.random_flips:
            # Stateless flips driven by a seeded stream: no stateful generator is
            # captured, so the pipeline's signature matches across members.
            noise = tf.data.Dataset.random(seed=seed).batch(2)
            train = tf.data.Dataset.zip((train, noise)).map(_random_flip)
        train = train.batch(cfg.batch_size).map(_to_float).prefetch(tf.data.AUTOTUNE)
        val = tf.data.Dataset.from_tensor_slices((x_val, y_val.astype("float32")))
        val = val.batch(cfg.batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))

        best = _BestEpoch()
        bar = _EpochBar(cfg.epochs, -(-len(x_train) // cfg.batch_size), desc)
        history = self.model.fit(
            train, validation_data=val, epochs=cfg.epochs, verbose=0,
            callbacks=[best, bar],
        )
        bar.close()
        best.restore(self.model)
        hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        return hist, best.best_epoch


def _random_flip(item: Any, noise: Any) -> Any:
    """Flip one image left-right and/or up-down, as decided by two seeded numbers."""
    import tensorflow as tf

    x, y, w = item
    x = tf.cond(noise[0] % 2 == 0, lambda: tf.reverse(x, axis=[1]), lambda: x)
    x = tf.cond(noise[1] % 2 == 0, lambda: tf.reverse(x, axis=[0]), lambda: x)
    return x, y, w


def _to_float(x: Any, y: Any, w: Any) -> Any:
    import tensorflow as tf

    return tf.cast(x, tf.float32), y, w


def _keras_callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class _BestEpoch(_keras_callback_base()):  # type: ignore[misc]
    """Keep the weights of the epoch with the best validation AUC."""

    def __init__(self) -> None:
        super().__init__()
        self.best_auc = -np.inf
        self.best_epoch = -1
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        auc = float((logs or {}).get("val_auc", np.nan))
        if self.best_weights is None or (np.isfinite(auc) and auc > self.best_auc):
            self.best_auc = auc if np.isfinite(auc) else self.best_auc
            self.best_epoch = epoch
            self.best_weights = self.model.get_weights()

    def restore(self, model: Any) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)


class _EpochBar(_keras_callback_base()):  # type: ignore[misc]
    """A tqdm bar over all training steps of a member, with the latest metrics."""

    def __init__(self, epochs: int, steps_per_epoch: int, desc: str) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs * steps_per_epoch, desc=desc, unit="step", leave=False)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.bar.set_postfix(
            epoch=epoch + 1, loss=f"{logs.get('loss', float('nan')):.3f}",
            val_auc=f"{logs.get('val_auc', float('nan')):.3f}",
        )

    def close(self) -> None:
        self.bar.close()


def train_suite(
    dataset: Dataset,
    config: TrainConfig,
    *,
    out_dir: str | Path,
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Suite:
    """Train (or resume) a suite and write it to ``out_dir``.

    Parameters
    ----------
    dataset : Dataset
        Hold-out rows are only ever predicted, never trained or selected on.
    config : TrainConfig
    out_dir : path
        The suite folder (``models/<name>``).
    name : str, optional
        Suite name; defaults to the folder name.
    overwrite : bool
        Delete an existing suite first. Otherwise a suite with the same config
        resumes, and one with a different config is refused.
    progress : bool
        Show progress bars.
    """
    out = Path(out_dir)
    name = name or out.name
    if overwrite and out.exists():
        shutil.rmtree(out)
    manifest = _start_manifest(out, name, dataset, config)

    holdout = dataset.holdout
    x_test = dataset.load_images(holdout["image_id"].tolist(), size=config.image_size)
    done = {m["id"] for m in manifest["members"]}
    trainer: MemberTrainer | None = None
    bar = tqdm(range(config.n_members), desc=f"suite {name}", unit="member", disable=not progress)
    for index in bar:
        mid = member_id(index)
        if mid in done:
            continue
        seed = member_seed(config.seed, index)
        split = make_split(
            dataset.pool, recipe=config.recipe, seed=seed, val_fraction=config.val_fraction,
            max_train=config.max_train, leak_twins=config.leak_twins,
        )
        x_train = load_split_images(dataset, split.train, size=config.image_size)
        x_val = load_split_images(dataset, split.val, size=config.image_size)
        if trainer is None:
            trainer = MemberTrainer(config)
        trainer.reset(seed)
        history, best_epoch = trainer.fit(
            x_train, split.train["y"].to_numpy(), x_val, split.val["y"].to_numpy(), split,
            desc=f"{mid} (seed {seed})",
        )
        p_val = predict_proba(trainer.model, x_val, batch_size=config.batch_size)
        threshold = choose_threshold(split.val["y"].to_numpy(), p_val)
        p_test = predict_proba(trainer.model, x_test, batch_size=config.batch_size)
        entry = _save_member(
            out / "members" / mid, trainer.export_model(), mid=mid, seed=seed, split=split,
            history=history, best_epoch=best_epoch, threshold=threshold,
            val_y=split.val["y"].to_numpy(), p_val=p_val, holdout=holdout, p_test=p_test,
            config=config,
        )
        manifest["members"].append(entry)
        write_manifest(out, manifest)
        bar.set_postfix(auc=f"{entry['holdout']['auc']:.3f}")
    manifest["status"] = "complete"
    manifest["finished"] = _now()
    write_manifest(out, manifest)
    return Suite(out)


def _start_manifest(
    out: Path, name: str, dataset: Dataset, config: TrainConfig
) -> dict[str, Any]:
    if (out / MANIFEST).is_file():
        manifest = read_json(out / MANIFEST)
        if manifest["config"] != config.to_dict():
            raise ValueError(
                f"a suite with a different config already exists at {out}; "
                "use another --name or --overwrite"
            )
        # Members whose files are gone are dropped, and retrained.
        manifest["members"] = [
            m for m in manifest["members"] if (out / "members" / m["id"] / "member.json").is_file()
        ]
        manifest["status"] = "training"
        return manifest
    manifest = {
        "name": name,
        "created": _now(),
        "status": "training",
        "dataset": dataset.describe(),
        "config": config.to_dict(),
        "members": [],
        "dermviz_version": _version(),
    }
    write_manifest(out, manifest)
    return manifest


def _save_member(
    folder: Path, model: Any, *, mid: str, seed: int, split: MemberSplit, history: dict,
    best_epoch: int,
    threshold: float, val_y: np.ndarray, p_val: np.ndarray, holdout: pd.DataFrame,
    p_test: np.ndarray, config: TrainConfig,
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "member.json").unlink(missing_ok=True)  # incomplete until rewritten
    with atomic_path(folder / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    write_json(folder / "history.json", history)
    preds = pd.DataFrame({
        "image_id": holdout["image_id"].to_numpy(),
        "test_index": holdout["test_index"].to_numpy(),
        "y": holdout["y"].to_numpy(),
        "p_melanoma": p_test,
        "predicted": (p_test >= threshold).astype(int),
    })
    with atomic_path(folder / "holdout_predictions.csv") as tmp:
        preds.to_csv(tmp, index=False)
    val_metrics = binary_metrics(val_y, p_val, threshold=threshold)
    entry = {
        "id": mid,
        "seed": seed,
        "threshold": threshold,
        "val_auc": val_metrics["auc"],
        "best_epoch": best_epoch,
        "split": split.summary(),
        "holdout": binary_metrics(holdout["y"].to_numpy(), p_test, threshold=threshold),
        "holdout_at_0.5": binary_metrics(holdout["y"].to_numpy(), p_test, threshold=0.5),
        "trained": _now(),
    }
    write_json(folder / "member.json", {**entry, "config": config.to_dict()})
    return entry


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _version() -> str:
    from dermviz import __version__

    return __version__
