"""Drawing primitives of the synthetic renderer: noise fields and alpha blending.

Images are float32 RGB arrays in [0, 255] that the primitives change in place. A
structure is drawn as a ``uint8`` coverage layer (OpenCV's anti-aliased shapes draw
into one) and blended with :func:`blend_layer`; the layer's non-zero pixels are the
structure's footprint.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=8)
def pixel_grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xs, ys)``: float32 (height, width) pixel coordinates (shared, do not modify)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def grid_shape(width: int, height: int, cells: int) -> tuple[int, int]:
    """``(columns, rows)`` of a coarse grid with ``cells`` cells along the longer side."""
    longest = max(width, height)
    return max(2, round(cells * width / longest)), max(2, round(cells * height / longest))


def smooth_field(
    rng: np.random.Generator, width: int, height: int, cells: int, channels: int = 1
) -> np.ndarray:
    """Low-frequency noise, about N(0, 1), shape (H, W) or (H, W, channels)."""
    gw, gh = grid_shape(width, height, cells)
    small = rng.standard_normal((gh, gw, channels), dtype=np.float32)
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return out.reshape(height, width, channels) if channels > 1 else out.reshape(height, width)


def composite(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: ``img = img * (1 - alpha) + colour * alpha`` (colour may be an image)."""
    a = alpha[..., None]
    img *= 1.0 - a
    img += a * colour


def blend_layer(img: np.ndarray, layer: np.ndarray, colour: np.ndarray, opacity: float) -> None:
    """In place: blend ``colour`` where the ``uint8`` coverage ``layer`` is non-zero."""
    ys, xs = np.nonzero(layer)
    if ys.size == 0:
        return
    a = layer[ys, xs].astype(np.float32)[:, None] * (opacity / 255.0)
    img[ys, xs] = img[ys, xs] * (1.0 - a) + colour * a
