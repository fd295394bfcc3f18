"""Saving and reading sanity-check results (one folder per study).

A study folder holds ``table.csv`` (the long table), ``predictions.csv``,
``arrays.npz`` (images, maps, baselines) and ``study.json`` (the spec and the
rest), written last: a folder without it is incomplete. Every file is written
atomically (:func:`dermviz.store.atomic.write_atomic`). Reading needs no Keras.

Format 2 stores the typed spec (:meth:`~dermviz.sanity.base.SanitySpec.to_json`).
Format 1 folders (before the typed specs) are still read: their specs are
converted, so they list and display as before; :func:`dermviz.sanity.run` does
not find them as cache hits (their folder names differ) and recomputes.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.sanity.base import SanitySpec, get_check, spec_from_dict

# Importing the checks package registers the built-in checks (spec_from_dict, get_check).
from dermviz.sanity.checks import CrossModelSpec, RandomizationSpec, ReproducibilitySpec
from dermviz.store.atomic import read_json, write_atomic, write_json

__all__ = [
    "META", "StudyDamagedError", "export_csv", "find_damage", "load_study", "read_meta",
    "save_study",
]

#: The file that marks a complete study folder.
META = "study.json"
_TABLE = "table.csv"
_PREDICTIONS = "predictions.csv"
_ARRAYS = "arrays.npz"
_FORMAT = 2
_READABLE = (1, 2)


class StudyDamagedError(ValueError):
    """A saved study's files are truncated or corrupt; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"saved study {path.parent.name} is damaged: {path} ({reason}); delete the folder "
            f"{path.parent} and run the study again"
        )
        self.path = path
        self.reason = reason


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    data = df.to_csv(index=False).encode()
    write_atomic(path, lambda fh: fh.write(data))


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    write_atomic(path, lambda fh: fh.write(data))


def _versions() -> dict[str, str]:
    out = {}
    for package in ("dermviz", "keras"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def export_csv(result: Any, path: str | Path) -> Path:
    """Write a result's long table to ``path`` as CSV (atomically); return the path."""
    path = Path(path)
    _write_csv(path, result.table)
    return path


def save_study(result: Any, folder: str | Path) -> Path:
    """Save a result to ``folder``: ``table.csv``, ``predictions.csv``,
    ``arrays.npz`` and ``study.json`` (written last).

    ``result`` is any registered check's result (it has ``to_saved()``); its
    ``spec`` (None for a comparison run on arrays directly) is stored too.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spec: SanitySpec | None = getattr(result, "spec", None)
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "kind": result.kind,
        "spec": spec.to_json() if spec is not None else None,
        "key": spec.key() if spec is not None else None,
        "method": result.method,
        "signed": result.signed,
        "image_ids": list(result.image_ids),
        "warnings": list(result.warnings),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    extra, arrays = result.to_saved()
    meta.update(extra)
    _write_npz(folder / _ARRAYS, {"images": result.images, **arrays})
    _write_csv(folder / _TABLE, result.table)
    _write_csv(folder / _PREDICTIONS, result.predictions)
    write_json(folder / META, meta)
    return folder


def read_meta(folder: str | Path) -> dict[str, Any]:
    """A study's ``study.json``, with ``spec`` as a typed spec (or None).

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no complete study.
    ValueError
        If the format is unknown.
    """
    folder = Path(folder)
    if not (folder / META).is_file():
        raise FileNotFoundError(f"no saved study in {folder} (missing {META})")
    try:
        meta = read_json(folder / META)
    except (ValueError, UnicodeDecodeError) as exc:  # truncated or garbled JSON
        raise StudyDamagedError(folder / META, f"not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise StudyDamagedError(folder / META, "not a JSON object")
    fmt = meta.get("format")
    if fmt not in _READABLE:
        raise ValueError(f"unsupported study format {fmt!r} in {folder}")
    try:
        if fmt == 1:
            meta["spec"] = _legacy_spec(meta)
        elif meta.get("spec") is not None:
            meta["spec"] = spec_from_dict(meta["spec"])
    except (KeyError, TypeError) as exc:
        raise StudyDamagedError(folder / META, f"its spec is incomplete: {exc}") from exc
    return meta


def find_damage(folder: str | Path) -> str | None:
    """Why the complete study in ``folder`` cannot be read, or None when it looks whole.

    Cheap (for listings): reads ``study.json`` and checks that the other files
    exist and that ``arrays.npz`` is a whole zip archive; a damaged CSV is only
    found by :func:`load_study`.
    """
    folder = Path(folder)
    try:
        read_meta(folder)
    except StudyDamagedError as exc:
        return str(exc)
    for name in (_TABLE, _PREDICTIONS, _ARRAYS):
        if not (folder / name).is_file():
            return str(StudyDamagedError(folder / name, "missing"))
    if not zipfile.is_zipfile(folder / _ARRAYS):
        return str(StudyDamagedError(folder / _ARRAYS, "not a complete .npz archive"))
    return None


def _legacy_spec(meta: Mapping[str, Any]) -> SanitySpec | None:
    """The typed spec of a format-1 study (before typed specs), or None."""
    if meta["kind"] == "randomization":
        return RandomizationSpec.from_dict(meta["spec"])
    old = meta.get("params", {}).get("spec")
    if not old:
        return None
    common = dict(
        image_ids=old["image_ids"], method=old["method"], method_params=old["params"],
        similarities=old["similarities"], seed=old["seed"],
    )
    if meta["kind"] == "reproducibility":
        return ReproducibilitySpec(
            member_id=old["member"], runs=len(old["members"]),
            threshold=old["thresholds"][old["member"]], **common,
        )
    return CrossModelSpec(
        member_ids=old["members"], reference=old["member"], thresholds=old["thresholds"],
        **common,
    )


def load_study(folder: str | Path) -> Any:
    """Read a result written by :func:`save_study` (format 2, or the older format 1).

    Returns
    -------
    RandomizationResult or ComparisonResult
        The registered result type of the study's kind.

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no complete study (no ``study.json``).
    StudyDamagedError
        A file of the study is missing, truncated or corrupt (named in the message).
    """
    folder = Path(folder)
    meta = read_meta(folder)
    str_cols = {"image_id": str, "stage_name": str, "a": str, "b": str, "source": str,
                "member": str, "method": str}
    table = _read(folder / _TABLE, lambda p: pd.read_csv(
        p, dtype=str_cols, keep_default_na=False, na_values=[""]))
    predictions = _read(folder / _PREDICTIONS, lambda p: pd.read_csv(p, dtype=str_cols))
    arrays = _read(folder / _ARRAYS, _read_npz)
    return get_check(meta["kind"]).result_type.from_saved(
        meta["spec"],
        meta,
        arrays,
        method=meta["method"],
        signed=bool(meta["signed"]),
        image_ids=list(meta["image_ids"]),
        images=arrays["images"],
        table=table,
        predictions=predictions,
        warnings=list(meta["warnings"]),
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _read(path: Path, read: Callable[[Path], Any]) -> Any:
    """``read(path)``, with any failure to parse it raised as :class:`StudyDamagedError`."""
    if not path.is_file():
        raise StudyDamagedError(path, "missing")
    try:
        return read(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, pd.errors.ParserError,
            pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StudyDamagedError(path, f"{type(exc).__name__}: {exc}") from exc
