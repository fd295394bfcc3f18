"""Training configuration of a suite: one dataclass, saved with the suite."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dermviz.models.augment import AugmentConfig
from dermviz.models.blocks import DEFAULT_TARGET_LAYER

#: The options a hyperparameter search sets (the rest of a config is fixed).
HYPERPARAMETERS = ("learning_rate", "dropout", "optimizer", "momentum", "beta_1", "beta_2",
                   "dense_units", "epochs")

#: Learning-rate schedules over a fit.
LR_SCHEDULES = ("constant", "cosine")

#: Adam with beta_1 or beta_2 exactly 1 divides by zero (docs/protocol.md §14.7): the
#: optimizer uses values capped here; configs record them as given.
BETA_CAP = 1.0 - 1e-6


@dataclass(frozen=True)
class TrainConfig:
    """How a suite is trained (fixed hyperparameters).

    Defaults reproduce the paper where it is sound and fix it where it is not
    (see ``docs/paper-differences.md``): the ``"full"`` split recipe with class
    weights, selection of the best epoch by validation AUC, an operating
    threshold chosen on validation data, and every random choice seeded.
    """

    image_size: int = 128
    n_members: int = 3
    seed: int = 0
    recipe: str = "full"  # "full" | "paper"
    val_fraction: float = 0.15
    max_train: int | None = None  # cap on training rows per member (smoke runs)
    leak_twins: bool = False  # paper recipe only: the paper's augmentation leak
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 1e-3
    # "constant", or "cosine": decay to 0 over all epochs' steps (Loshchilov & Hutter 2017).
    lr_schedule: str = "constant"
    # Stop when validation AUC has not improved for this many epochs (None: run them all).
    patience: int | None = None
    optimizer: str = "adam"  # "adam" | "sgd"
    momentum: float = 0.9  # sgd only
    beta_1: float = 0.9  # adam only (Keras' default)
    beta_2: float = 0.999  # adam only (Keras' default)
    dense_units: int = 128
    dropout: float = 0.5
    bn_momentum: float = 0.99  # Keras' default; lower it for short from-scratch runs
    weights: str = "none"  # "none" | "imagenet" | path to a no-top weights file
    run_eagerly: bool = False  # cheaper than graph building for tiny runs
    gradcam_layer: str = DEFAULT_TARGET_LAYER  # the suite's default GradCAM target layer
    # On-line augmentation of training batches (dermviz.models.augment.AugmentConfig's
    # options, e.g. {"rot90": true, "hue": 0.05}); None: only the split recipe's flips.
    augment: dict[str, Any] | None = None
    # GradMask (dermviz.models.gradmask; Simpson et al. 2019): the weight lambda of the
    # penalty on input-gradient saliency outside the lesion mask; None: off. Training then
    # reads the lesion masks (all ones, no penalty, for images without one).
    gradmask: float | None = None

    def __post_init__(self) -> None:
        if self.gradmask is not None and (
            isinstance(self.gradmask, bool) or not isinstance(self.gradmask, (int, float))
            or not self.gradmask > 0 or self.gradmask == float("inf")
        ):
            raise ValueError(f"gradmask must be a weight > 0 (or None for off), "
                             f"got {self.gradmask!r}")
        if self.augment is not None:
            AugmentConfig.from_dict(self.augment)  # unknown or out-of-range options fail here
        if self.n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {self.n_members}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.recipe not in ("full", "paper"):
            raise ValueError(f"recipe must be 'full' or 'paper', got {self.recipe!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if not 0.0 < self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1), got {self.bn_momentum}")
        for name in ("momentum", "beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {list(LR_SCHEDULES)}, "
                             f"got {self.lr_schedule!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown training option(s): {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a TOML (``[train]`` table or top level) or JSON file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        if path.suffix == ".toml":
            data = tomllib.loads(path.read_text())
            data = data.get("train", data)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise ValueError(f"config file must be .toml or .json, got {path.name}")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def hyperparameters(self) -> dict[str, Any]:
        """The searched options' values: the fixed point that ``dermviz train`` fits."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS}
