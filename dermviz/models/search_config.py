"""Configuration of a searched suite: the search space, the search and its profiles.

A searched suite is described by one file (TOML or YAML) with two tables::

    [train]                      # dermviz.models.config.TrainConfig: data split,
    image_size = 224             # image size, batch size, members, suite seed...
    n_members = 15
    seed = 0

    [search]
    n_trials = 25                # trials per member (the paper's hp_search_2.py)
    n_startup_trials = 7         # random trials before the GP takes over
    sampler = "gp"               # "gp" (Gaussian process + expected improvement) | "tpe"
    objective = "val_auc"        # "val_auc" | "val_accuracy" (the paper's, last epoch)
    pruner = "none"              # "none" | "median" | "hyperband"
    # seeds = [11, 12, 13]       # optional: one seed per member (default: derived)

    [search.space]               # every range is configurable
    learning_rate = [1e-6, 1e-2] # log-uniform
    dropout = [0.1, 0.8]
    optimizers = ["sgd", "adam"]
    momentum = [0.8, 1.0]        # SGD
    beta_1 = [0.9, 1.0]          # Adam
    beta_2 = [0.99, 1.0]         # Adam
    dense_units = [50, 225]
    epochs = [9, 20]

The hyperparameters that the search sets
(:data:`dermviz.models.config.HYPERPARAMETERS`: learning rate, dropout, optimizer,
momentum, beta_1, beta_2, dense units, epochs) override the ``[train]`` values of
the same name: each trial fits ``train.replace(**params)`` with the code that
``dermviz train`` uses, so a space of one point trains what ``dermviz train`` does.
As in the paper (docs/protocol.md §6), every dimension is sampled in every trial (a static
space, which the GP sampler needs): momentum is ignored under Adam and the betas
under SGD.

This module is light (no TensorFlow): the dashboard and the search driver import it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from dermviz.data.synthetic import SyntheticConfig
from dermviz.models.blocks import DEFAULT_TARGET_LAYER
from dermviz.models.config import TrainConfig
from dermviz.models.profiles import PROFILES as TRAIN_PROFILES
from dermviz.models.seeds import member_seed

SAMPLERS = ("gp", "tpe")
OBJECTIVES = ("val_auc", "val_accuracy")
PRUNERS = ("none", "median", "hyperband")
OPTIMIZERS = ("sgd", "adam")

#: Reference figures shown beside a suite's own (docs/protocol.md §7 and §17).
REFERENCES = {
    "paper": {
        "label": "paper (2019): mean AUC 85%, variance 1.8%",
        "metric": "auc", "mean": 0.85, "variance": 0.018,
    },
    "reproduction": {
        "label": "2025 reproduction: mean accuracy 86.96%, variance 0.0122",
        "metric": "accuracy", "mean": 0.8696, "variance": 0.0122,
    },
}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of the searched hyperparameters (inclusive); the paper's by default."""

    learning_rate: tuple[float, float] = (1e-6, 1e-2)  # log-uniform
    dropout: tuple[float, float] = (0.1, 0.8)
    optimizers: tuple[str, ...] = OPTIMIZERS
    momentum: tuple[float, float] = (0.8, 1.0)
    beta_1: tuple[float, float] = (0.9, 1.0)
    beta_2: tuple[float, float] = (0.99, 1.0)
    dense_units: tuple[int, int] = (50, 225)
    epochs: tuple[int, int] = (9, 20)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = tuple(getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            if f.name == "optimizers":
                bad = [o for o in value if o not in OPTIMIZERS]
                if not value or bad:
                    raise ValueError(f"space.optimizers must be a non-empty subset of "
                                     f"{list(OPTIMIZERS)}, got {list(value)}")
                continue
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"space.{f.name} must be [low, high] with low <= high, "
                                 f"got {list(value)}")
        lo, hi = self.learning_rate
        if lo <= 0:
            raise ValueError(f"space.learning_rate must be > 0 (log scale), got {lo}")
        if not (0.0 <= self.dropout[0] and self.dropout[1] < 1.0):
            raise ValueError(f"space.dropout must lie in [0, 1), got {list(self.dropout)}")
        for name in ("momentum", "beta_1", "beta_2"):
            low, high = getattr(self, name)
            if low < 0 or high > 1:
                raise ValueError(f"space.{name} must lie in [0, 1], got {[low, high]}")
        for name in ("dense_units", "epochs"):
            low, high = getattr(self, name)
            if int(low) != low or int(high) != high or low < 1:
                raise ValueError(f"space.{name} must be integers >= 1, got {[low, high]}")
            object.__setattr__(self, name, (int(low), int(high)))

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SearchConfig:
    """A searched suite: base training options plus the search.

    ``train.n_members`` members, each with its own seed (``seeds`` or derived
    from ``train.seed``), each searched with ``n_trials`` trials, the first
    ``n_startup_trials`` of them random.
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    n_trials: int = 25
    n_startup_trials: int = 7
    sampler: str = "gp"
    objective: str = "val_auc"
    pruner: str = "none"
    seeds: tuple[int, ...] | None = None
    space: SearchSpace = field(default_factory=SearchSpace)
    keep_models: str = "best"  # "best": delete non-best trial models | "all"
    max_failures: int | None = None  # failed trials per member before giving up

    def __post_init__(self) -> None:
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainConfig.from_dict(self.train))
        if isinstance(self.space, dict):
            object.__setattr__(self, "space", SearchSpace(**self.space))
        if self.n_trials < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}")
        if self.n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {self.n_startup_trials}")
        for name, value, allowed in (
            ("sampler", self.sampler, SAMPLERS), ("objective", self.objective, OBJECTIVES),
            ("pruner", self.pruner, PRUNERS), ("keep_models", self.keep_models, ("best", "all")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")
        if self.seeds is not None:
            seeds = tuple(int(s) for s in self.seeds)
            if len(seeds) != self.train.n_members:
                raise ValueError(f"seeds has {len(seeds)} entries for "
                                 f"{self.train.n_members} members")
            if len(set(seeds)) != len(seeds):
                raise ValueError(f"member seeds must be distinct, got {list(seeds)}")
            object.__setattr__(self, "seeds", seeds)

    @property
    def n_members(self) -> int:
        return self.train.n_members

    def member_seeds(self) -> list[int]:
        """One distinct, reproducible seed per member."""
        if self.seeds is not None:
            return list(self.seeds)
        return [member_seed(self.train.seed, i) for i in range(self.n_members)]

    def to_dict(self) -> dict[str, Any]:
        """``{"train": {...}, "search": {..., "space": {...}}}``: the file's layout."""
        search = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("train", "space")
        }
        search["seeds"] = list(self.seeds) if self.seeds is not None else None
        search["space"] = self.space.to_dict()
        return {"train": self.train.to_dict(), "search": search}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        unknown_top = sorted(set(data) - {"train", "search"})
        if unknown_top:
            raise ValueError(f"unknown config table(s) {unknown_top}; use [train] and [search]")
        search = dict(data.get("search") or {})
        known = {f.name for f in fields(cls)} - {"train"}
        unknown = sorted(set(search) - known)
        if unknown:
            raise ValueError(f"unknown search option(s): {unknown}; known: {sorted(known)}")
        space = search.pop("space", None) or {}
        space_known = {f.name for f in fields(SearchSpace)}
        bad = sorted(set(space) - space_known)
        if bad:
            raise ValueError(f"unknown search.space option(s): {bad}; known: {sorted(space_known)}")
        return cls(train=TrainConfig.from_dict(data.get("train") or {}),
                   space=SearchSpace(**space), **search)

    @classmethod
    def from_file(cls, path: str | Path) -> SearchConfig:
        """Read a ``.toml``, ``.yaml``/``.yml`` or ``.json`` suite config file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text()
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"config file must be .toml, .yaml or .json, got {path.name}")
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def replace(self, **changes: Any) -> SearchConfig:
        """A copy with search options changed; ``train={...}`` / ``space={...}``
        update those tables key by key."""
        data = self.to_dict()
        train = changes.pop("train", None)
        space = changes.pop("space", None)
        if train:
            data["train"].update(train)
        if space:
            data["search"]["space"].update(space)
        data["search"].update(changes)
        return SearchConfig.from_dict(data)


@dataclass(frozen=True)
class SearchProfile:
    """A ready-made search: the data (synthetic) and the suite config."""

    data: SyntheticConfig | None
    config: SearchConfig
    description: str


PROFILES: dict[str, SearchProfile] = {
    "smoke": SearchProfile(
        data=TRAIN_PROFILES["smoke"].data,
        config=SearchConfig(
            train=TRAIN_PROFILES["smoke"].train,
            n_trials=2, n_startup_trials=1,
            space=SearchSpace(learning_rate=(1e-4, 1e-2), epochs=(1, 1)),
        ),
        description="seconds per trial: 75 px, 48 synthetic images, 1 epoch, "
                    "2 members x 2 trials; its numbers mean nothing",
    ),
    "default": SearchProfile(
        data=TRAIN_PROFILES["default"].data,
        config=SearchConfig(
            train=TRAIN_PROFILES["default"].train,
            n_trials=6, n_startup_trials=3,
            space=SearchSpace(learning_rate=(1e-5, 1e-2), epochs=(3, 8)),
        ),
        description="a small synthetic search: 128 px, 3 members x 6 trials (about an "
                    "hour on a 2-core CPU)",
    ),
    "paper": SearchProfile(
        data=None,
        config=SearchConfig(
            train=TrainConfig(
                image_size=224, n_members=30, batch_size=32, recipe="paper",
                gradcam_layer=DEFAULT_TARGET_LAYER,
            ),
            n_trials=25, n_startup_trials=7,
        ),
        description="the paper's search (docs/protocol.md §6): 224 px, paper split recipe, "
                    "30 members x 25 trials (7 random), GP + EI, epochs 9-20; for HAM10000 "
                    "on a GPU",
    ),
}
