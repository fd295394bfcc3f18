"""Fitting one member: the single training path of ``dermviz train`` and of every
search trial.

:func:`fit_member` builds a freshly seeded InceptionV3 member from a
:class:`~dermviz.models.config.TrainConfig` (a search trial passes the base config
with the trial's hyperparameters set), streams the member's split from the decoded
image cache (:mod:`dermviz.models.pipeline`), fits with class weights and seeded
flips, keeps the epoch with the best validation AUC (or, for the paper's
``val_accuracy`` objective, the last epoch), exports an uncompiled float32 twin
and predicts the validation split and the hold-out with it. With
``config.gradmask`` it trains through :func:`dermviz.models.gradmask.make_gradmask_model`
on images and lesion masks (validation and the saved member stay plain). It writes nothing:
the callers save a member (:mod:`dermviz.models.records`) or a trial folder
(:mod:`dermviz.models.search.trial`).

The same config, split, caches and seed give the same model in any process: every
random choice is drawn from ``seed`` (initial weights and dropout through
:func:`dermviz.models.inception.seed_initializers`, data order and flips through
NumPy). Fits in one process may share a compiled model (:class:`CompiledFits`): its
variables are reloaded from a freshly seeded build, so sharing changes the time, not
the model.

With XLA on (``device={"xla": "on"}``, or ``auto`` on a GPU), only the training step
is compiled, and training batches have one shape (each epoch's last, smaller batch is
left out): XLA compiles once per input shape, and a ragged batch would cost a second
compile of InceptionV3's step (tens of seconds on a CPU). Validation runs uncompiled:
its last batch is ragged too, and it is a small share of the work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from tqdm.auto import tqdm

from dermviz.models.augment import AugmentConfig, build_augmenter
from dermviz.models.config import BETA_CAP, TrainConfig
from dermviz.models.device import configure_device
from dermviz.models.gradmask import make_gradmask_model
from dermviz.models.image_cache import ImageCache
from dermviz.models.inception import build_inception  # Keras: this module is heavy anyway
from dermviz.models.pipeline import (
    augment_dataset,
    make_eval_dataset,
    make_train_dataset,
    predict_rows,
    train_steps,
)
from dermviz.models.precision_choice import training_precision
from dermviz.store.status import report


@dataclass
class FitResult:
    """What a fit produced (nothing of it is saved yet)."""

    model: Any  # the uncompiled float32 member
    history: dict[str, list[float]]
    best_epoch: int  # 0-based epoch kept
    epochs_run: int
    steps_per_epoch: int  # optimizer steps an epoch (a compiled step drops a ragged batch)
    p_val: np.ndarray
    p_test: np.ndarray
    diverged: bool  # predictions not finite
    device: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)  # build, fit, export, predict
    reused: bool = False  # trained in a compiled model shared with an earlier fit

    @property
    def policy(self) -> str:
        """The Keras dtype policy it trained under: ``float32``, ``mixed_bfloat16`` (a CPU
        that runs it faster, issue 25) or ``mixed_float16`` (a GPU)."""
        if not self.device.get("mixed_precision"):
            return "float32"
        return str(self.device.get("policy", "mixed_float16"))


@dataclass(frozen=True)
class SplitRows:
    """A member's split as rows of the pool cache (the ``split.json`` record)."""

    train_rows: np.ndarray
    train_y: np.ndarray
    train_aug: list | None
    val_rows: np.ndarray
    val_y: np.ndarray
    val_aug: list | None
    class_weight: dict[int, float] | None
    random_flips: bool

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SplitRows:
        """Read the dict written by :func:`dermviz.models.workspace.split_record`."""
        tr, va = record["train"], record["val"]
        cw = record.get("class_weight")
        return cls(
            train_rows=np.asarray(tr["rows"], np.int64),
            train_y=np.asarray(tr["y"], np.float32),
            train_aug=tr["aug"] if any(tr["aug"]) else None,
            val_rows=np.asarray(va["rows"], np.int64),
            val_y=np.asarray(va["y"], np.float32),
            val_aug=va["aug"] if any(va["aug"]) else None,
            class_weight={int(k): float(v) for k, v in cw.items()} if cw else None,
            random_flips=bool(record.get("random_flips")),
        )

    def train_weights(self) -> np.ndarray:
        """Per-sample weights (1 without class weights)."""
        cw = self.class_weight or {0: 1.0, 1: 1.0}
        return np.where(self.train_y == 1, cw[1], cw[0]).astype(np.float32)


def learning_rate(config: TrainConfig, *, steps_per_epoch: int = 1) -> Any:
    """``config.learning_rate``, or with ``config.lr_schedule == "cosine"`` a schedule
    decaying from it to 0 over ``config.epochs * steps_per_epoch`` steps (SGDR
    without restarts [1]_).

    References
    ----------
    .. [1] Loshchilov & Hutter, "SGDR: Stochastic gradient descent with warm
       restarts", ICLR 2017 (arXiv:1608.03983).
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            float(config.learning_rate), decay_steps=config.epochs * steps_per_epoch)
    return float(config.learning_rate)


def make_optimizer(config: TrainConfig, *, steps_per_epoch: int = 1) -> Any:
    """Adam(lr, beta_1, beta_2) or SGD(lr, momentum), as in the paper (docs/protocol.md §5),
    with the rate of :func:`learning_rate`."""
    lr = learning_rate(config, steps_per_epoch=steps_per_epoch)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(
            learning_rate=lr, beta_1=min(float(config.beta_1), BETA_CAP),
            beta_2=min(float(config.beta_2), BETA_CAP),
        )
    return keras.optimizers.SGD(learning_rate=lr, momentum=float(config.momentum))


def build_member(config: TrainConfig, *, seed: int | None) -> Any:
    """The InceptionV3 member of ``config``, under the global dtype policy (its output is
    float32 under any policy: :func:`~dermviz.models.inception.build_inception`)."""
    return build_inception(
        config.image_size, weights=config.weights, dense_units=config.dense_units,
        dropout=config.dropout, bn_momentum=config.bn_momentum, seed=seed,
    )


def export_float32(model: Any, config: TrainConfig) -> Any:
    """An uncompiled float32 twin with ``model``'s weights: what is saved (no
    optimizer state, no mixed-precision policies)."""
    keras.mixed_precision.set_global_policy("float32")
    twin = build_inception(
        config.image_size, weights=None, dense_units=config.dense_units,
        dropout=config.dropout, bn_momentum=config.bn_momentum,
    )
    twin.set_weights(model.get_weights())
    return twin


def fit_member(
    config: TrainConfig,
    split: SplitRows,
    pool: ImageCache,
    holdout: ImageCache,
    *,
    seed: int,
    restore_best: bool = True,
    device: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
    progress: str | None = None,
    pool_masks: ImageCache | None = None,
    compiled: CompiledFits | None = None,
) -> FitResult:
    """Fit one member and predict its validation split and the hold-out.

    Parameters
    ----------
    config : TrainConfig
        The member's options; ``image_size`` must match the caches.
    split : SplitRows
        Training and validation rows of ``pool``, labels, augmentations, class
        weights and whether to flip at random.
    pool, holdout : ImageCache
        Decoded images of the training pool and of the hold-out (all rows predicted).
    seed : int
        Initial weights, dropout, data order and flips (:func:`dermviz.models.seeds.fit_seed`).
    restore_best : bool
        Keep the epoch with the best validation AUC (default); False keeps the
        last epoch (the paper's ``val_accuracy`` objective).
    device : dict, optional
        :func:`dermviz.models.device.configure_device` switches.
    callbacks : sequence of keras.callbacks.Callback
        More callbacks (progress files, pruning).
    progress : str, optional
        Show a step progress bar with this label.
    pool_masks : ImageCache, optional
        Lesion masks of ``pool``'s rows (``build_cache(..., masks=True)``); required
        with ``config.gradmask``, unused otherwise.
    compiled : CompiledFits, optional
        Share compiled models with the other fits of this process that use the same
        object (a suite's members); None compiles a model for this fit alone.

    Returns
    -------
    FitResult
    """
    for name, cache in (("pool", pool), ("holdout", holdout)):
        if cache.shape[1:3] != (config.image_size, config.image_size):
            raise ValueError(f"the {name} cache holds {cache.shape[1]} px images; the config "
                             f"asks for {config.image_size} px")
    if len(split.train_rows) == 0 or len(split.val_rows) == 0:
        raise ValueError("the split needs at least one training and one validation image")
    gradmask = config.gradmask is not None
    if gradmask and pool_masks is None:
        raise ValueError("gradmask training needs the pool's lesion masks (pool_masks); "
                         "this training path does not provide them")
    if gradmask:
        # The penalty's logit and second-order gradient are not made for float16 (a GPU's
        # mixed precision): off. On a CPU, bfloat16 below may still apply (its exponent
        # range is float32's). Its double-backward step is not measured under XLA: no XLA.
        device = {**(device or {}), "mixed_precision": "off", "xla": "off"}
    t0 = time.perf_counter()
    used = configure_device(device)
    switch = (device or {}).get("mixed_precision", "auto")
    if not used["gpus"] and (switch == "auto" or gradmask) and training_precision(
            lambda: build_inception(config.image_size, weights=None,
                                    dense_units=config.dense_units),
            image_size=config.image_size,
            architecture=f"inception_v3+dense{config.dense_units}") == "bfloat16":
        # bfloat16 on a CPU that runs it faster (issue 25): float32 variables, a float32
        # output and loss; GradMask's second-order gradient too (tests/models/test_gradmask).
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        used = {**used, "mixed_precision": True, "policy": "mixed_bfloat16"}
    jit = xla_on(used) and not config.run_eagerly
    batch = config.batch_size
    drop = jit and len(split.train_rows) >= batch
    steps = train_steps(len(split.train_rows), batch_size=batch, drop_remainder=drop)
    model = train_model = build_member(config, seed=seed)
    key = None if (compiled is None or gradmask) else _trace_key(config, steps, used)
    slot = compiled.get(key) if (compiled is not None and key is not None) else None
    if slot is not None:  # the compiled step of an earlier fit, reloaded with this seed's model
        slot.load(model)
        model, train_model = slot.model, slot.train_model
    else:
        if gradmask:  # shares model's weights; validation and the saved twin stay plain
            train_model = make_gradmask_model(model, weight=config.gradmask)
        train_model.compile(
            optimizer=make_optimizer(config, steps_per_epoch=steps),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc"),
                     keras.metrics.BinaryAccuracy(name="accuracy")],
            run_eagerly=config.run_eagerly, jit_compile=jit,
        )
        if jit:  # XLA for the training step only (see the module's docstring)
            train_model.make_train_function()
            train_model.jit_compile = False
        if compiled is not None and key is not None:
            compiled.put(key, _Compiled.keep(model, train_model))
    train_ds = make_train_dataset(
        pool, split.train_rows, split.train_y, batch_size=batch, seed=seed,
        weights=split.train_weights(), augs=split.train_aug, flips=split.random_flips,
        masks=pool_masks if gradmask else None, drop_remainder=drop, epochs=config.epochs,
    )
    if config.augment is not None:  # training batches only, seeded per fit
        augmenter = build_augmenter(AugmentConfig.from_dict(config.augment), seed=seed)
        train_ds = augment_dataset(train_ds, augmenter)
    val_ds = make_eval_dataset(pool, split.val_rows, split.val_y, batch_size=batch,
                               augs=split.val_aug)
    best = _BestEpoch(model)
    extra: list[Any] = [best, keras.callbacks.TerminateOnNaN(), *callbacks]
    if config.patience is not None:  # _BestEpoch restores the best weights, not this
        extra.append(keras.callbacks.EarlyStopping(
            monitor="val_auc", mode="max", patience=config.patience))
    bar = None
    if progress is not None:
        bar = _EpochBar(config.epochs, steps, progress)
        extra.append(bar)
    t1 = time.perf_counter()
    history = train_model.fit(train_ds, validation_data=val_ds, epochs=config.epochs,
                              steps_per_epoch=steps, verbose=0, callbacks=extra,
                              shuffle=False)  # the pipeline shuffles
    t2 = time.perf_counter()
    if bar is not None:
        bar.close()
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    epochs_run = len(next(iter(hist.values()), []))
    kept = epochs_run - 1
    if restore_best:
        best.restore(model)
        kept = best.best_epoch
    twin = export_float32(model, config)
    t3 = time.perf_counter()
    eager = config.run_eagerly
    # A float32 fit predicts as its twin does; the fitted model's forward pass is
    # traced once for every fit that shares it.
    predictor = twin if used["mixed_precision"] else model
    p_val = predict_rows(predictor, pool, split.val_rows, batch_size=batch,
                         augs=split.val_aug, eager=eager)
    p_test = predict_rows(predictor, holdout, np.arange(len(holdout)), batch_size=batch,
                          eager=eager)
    t4 = time.perf_counter()
    return FitResult(
        model=twin, history=hist, best_epoch=int(kept), epochs_run=epochs_run,
        steps_per_epoch=steps, p_val=p_val, p_test=p_test,
        diverged=not (np.isfinite(p_val).all() and np.isfinite(p_test).all()), device=used,
        seconds={"build": round(t1 - t0, 2), "fit": round(t2 - t1, 3),
                 "export": round(t3 - t2, 2), "predict": round(t4 - t3, 2)},
        reused=slot is not None,
    )


def xla_on(used: dict[str, Any]) -> bool:
    """Whether a fit compiles with XLA: ``on``, or ``auto`` with a GPU (Keras' own
    ``auto`` rule: never on a CPU alone)."""
    jit = used["jit_compile"]
    return bool(used["gpus"]) if jit == "auto" else bool(jit)


class CompiledFits:
    """Compiled training models kept between the fits of one process.

    Tracing InceptionV3's training step takes tens of seconds on a CPU (more with XLA),
    once per compiled model. Fits whose step would trace the same (the same config but
    for its seed, steps per epoch and device switches) share one compiled model: each
    fit loads into it every variable of its own freshly seeded build (weights, BatchNorm
    statistics, dropout seed state) and resets the optimizer's to their initial values,
    so it trains the model a fit of its own would. GradMask fits are not shared.
    """

    def __init__(self) -> None:
        self._slots: dict[str, _Compiled] = {}

    def get(self, key: str) -> _Compiled | None:
        return self._slots.get(key)

    def put(self, key: str, slot: _Compiled) -> None:
        self._slots[key] = slot


def _trace_key(config: TrainConfig, steps: int, used: dict[str, Any]) -> str:
    fixed = {**config.to_dict(), "seed": None, "n_members": None}
    return json.dumps([fixed, steps, used], sort_keys=True, default=str)


@dataclass
class _Compiled:
    model: Any
    train_model: Any
    optimizer_init: list[np.ndarray]

    @classmethod
    def keep(cls, model: Any, train_model: Any) -> _Compiled:
        optimizer = train_model.optimizer
        if not optimizer.built:  # its variables exist before the first fit, to be reset
            optimizer.build(train_model.trainable_variables)
        return cls(model, train_model, [np.array(v) for v in optimizer.variables])

    def load(self, fresh: Any) -> None:
        """Take every variable of ``fresh`` (a build of the same architecture)."""
        mine, theirs = self.model.variables, fresh.variables
        if len(mine) != len(theirs) or any(
                tuple(a.shape) != tuple(b.shape) for a, b in zip(mine, theirs, strict=True)):
            raise RuntimeError("a shared compiled model and the new build differ")
        for dst, src in zip(mine, theirs, strict=True):
            dst.assign(src.value)
        for var, value in zip(self.train_model.optimizer.variables, self.optimizer_init,
                              strict=True):
            var.assign(value)


class _BestEpoch(keras.callbacks.Callback):
    """Keep ``member``'s weights of the epoch with the best validation AUC (the member,
    not the fitted wrapper: a GradMask or mixed-precision wrapper holds more variables)."""

    def __init__(self, member: Any) -> None:
        super().__init__()
        self.member = member
        self.best_auc = -np.inf
        self.best_epoch = -1
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        auc = float((logs or {}).get("val_auc", np.nan))
        if self.best_weights is None or (np.isfinite(auc) and auc > self.best_auc):
            self.best_auc = auc if np.isfinite(auc) else self.best_auc
            self.best_epoch = epoch
            self.best_weights = self.member.get_weights()

    def restore(self, model: Any) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)


class _EpochBar(keras.callbacks.Callback):
    """A tqdm bar over all training steps of a fit, with the latest metrics."""

    def __init__(self, epochs: int, steps_per_epoch: int, desc: str) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs * steps_per_epoch, desc=desc, unit="step", leave=False)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.bar.update(1)
        report(member_fraction=self.bar.n / max(self.bar.total, 1))  # for a background build

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.bar.set_postfix(
            epoch=epoch + 1, loss=f"{logs.get('loss', float('nan')):.3f}",
            val_auc=f"{logs.get('val_auc', float('nan')):.3f}",
        )

    def close(self) -> None:
        self.bar.close()
