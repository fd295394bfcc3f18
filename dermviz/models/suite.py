"""A suite on disk: ``models/<suite>/``.

Layout::

    models/<suite>/
      suite.json                 manifest: dataset, config, members and hold-out metrics
      members/<member>/
        model.keras              weights without optimizer state, loaded in safe mode
        member.json              config, seed, split summary, threshold, metrics
        history.json             per-epoch training history
        holdout_predictions.csv  image_id, test_index, y, p_melanoma, predicted
      maps/                      the saliency-map cache (:mod:`dermviz.explain.cache`)

``member.json`` is written last and atomically: a member without it is
incomplete and is retrained on resume.

Opening a suite, listing its members and reading its metrics import no
TensorFlow; only :meth:`Suite.load_model` does.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from dermviz.data.dataset import Dataset
from dermviz.data.registry import open_dataset
from dermviz.models.inception import load_member_model
from dermviz.store import ArrayStore, read_json, write_json

MANIFEST = "suite.json"


def models_root() -> Path:
    """Where suites live: ``$DERMVIZ_MODELS`` or ``./models``."""
    return Path(os.environ.get("DERMVIZ_MODELS", "models"))


class SuiteNotFoundError(FileNotFoundError):
    pass


class Suite:
    """Read access to a trained (or partly trained) suite."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / MANIFEST).is_file():
            raise SuiteNotFoundError(
                f"no suite at {self.path} (missing {MANIFEST}); build one with "
                "'dermviz demo' or 'dermviz train'"
            )
        self.manifest: dict[str, Any] = read_json(self.path / MANIFEST)

    @classmethod
    def open(cls, name_or_path: str | Path, *, root: str | Path | None = None) -> Suite:
        """Open by folder path, or by name under ``root`` (default :func:`models_root`)."""
        candidate = Path(name_or_path)
        if (candidate / MANIFEST).is_file():
            return cls(candidate)
        return cls((Path(root) if root is not None else models_root()) / str(name_or_path))

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest["config"]

    @property
    def dataset_info(self) -> dict[str, Any]:
        return self.manifest["dataset"]

    @property
    def image_size(self) -> int:
        return int(self.config["image_size"])

    @property
    def member_ids(self) -> list[str]:
        """Completed members, in training order."""
        return [m["id"] for m in self.manifest.get("members", [])]

    def member(self, member_id: str) -> dict[str, Any]:
        for m in self.manifest.get("members", []):
            if m["id"] == member_id:
                return m
        raise KeyError(f"suite {self.name!r} has no member {member_id!r}; has {self.member_ids}")

    def member_dir(self, member_id: str) -> Path:
        return self.path / "members" / member_id

    def model_path(self, member_id: str) -> Path:
        return self.member_dir(member_id) / "model.keras"

    def load_model(self, member_id: str) -> Any:
        """The member's Keras model (safe mode, not compiled)."""
        self.member(member_id)
        return load_member_model(self.model_path(member_id))

    def threshold(self, member_id: str) -> float:
        return float(self.member(member_id)["threshold"])

    def predictions(self, member_id: str) -> pd.DataFrame:
        """Hold-out predictions of one member, ordered by ``test_index``."""
        self.member(member_id)
        df = pd.read_csv(self.member_dir(member_id) / "holdout_predictions.csv")
        return df.sort_values("test_index").reset_index(drop=True)

    def all_predictions(self) -> pd.DataFrame:
        """Long table: one row per (member, hold-out image)."""
        frames = [self.predictions(m).assign(member=m) for m in self.member_ids]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def history(self, member_id: str) -> pd.DataFrame:
        return pd.DataFrame(read_json(self.member_dir(member_id) / "history.json"))

    def metrics_table(self) -> pd.DataFrame:
        """One row per member: its hold-out metrics and threshold."""
        rows = [
            {"member": m["id"], "seed": m["seed"], **m["holdout"], "val_auc": m.get("val_auc")}
            for m in self.manifest.get("members", [])
        ]
        return pd.DataFrame(rows)

    @cached_property
    def map_store(self) -> ArrayStore:
        """The array store under ``maps/`` that holds the saliency-map cache.

        Read maps through :class:`dermviz.explain.cache.MapCache` (``MapCache.of(suite)``).
        """
        return ArrayStore(self.path / "maps")

    def dataset(self) -> Dataset:
        """Rebuild the dataset the suite was trained on."""
        return open_dataset(self.dataset_info)

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"


def list_suites(root: str | Path | None = None) -> list[Suite]:
    """The suites under ``root`` (default :func:`models_root`), sorted by name."""
    root = Path(root) if root is not None else models_root()
    if not root.is_dir():
        return []
    return [Suite(p) for p in sorted(root.iterdir()) if (p / MANIFEST).is_file()]


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    write_json(path / MANIFEST, manifest)
