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
import threading
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from dermviz.data.dataset import Dataset
from dermviz.data.registry import open_dataset
from dermviz.models.adapter import ModelAdapter, adapt, adapter_of
from dermviz.models.inception import load_member_model
from dermviz.models.records import MANIFEST, write_manifest  # noqa: F401 - re-exported
from dermviz.store import ArrayStore, read_json, resolve_within

#: Hold-out images in the precision choice's probe batch (:meth:`Suite.precision_probe`).
PRECISION_PROBE = 32


def models_root() -> Path:
    """Where suites live: ``$DERMVIZ_MODELS`` or ``./models``."""
    return Path(os.environ.get("DERMVIZ_MODELS", "models"))


class SuiteNotFoundError(FileNotFoundError):
    """No suite (no ``suite.json``) at the given folder or name."""


def require_suite_folder(path: str | Path) -> Path:
    """``path`` as a Path, when it holds a suite (a ``suite.json``); reads nothing.

    Raises
    ------
    SuiteNotFoundError
        No ``suite.json`` there.
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise SuiteNotFoundError(
            f"no suite at {path} (missing {MANIFEST}); build one with "
            "'dermviz demo' or 'dermviz train'"
        )
    return path


class MemberModelError(RuntimeError):
    """A member's ``model.keras`` is missing, damaged or refused by Keras' safe mode.

    The message names the suite, the member and the file, and says how to
    retrain the member.
    """


class Suite:
    """Read access to a trained (or partly trained) suite.

    One object reads ``suite.json`` once; :meth:`model` and :meth:`dataset` keep what they
    load for the object's lifetime, so a caller that keeps the object (the dashboard, one
    per suite and manifest version) loads each member and the data set once.
    """

    def __init__(self, path: str | Path, *, measure_precision: bool = True) -> None:
        self.path = require_suite_folder(path)
        #: Whether loading a member in ``auto`` may measure its precision choice when none
        #: is cached (about 20 s per member, once per machine). The dashboard opens suites
        #: without it: a page request runs the cached choice, else float32.
        self.measure_precision = measure_precision
        self.manifest: dict[str, Any] = read_json(self.path / MANIFEST)
        self._models: dict[str, Any] = {}
        self._dataset: Dataset | None = None
        self._choices: dict[tuple[str, str], Any] = {}
        # Background map jobs share the object: one load per member, not one per thread.
        self._lock = threading.RLock()  # model() loads under it, and loading reads choices

    def __getstate__(self) -> dict[str, Any]:
        # Sent to another process (a worker, a Ray task) without what it loaded or its lock.
        return {"path": self.path, "manifest": self.manifest,
                "measure_precision": self.measure_precision}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.manifest = state["path"], state["manifest"]
        self.measure_precision = state.get("measure_precision", True)
        self._models, self._dataset, self._lock = {}, None, threading.RLock()
        self._choices = {}

    @classmethod
    def open(cls, name_or_path: str | Path, *, root: str | Path | None = None,
             measure_precision: bool = True) -> Suite:
        """Open by folder path, or by name under ``root`` (default :func:`models_root`).
        ``measure_precision`` as for the constructor.

        A name must stay under ``root`` (:func:`dermviz.store.resolve_within`):
        ``..``, absolute paths and symlinks out of it are refused.

        Raises
        ------
        SuiteNotFoundError
            Neither a suite folder nor the name of a suite under ``root``.
        ValueError
            A name that would leave ``root``.
        """
        candidate = Path(name_or_path)
        if (candidate / MANIFEST).is_file():
            return cls(candidate, measure_precision=measure_precision)
        root = Path(root) if root is not None else models_root()
        path = resolve_within(root, name_or_path)
        if not (path / MANIFEST).is_file():
            names = [s.path.name for s in list_suites(root)]
            raise SuiteNotFoundError(
                f"no suite {str(name_or_path)!r} under {root} (suites there: "
                f"{', '.join(names) if names else 'none'}); build one with 'dermviz demo' "
                "or 'dermviz train', or pass --models-dir / set DERMVIZ_MODELS"
            )
        return cls(path, measure_precision=measure_precision)

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

    def adapter(self, member_id: str) -> ModelAdapter:
        """How the member meets dermviz's model contract (:mod:`dermviz.models.adapter`):
        the adapter its manifest entry records, else a dermviz member's on the suite's
        GradCAM layer."""
        return adapter_of(self.member(member_id), default_layer=self.config.get("gradcam_layer"))

    @property
    def imported(self) -> bool:
        """Whether the suite's members were trained elsewhere (``dermviz import``)."""
        return "imported" in self.manifest

    def load_model(self, member_id: str, *, precision: str | None = None) -> Any:
        """The member's Keras model (safe mode, not compiled), through its adapter
        (:meth:`adapter`: an imported member comes adapted to dermviz's contract), in the
        arithmetic chosen for it (:meth:`precision_choice`): the saved float32 model, or
        its bfloat16 twin (same weights), marked for XLA where that was chosen.

        Parameters
        ----------
        precision : {"auto", "float32", "bfloat16"}, optional
            Default: ``DERMVIZ_PRECISION``, else ``auto``
            (:func:`dermviz.models.precision_choice.requested_mode`).

        Raises
        ------
        KeyError
            The suite has no such (completed) member.
        MemberModelError
            Its ``model.keras`` is missing, damaged, or holds code that safe
            mode refuses (e.g. a ``Lambda`` layer); the message says how to
            retrain the member.
        """
        from dermviz.models.precision_choice import requested_mode, working_model

        model = self.load_float32_model(member_id)
        mode = requested_mode(precision)
        if mode == "float32":
            return model
        # A forced precision is used as asked (its disagreement is measured when asked
        # for, by precision_choice); auto measures here on first use.
        return working_model(model, self.precision_choice(
            member_id, precision=precision, model=model,
            measure=mode == "auto" and self.measure_precision),
            layer=self.adapter(member_id).layer)

    def load_float32_model(self, member_id: str) -> Any:
        """The member's saved float32 model, as :meth:`load_model` (same errors)."""
        self.member(member_id)
        path = self.model_path(member_id)
        if not path.is_file():
            raise MemberModelError(self._broken_member(member_id, f"{path} is missing"))
        if not zipfile.is_zipfile(path):  # Keras would say "File not found"
            reason = (f"{path} is damaged (not a complete .keras archive; "
                      f"{path.stat().st_size} bytes)")
            raise MemberModelError(self._broken_member(member_id, reason))
        adapter = self.adapter(member_id)
        try:
            return adapt(load_member_model(path, trusted=adapter.trusted), adapter)
        except Exception as exc:  # Keras raises many types (ValueError, OSError, ...)
            reason = f"{path} cannot be loaded ({type(exc).__name__}: {exc})"
            raise MemberModelError(self._broken_member(member_id, reason)) from exc

    def precision_key(self, member_id: str) -> dict[str, Any]:
        """The choice cache's key of a member (:func:`~dermviz.models.precision_choice.
        member_key`): this machine, the suite's image size and layer, the trained weights."""
        from dermviz.models.precision_choice import member_key

        entry = self.member(member_id)
        return member_key(image_size=self.image_size, layer=self.adapter(member_id).layer,
                          member={"suite": str(self.path.resolve()), "id": member_id,
                                  "trained": entry.get("trained")})

    def precision_probe(self) -> Any:
        """The fixed probe batch of the precision choice: the first
        :data:`PRECISION_PROBE` hold-out images, float32 in [0, 255]."""
        data = self.dataset()
        ids = list(data.holdout["image_id"])[:PRECISION_PROBE]
        return data.load_images(ids, size=self.image_size).astype("float32")

    def precision_choice(self, member_id: str, *, precision: str | None = None,
                         model: Any = None, measure: bool = True) -> Any:
        """The arithmetic the member runs in here (a
        :class:`~dermviz.models.precision_choice.PrecisionChoice`).

        ``auto``: the cached measurement, else (``measure``) measured now on the float32
        ``model`` (loaded if not given) and the probe batch, and cached. Forced
        ``bfloat16``: its disagreement on the probe batch is measured (when ``measure``)
        and reported, not used to refuse it. ``measure=False`` never loads a model: an
        ``auto`` member not measured yet reads as float32 (what it runs in until measured).
        """
        from dermviz.models import precision_choice as pc

        mode = pc.requested_mode(precision)
        with self._lock:
            known = self._choices.get((member_id, mode))
        if known is not None:
            return known
        choice = None
        if mode == "float32":
            choice = pc.PrecisionChoice("float32", False, "forced", 0.0, True)
        elif mode == "auto":
            choice = pc.stored_choice(self.precision_key(member_id))
            if choice is None and not measure:
                return pc.PrecisionChoice("float32", False, "not measured yet", None, None)
        elif not measure:
            return pc.PrecisionChoice(mode, False, "forced", None, None)
        if choice is None:
            model = model if model is not None else self.load_float32_model(member_id)
            probe = self.precision_probe()
            choice = (pc.measured_choice(model, probe, key=self.precision_key(member_id))
                      if mode == "auto" else pc.forced_choice(
                          model, probe, mode, layer=self.adapter(member_id).layer))
        with self._lock:
            self._choices[(member_id, mode)] = choice
        return choice

    def model(self, member_id: str) -> Any:
        """The member's model, loaded on first use and kept by this object.

        As :meth:`load_model` (same errors), for callers that reuse the object; call
        :meth:`load_model` for a fresh copy to modify.
        """
        with self._lock:
            if member_id not in self._models:
                self._models[member_id] = self.load_model(member_id)
            return self._models[member_id]

    def _broken_member(self, member_id: str, reason: str) -> str:
        # A member is retrained on resume when its folder is gone (member.json absent).
        return (
            f"member {member_id!r} of suite {self.name!r}: {reason}. To retrain it, delete "
            f"the folder {self.member_dir(member_id)} and rerun the command that built the "
            "suite with the same options (it retrains only members whose folder is gone)"
        )

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

    def dataset(self, *, ham10000_root: str | Path | None = None) -> Dataset:
        """Rebuild the dataset the suite was trained on.

        ``ham10000_root`` points at a HAM10000 copy that moved since training
        (else ``$DERMVIZ_HAM10000`` is tried when the saved folder is gone;
        :func:`dermviz.data.registry.open_dataset`). Without it, the data set is opened
        once per object and kept.
        """
        if ham10000_root is not None:
            return open_dataset(self.dataset_info, ham10000_root=ham10000_root)
        with self._lock:
            if self._dataset is None:
                self._dataset = open_dataset(self.dataset_info)
            return self._dataset

    @property
    def complete(self) -> bool:
        return self.manifest.get("status") == "complete"


def list_suites(root: str | Path | None = None) -> list[Suite]:
    """The suites under ``root`` (default :func:`models_root`), sorted by name.

    Symlinks that lead out of ``root`` are not listed.
    """
    root = Path(root) if root is not None else models_root()
    if not root.is_dir():
        return []
    return [Suite(p) for p in sorted(root.iterdir()) if _inside(root, p.name)
            and (p / MANIFEST).is_file()]


def _inside(root: Path, name: str) -> bool:
    """Whether ``root/name`` stays in ``root`` (a symlink out of it is not listed)."""
    try:
        resolve_within(root, name)
    except ValueError:
        return False
    return True
