"""A suite's images: at the models' size, as stored, as thumbnails; their lesion and
artefact masks; and images uploaded from outside the suite."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dermviz.api.suites import suite_dataset
from dermviz.data import thumbnails as thumbs
from dermviz.data.images import resize_image
from dermviz.data.synthetic import load_artefact_masks
from dermviz.data.upload import FORMATS as UPLOAD_FORMATS
from dermviz.data.upload import MAX_BYTES as MAX_UPLOAD_BYTES
from dermviz.data.upload import UploadError, decode_upload
from dermviz.models.suite import Suite

__all__ = [
    "MAX_UPLOAD_BYTES",
    "UPLOAD_FORMATS",
    "UploadError",
    "artefact_mask",
    "image",
    "lesion_mask",
    "original_image",
    "thumbnails",
    "upload_image",
]


def image(suite: Suite, image_id: str) -> np.ndarray:
    """One image as the members see it: ``(size, size, 3)`` ``uint8`` at the suite's size."""
    return suite_dataset(suite).load_images([image_id], size=suite.image_size)[0]


def original_image(suite: Suite, image_id: str) -> np.ndarray:
    """One image at the data set's own resolution (not resized for the models)."""
    dataset = suite_dataset(suite)
    return dataset.source.read_image(dataset.rows([image_id]).iloc[0])


def lesion_mask(suite: Suite, image_id: str) -> np.ndarray | None:
    """The lesion mask at the suite's image size, or None where the image has none."""
    dataset = suite_dataset(suite)
    if not bool(dataset.rows([image_id]).iloc[0]["has_mask"]):
        return None
    return dataset.load_masks([image_id], size=suite.image_size)[0]


def artefact_mask(suite: Suite, image_id: str, name: str) -> np.ndarray:
    """One synthetic image's ``name`` artefact pixels (e.g. ``"ink"``) at the suite's size."""
    masks = load_artefact_masks(suite_dataset(suite), [image_id], size=suite.image_size)
    return masks[name][0]


def thumbnails(suite: Suite, image_ids: Sequence[str]) -> list[bytes]:
    """JPEG thumbnails of ``image_ids``, in order, from the suite's ``thumbnails/`` cache
    (made once)."""
    return thumbs.thumbnails(suite_dataset(suite), list(image_ids),
                             cache_dir=suite.path / "thumbnails")


def upload_image(data: bytes, *, filename: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An uploaded JPEG or PNG, checked and decoded (:func:`dermviz.data.upload.decode_upload`),
    and the same squashed to ``size`` px as the members see it.

    Returns
    -------
    original : (H, W, 3) uint8
    resized : (size, size, 3) uint8

    Raises
    ------
    UploadError
        Not an image the dashboard accepts; the message says why.
    """
    original = decode_upload(data, filename=filename)
    return original, resize_image(original, size)
