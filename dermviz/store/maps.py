"""On-disk cache of saliency maps.

One ``.npz`` file per (suite, member, image, method, parameters):
``<root>/<member>/<method>/<params-hash>/<image_id>.npz``. ``root`` is normally
the suite folder's ``maps/``, so the suite name is part of every path. Writes
are atomic; a file that fails to load counts as a miss and is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.explain.base import SaliencyMaps
from dermviz.store.atomic import write_atomic

_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def params_key(params: dict[str, Any]) -> str:
    """Short stable hash of a JSON-serialisable parameter dict."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class MapStore:
    """Cache of :class:`SaliencyMaps`, one image per file.

    Parameters
    ----------
    root : path
        Folder of the cache (created on first write).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, member: str, image_id: str, method: str, params: dict[str, Any]) -> Path:
        for label, value in (("member", member), ("image_id", image_id), ("method", method)):
            if not _SAFE.match(value):
                raise ValueError(f"{label} {value!r} is not a safe file name")
        return self.root / member / method / params_key(params) / f"{image_id}.npz"

    def put(self, member: str, image_ids: Sequence[str], maps: SaliencyMaps) -> None:
        """Store each image of the batch ``maps`` under its id (atomically)."""
        if len(image_ids) != len(maps):
            raise ValueError(f"{len(image_ids)} ids for {len(maps)} maps")
        meta = json.dumps(
            {"method": maps.method, "params": maps.params, "grid": maps.grid,
             "warnings": maps.warnings}
        )
        for k, image_id in enumerate(image_ids):
            arrays = {
                "map": maps.maps[k],
                "target_class": maps.target_class[k],
                "p_melanoma": maps.p_melanoma[k],
                "meta": np.array(meta),
            }
            arrays.update({f"extra__{name}": arr[k] for name, arr in maps.extras.items()})
            path = self.path(member, image_id, maps.method, maps.params)
            write_atomic(path, lambda fh, a=arrays: np.savez(fh, **a))

    def get(
        self, member: str, image_id: str, method: str, params: dict[str, Any]
    ) -> SaliencyMaps | None:
        """The cached map for one image as a batch of one, or None on a miss."""
        path = self.path(member, image_id, method, params)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                extras = {
                    name.removeprefix("extra__"): data[name][None]
                    for name in data.files
                    if name.startswith("extra__")
                }
                return SaliencyMaps(
                    method=meta["method"],
                    maps=data["map"][None],
                    target_class=np.atleast_1d(data["target_class"]),
                    p_melanoma=np.atleast_1d(data["p_melanoma"]),
                    grid=tuple(meta["grid"]) if meta["grid"] else None,
                    params=meta["params"],
                    extras=extras,
                    warnings=meta["warnings"],
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None  # a damaged entry is a miss; it will be recomputed

    def get_many(
        self, member: str, image_ids: Sequence[str], method: str, params: dict[str, Any]
    ) -> dict[str, SaliencyMaps]:
        """The cached subset of ``image_ids`` (missing ones are absent)."""
        found = {}
        for image_id in image_ids:
            hit = self.get(member, image_id, method, params)
            if hit is not None:
                found[image_id] = hit
        return found
