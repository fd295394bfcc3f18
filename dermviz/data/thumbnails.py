"""Small JPEG thumbnails of a data set's images, cached on disk.

A browser grid shows hundreds of lesions; decoding every full image on each page
rerun is slow. Thumbnails are made once and kept in one ``.npz`` per data set
and size (``<dataset>-<source hash>-<size>px.npz`` under a cache folder, e.g.
the suite folder's ``thumbnails/``), holding the image ids and their JPEG bytes.
JPEG bytes rather than pixels: ~3 kB instead of 27 kB per 96 px image, and what
a browser displays anyway (:func:`decode_thumbnail` gives pixels back).

Thumbnails keep the image's aspect ratio: the image is fitted into a
``size x size`` square and the rest is filled with a background colour, so every
grid cell has the same shape without distorting the lesion.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from dermviz.store.atomic import write_atomic

DEFAULT_SIZE = 96
DEFAULT_QUALITY = 90


def make_thumbnail(
    image: np.ndarray, *, size: int = DEFAULT_SIZE,
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Fit an RGB ``uint8`` image into a ``(size, size, 3)`` square, aspect kept."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    h, w = image.shape[:2]
    scale = size / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    out = np.empty((size, size, 3), np.uint8)
    out[:] = background
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def encode_jpeg(image: np.ndarray, *, quality: int = DEFAULT_QUALITY) -> bytes:
    """JPEG bytes of an RGB ``uint8`` image."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode_thumbnail(data: bytes) -> np.ndarray:
    """Pixels, ``(H, W, 3) uint8``, of a cached thumbnail."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def thumbnail_cache_path(cache_dir: str | Path, dataset: Any, *, size: int) -> Path:
    """The cache file of ``dataset`` at ``size``; the hash tells data sources apart."""
    source = json.dumps(dataset.source.describe(), sort_keys=True, default=str)
    digest = hashlib.sha256(f"{dataset.name}\n{source}".encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{dataset.name}-{digest}-{size}px.npz"


def _read_cache(path: Path) -> dict[str, bytes]:
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, offsets, blob = data["image_ids"], data["offsets"], data["data"].tobytes()
    except (OSError, ValueError, KeyError):
        return {}  # absent or unreadable: rebuilt
    return {str(i): blob[offsets[k] : offsets[k + 1]] for k, i in enumerate(ids)}


def _write_cache(path: Path, thumbs: dict[str, bytes]) -> None:
    ids = list(thumbs)
    offsets = np.cumsum([0] + [len(thumbs[i]) for i in ids], dtype=np.int64)
    blob = np.frombuffer(b"".join(thumbs[i] for i in ids), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, image_ids=np.asarray(ids, dtype=str), offsets=offsets, data=blob)
    write_atomic(path, lambda fh: fh.write(buf.getvalue()))


def thumbnails(
    dataset: Any, ids: Sequence[str], *, cache_dir: str | Path, size: int = DEFAULT_SIZE,
    quality: int = DEFAULT_QUALITY,
) -> list[bytes]:
    """JPEG thumbnails of ``ids``, in order, made once and cached.

    Parameters
    ----------
    dataset : dermviz.data.dataset.Dataset
        Where the full images come from (``dataset.source.read_image``).
    ids : sequence of str
        Image ids; unknown ids raise ``KeyError``.
    cache_dir : path
        Folder of the cache files.
    size : int
        Side of the square thumbnail, in pixels.
    quality : int
        JPEG quality of newly made thumbnails.

    Returns
    -------
    list of bytes
        JPEG files (show them directly, or :func:`decode_thumbnail`).

    Notes
    -----
    Only missing thumbnails are made; the cache file is then rewritten
    atomically with the old and new ones together.
    """
    ids = [str(i) for i in ids]
    path = thumbnail_cache_path(cache_dir, dataset, size=size)
    cache = _read_cache(path)
    missing = [i for i in dict.fromkeys(ids) if i not in cache]
    if missing:
        for image_id, row in dataset.rows(missing).iterrows():
            thumb = make_thumbnail(dataset.source.read_image(row), size=size)
            cache[str(image_id)] = encode_jpeg(thumb, quality=quality)
        _write_cache(path, cache)
    return [cache[i] for i in ids]
