"""What a search draws: the sampler (GP or TPE), the pruner and the parameters."""

from __future__ import annotations

import warnings
from typing import Any

from dermviz.models.search_config import SearchSpace


def gp_available() -> bool:
    """Optuna's GPSampler needs PyTorch: the ``search`` extra (``torch==2.13.0``, CPU build)."""
    try:
        import torch  # noqa: F401 - optional, heavy
    except ImportError:
        return False
    return True


def make_sampler(kind: str, *, seed: int, n_startup_trials: int) -> tuple[Any, str]:
    """``(sampler, name actually used)``: GP (log expected improvement) or TPE.

    Without PyTorch the GP sampler is unavailable: TPE is used instead, with a
    warning, and the suite records ``"tpe (gp unavailable)"``.
    """
    import optuna  # imported on use: the dashboard reads searches without it

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
    """``median``, ``hyperband`` or ``none`` (Optuna's NopPruner)."""
    import optuna  # imported on use: the dashboard reads searches without it

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
