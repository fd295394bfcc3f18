"""Shades of Gray colour constancy (Finlayson and Trezzi 2004).

The illuminant of an image is estimated per channel as the Minkowski p-norm mean of its
pixels, ``e_c = (mean(I_c ** p)) ** (1 / p)``; each channel is then scaled so that the
estimate becomes neutral grey (von Kries). ``p = 1`` is Grey World, ``p -> inf`` is
max-RGB; ``p = 6`` was the authors' best and what leading ISIC 2018-2019 entries used.
It removes a global colour cast, one of the things a camera or a clinic leaves on every
image it takes (docs/confounders.md).

References
----------
.. [1] Finlayson and Trezzi, "Shades of Gray and Colour Constancy", IS&T/SID Twelfth
   Color Imaging Conference, 2004.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_POWER", "illuminant", "shades_of_gray"]

#: The Minkowski norm's power (Finlayson and Trezzi's best).
DEFAULT_POWER = 6.0


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim not in (3, 4) or images.shape[-1] != 3:
        raise ValueError(f"expected RGB images (H, W, 3) or (n, H, W, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {images.dtype}")
    return images


def illuminant(images: np.ndarray, *, power: float = DEFAULT_POWER) -> np.ndarray:
    """The illuminant estimate per image: a unit-norm RGB vector.

    Parameters
    ----------
    images : ndarray of uint8, (H, W, 3) or (n, H, W, 3)
    power : float, default 6
        The Minkowski norm's power, >= 1 (``numpy.inf`` for max-RGB).

    Returns
    -------
    ndarray of float64, (3,) or (n, 3)
    """
    images = _check_images(images)
    if not power >= 1:
        raise ValueError(f"power must be >= 1 (inf allowed), got {power}")
    x = images.astype(np.float64) / 255.0
    axes = (-3, -2)
    if np.isinf(power):
        e = x.max(axis=axes)
    else:
        e = (x**power).mean(axis=axes) ** (1.0 / power)
    norm = np.linalg.norm(e, axis=-1, keepdims=True)
    # A black image has no colour cast to remove: call its illuminant neutral.
    neutral = np.full_like(e, 1 / np.sqrt(3))
    return np.where(norm > 0, e / np.where(norm > 0, norm, 1), neutral)


def shades_of_gray(images: np.ndarray, *, power: float = DEFAULT_POWER) -> np.ndarray:
    """Colour-correct images with Shades of Gray.

    Each channel is multiplied by ``1 / (sqrt(3) * e_c)`` for the unit-norm illuminant
    ``e`` (:func:`illuminant`), so a neutral illuminant leaves the image unchanged, and the
    result is clipped to [0, 255].

    Parameters
    ----------
    images, power
        As for :func:`illuminant`; each image is corrected by its own illuminant.

    Returns
    -------
    ndarray of uint8, the shape of ``images``
    """
    images = _check_images(images)
    e = illuminant(images, power=power)
    # A channel absent from the image (e_c = 0) stays absent rather than dividing by zero.
    gain = np.where(e > 0, 1.0 / (np.sqrt(3) * np.where(e > 0, e, 1)), 1.0)
    out = images.astype(np.float64) * gain[..., None, None, :]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
