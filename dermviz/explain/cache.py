"""The saliency-map cache: :class:`SaliencyMaps` kept one image per file in an array store.

Layout (unchanged since the first caches):
``<root>/<member>/<method>/<params-hash>/<image_id>.npz``, ``root`` normally the
suite folder's ``maps/`` (:attr:`dermviz.models.suite.Suite.map_store`). Each
file holds the arrays ``map``, ``target_class``, ``p_melanoma``, one
``extra__<name>`` per method-specific array, and a meta record with the method,
its parameters, the grid and the warnings. Reading a map imports no saliency
method (and no TensorFlow).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.explain.maps import SaliencyMaps
from dermviz.models.suite import Suite
from dermviz.store import ArrayRecord, ArrayStore, DamagedFileWarning, params_key

_EXTRA = "extra__"


def with_precision(params: dict[str, Any], precision: str) -> dict[str, Any]:
    """``params`` as stored for maps computed in ``precision``: float32 maps carry no
    ``precision`` key (as every map before issue 25), other precisions name theirs.

    Raises
    ------
    ValueError
        For an unknown precision.
    """
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
    rest = {k: v for k, v in params.items() if k != "precision"}
    return rest if precision == "float32" else {**rest, "precision": precision}


def maps_to_records(maps: SaliencyMaps) -> list[ArrayRecord]:
    """One record per image of the batch ``maps``."""
    meta = {"method": maps.method, "params": maps.params, "grid": maps.grid,
            "warnings": maps.warnings}
    records = []
    for k in range(len(maps)):
        arrays = {
            "map": maps.maps[k],
            "target_class": maps.target_class[k],
            "p_melanoma": maps.p_melanoma[k],
        }
        arrays.update({f"{_EXTRA}{name}": arr[k] for name, arr in maps.extras.items()})
        records.append(ArrayRecord(arrays=arrays, meta=meta))
    return records


def maps_from_record(record: ArrayRecord) -> SaliencyMaps:
    """The image of one record as a batch of one.

    Raises
    ------
    KeyError
        The record lacks an array or meta field of a saliency map.
    """
    arrays, meta = record.arrays, record.meta
    return SaliencyMaps(
        method=meta["method"],
        maps=arrays["map"][None],
        target_class=np.atleast_1d(arrays["target_class"]),
        p_melanoma=np.atleast_1d(arrays["p_melanoma"]),
        grid=tuple(meta["grid"]) if meta["grid"] else None,
        params=meta["params"],
        extras={name.removeprefix(_EXTRA): arr[None]
                for name, arr in arrays.items() if name.startswith(_EXTRA)},
        warnings=meta["warnings"],
    )


class MapCache:
    """Cache of :class:`SaliencyMaps` by (member, image id, method, parameters).

    Parameters
    ----------
    store : ArrayStore or path
        The array store (or its folder) that holds the maps.

    Examples
    --------
    >>> cache = MapCache.of(suite)  # doctest: +SKIP
    >>> cache.get("m00", "ISIC_0024306", "gradcam", {"layer": "mixed7"})  # doctest: +SKIP
    """

    def __init__(self, store: ArrayStore | str | Path, *,
                 precision_of: Callable[[str], str] | None = None) -> None:
        self.store = store if isinstance(store, ArrayStore) else ArrayStore(store)
        self._precision_of = precision_of

    @classmethod
    def of(cls, suite: Suite) -> MapCache:
        """The cache of a suite (its ``maps/`` folder).

        Its lookups ask for each member's maps in the arithmetic the member runs in here
        (:meth:`Suite.precision_choice`, never measuring): a member that runs in bfloat16
        finds its bfloat16 maps, never float32 ones, and the other way round.
        """
        return cls(suite.map_store, precision_of=lambda member: suite.precision_choice(
            member, measure=False).precision)

    @property
    def root(self) -> Path:
        return self.store.root

    @staticmethod
    def key(member: str, image_id: str, method: str, params: dict[str, Any]) -> tuple[str, ...]:
        """The store key of one map; ``params`` enter as a short stable hash."""
        return (member, method, params_key(params), image_id)

    def path(self, member: str, image_id: str, method: str, params: dict[str, Any]) -> Path:
        """The file of one map (whether it exists or not).

        Raises
        ------
        ValueError
            A member, image id or method that is not a safe file name.
        """
        return self.store.path(self.key(member, image_id, method, params))

    def put(self, member: str, image_ids: Sequence[str], maps: SaliencyMaps) -> None:
        """Store each image of the batch ``maps`` under its id (atomically)."""
        if len(image_ids) != len(maps):
            raise ValueError(f"{len(image_ids)} ids for {len(maps)} maps")
        for image_id, record in zip(image_ids, maps_to_records(maps), strict=True):
            self.store.put(self.key(member, image_id, maps.method, maps.params), record)

    def get(
        self, member: str, image_id: str, method: str, params: dict[str, Any]
    ) -> SaliencyMaps | None:
        """The cached map for one image as a batch of one, or None on a miss.

        A damaged file, or one that holds no map, warns
        (:class:`~dermviz.store.DamagedFileWarning`, naming it) and is a miss.
        """
        if self._precision_of is not None and "precision" not in params:
            params = with_precision(params, self._precision_of(member))
        key = self.key(member, image_id, method, params)
        record = self.store.get(key)
        if record is None:
            return None
        try:
            return maps_from_record(record)
        except (KeyError, TypeError, IndexError) as exc:
            warnings.warn(f"store entry {self.store.path(key)} holds no saliency map "
                          f"(missing {exc}); treated as missing and recomputed",
                          DamagedFileWarning, stacklevel=2)
            return None

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
