"""A decoded ``uint8`` image cache on disk, read batch by batch.

The training pool and the hold-out are decoded (and resized) once per suite into
plain ``.npy`` files, ``(n, size, size, 3) uint8``, next to a JSON list of their
image ids. GradMask training also caches the pool's lesion masks the same way,
``(n, size, size) uint8`` (1 on the lesion; all ones for an image without a mask).

Trials read rows with ``os.pread``: no array of the split is ever held
in memory, and unlike a memory map the pages read do not count towards the
process's resident memory, so a trial's peak memory does not grow with the data.

Files are written sequentially and atomically (a temporary file renamed into
place), so an interrupted build leaves no half-written cache: it is rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dermviz.data.splits import apply_augmentation, augment_mask
from dermviz.store.atomic import atomic_path, write_json


def cache_paths(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.npy", folder / f"{name}.ids.json"


def build_cache(
    dataset: Any, ids: Sequence[str], folder: str | Path, name: str, *, size: int,
    batch_size: int = 64, progress: bool = False, masks: bool = False,
) -> Path:
    """Decode ``ids`` into ``folder/<name>.npy`` (once); return its path.

    With ``masks``, the lesion masks (``(n, size, size)``, 1 on the lesion, all ones
    where an image has none) instead of the images. An existing cache with the same
    ids, kind and image size is reused.
    """
    folder = Path(folder)
    npy, ids_path = cache_paths(folder, name)
    ids = [str(i) for i in ids]
    if _valid(npy, ids_path, ids, size, masks):
        return npy
    ids_path.unlink(missing_ok=True)
    shape = (len(ids), size, size) if masks else (len(ids), size, size, 3)
    kind = "masks" if masks else "images"
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
              "fortran_order": False, "shape": shape}
    with atomic_path(npy, suffix=".npy") as tmp, open(tmp, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        bar = tqdm(total=len(ids), desc=f"decoding {name} {kind}", unit="img",
                   disable=not progress, leave=False)
        for start in range(0, len(ids), batch_size):
            part = ids[start : start + batch_size]
            chunk = (dataset.load_masks(part, size=size, missing="ones") if masks
                     else dataset.load_images(part, size=size))
            fh.write(np.ascontiguousarray(chunk, dtype=np.uint8).tobytes())
            bar.update(len(chunk))
        bar.close()
        fh.flush()
        os.fsync(fh.fileno())
    write_json(ids_path, {"size": size, "kind": kind, "ids": ids})
    return npy


def _valid(npy: Path, ids_path: Path, ids: list[str], size: int, masks: bool) -> bool:
    if not (npy.is_file() and ids_path.is_file()):
        return False
    try:
        meta = json.loads(ids_path.read_text())
        reader = ImageCache(npy)
    except (OSError, ValueError):
        return False
    shape = (len(ids), size, size) if masks else (len(ids), size, size, 3)
    return meta.get("ids") == ids and meta.get("size") == size and reader.shape == shape


class ImageCache:
    """Random row access to a ``uint8`` ``.npy`` cache (images ``(n, H, W, C)`` or
    masks ``(n, H, W)``) without loading it."""

    def __init__(self, path: str | Path) -> None:
        self._fd: int | None = None
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if dtype != np.uint8 or fortran or len(shape) not in (3, 4):
            raise ValueError(f"{self.path} is not a (n, H, W[, C]) uint8 image cache")
        self.shape = tuple(int(s) for s in shape)
        self.row_bytes = int(np.prod(self.shape[1:]))
        expected = self.offset + self.shape[0] * self.row_bytes
        if self.path.stat().st_size != expected:
            raise ValueError(f"{self.path} is truncated ({self.path.stat().st_size} bytes, "
                             f"expected {expected})")

    def __len__(self) -> int:
        return self.shape[0]

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    def read(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows ``rows`` (in that order) as a new ``(k, H, W, C) uint8`` array."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        flat = out.reshape(len(rows), -1)
        fd = self._file()
        n = self.shape[0]
        for k, r in enumerate(rows):
            if not 0 <= r < n:
                raise IndexError(f"row {r} out of range for a cache of {n} images")
            data = os.pread(fd, self.row_bytes, self.offset + int(r) * self.row_bytes)
            flat[k] = np.frombuffer(data, dtype=np.uint8)
        return out

    def __getitem__(self, item: slice) -> np.ndarray:
        """Slices only (``cache[a:b]``), so that it can stand in for an array in
        :func:`dermviz.models.predict.predict_proba`."""
        if not isinstance(item, slice):
            raise TypeError("ImageCache supports slices; use read(rows) for index lists")
        return self.read(np.arange(len(self))[item])


def iter_batches(
    cache: ImageCache, rows: np.ndarray, y: np.ndarray, *, batch_size: int,
    weights: np.ndarray | None = None, augs: Sequence[str | None] | None = None,
    shuffle_seed: int | None = None, flips: bool = False, masks: ImageCache | None = None,
) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """One pass over ``rows`` in batches of ``(uint8 images, y float32, weight float32)``.

    ``shuffle_seed`` (None: keep the order) draws the order and, with ``flips``,
    a random left-right and up-down flip per image: everything is a pure function
    of the seed. ``augs`` are paper-style augmentation strings applied on the fly.
    With ``masks`` (a mask cache with the same rows as ``cache``), batches are
    ``((images, masks), y, weight)``, each mask flipped with its image.
    """
    if masks is not None and (len(masks) != len(cache) or masks.shape[1:] != cache.shape[1:3]):
        raise ValueError(f"the mask cache {masks.shape} does not match the image cache "
                         f"{cache.shape}")
    rows = np.asarray(rows, dtype=np.int64)
    y = np.asarray(y, dtype=np.float32)
    w = np.ones(len(rows), np.float32) if weights is None else np.asarray(weights, np.float32)
    order = np.arange(len(rows))
    rng = None
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        order = rng.permutation(len(rows))
    flip_draws = rng.integers(0, 2, size=(len(rows), 2)) if (flips and rng is not None) else None
    for start in range(0, len(order), batch_size):
        pick = order[start : start + batch_size]
        x = cache.read(rows[pick])
        m = masks.read(rows[pick]) if masks is not None else None
        if augs is not None:
            for k, j in enumerate(pick):
                if augs[j]:
                    x[k] = apply_augmentation(x[k], augs[j])
                    if m is not None:
                        m[k] = augment_mask(m[k], augs[j])
        if flip_draws is not None:
            for k in range(len(pick)):
                lr, ud = flip_draws[start + k]
                for arr in (x, m) if m is not None else (x,):
                    if lr:
                        arr[k] = arr[k, :, ::-1]
                    if ud:
                        arr[k] = arr[k, ::-1]
        yield ((x, m) if m is not None else x), y[pick], w[pick]
