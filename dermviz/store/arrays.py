"""A keyed store of named arrays: one ``.npz`` file per key, plus a JSON meta record.

A key is a sequence of safe path parts; the last part names the file:
``("m00", "gradcam", "3f2a...", "ISIC_0024306")`` is stored at
``<root>/m00/gradcam/3f2a.../ISIC_0024306.npz``. The file holds the record's
arrays under their names and its meta dict, as a JSON string, under ``"meta"``.
Writes are atomic; a file that fails to load counts as a miss, reported with a
:class:`DamagedFileWarning` naming it. The store knows nothing of what the
arrays mean.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.store.atomic import write_atomic

_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: The array name that holds a record's meta dict (so no array may use it).
META = "meta"


class DamagedFileWarning(UserWarning):
    """A stored file could not be read (truncated or corrupt); it is treated as absent."""


def params_key(params: Mapping[str, Any]) -> str:
    """Short stable hash of a JSON-serialisable dict (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class ArrayRecord:
    """What one key holds: named arrays and a JSON-serialisable meta dict."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)


class ArrayStore:
    """Records of named arrays under keys of safe path parts.

    Parameters
    ----------
    root : path
        Folder of the store (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: Sequence[str]) -> Path:
        """The file of ``key``.

        Raises
        ------
        ValueError
            An empty key, or a part that is not a safe file name (letters,
            digits, ``_``, ``.`` and ``-``; not ``.`` or ``..``).
        """
        if isinstance(key, str) or not key:
            raise ValueError(f"a key is a non-empty sequence of path parts, got {key!r}")
        for part in key:
            if not isinstance(part, str) or not _SAFE.match(part) or part in (".", ".."):
                raise ValueError(f"key part {part!r} is not a safe file name")
        return self.root.joinpath(*key[:-1], f"{key[-1]}.npz")

    def put(self, key: Sequence[str], record: ArrayRecord) -> None:
        """Write ``record`` under ``key`` atomically (replacing what was there)."""
        if META in record.arrays:
            raise ValueError(f"the array name {META!r} is reserved for the meta record")
        arrays = {**record.arrays, META: np.array(json.dumps(record.meta))}
        write_atomic(self.path(key), lambda fh: np.savez(fh, **arrays))

    def get(self, key: Sequence[str]) -> ArrayRecord | None:
        """The record under ``key``, or None when absent or unreadable.

        An unreadable file (truncated, corrupt) is reported with a
        :class:`DamagedFileWarning` that names it, then treated as absent so
        that the caller recomputes and overwrites it.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data[META]))
                arrays = {name: data[name] for name in data.files if name != META}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            warnings.warn(f"damaged store entry {path} ({type(exc).__name__}: {exc}); "
                          "treated as missing and recomputed", DamagedFileWarning, stacklevel=2)
            return None
        return ArrayRecord(arrays=arrays, meta=meta)
