"""Reading and resizing images and masks.

Resize method (documented choice; the paper's is unknown, docs/protocol.md §3): images are
*squashed* to a square with OpenCV's area interpolation (``cv2.INTER_AREA``), the
anti-aliasing choice for downscaling; upscaling uses bicubic. Squashing keeps the
whole field of view, as the paper's 224x224 arrays appear to. Masks use nearest
neighbour so they stay binary.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB ``uint8`` (H, W, 3); ``OSError`` if unreadable."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if img is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a binary lesion mask (any non-zero pixel is lesion) as ``bool``."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data is not None and data.size else None
    if img is None:
        raise OSError(f"cannot read mask {path}")
    return img > 0


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Squash an RGB ``uint8`` image to (size, size, 3)."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {image.shape}")
    if image.shape[:2] == (size, size):
        return image
    shrinking = image.shape[0] >= size and image.shape[1] >= size
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interp)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Squash a boolean mask to (size, size) with nearest-neighbour sampling."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    out = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    return out.astype(bool)
