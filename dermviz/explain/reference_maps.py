"""Maps that carry no information about the model: the reference every map score is read against.

* :func:`random_map`: uniform noise, which carries no information at all;
* :func:`centre_prior`: a centred Gaussian, which never looks at the image but beats
  chance wherever lesions sit near the centre (dermoscopy).

They live below the layers that score maps (the sanity checks, the localization scores,
the evaluation metrics), so each of them reuses the same definitions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["centre_prior", "random_map"]


def random_map(shape: tuple[int, int], seed: int, *, signed: bool = False) -> np.ndarray:
    """Uniform random noise map.

    Parameters
    ----------
    shape : (int, int)
        Map size (H, W).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    signed : bool
        Values in [-1, 1) instead of [0, 1) (a reference for signed SHAP maps).

    Returns
    -------
    ndarray, float32, (H, W)
    """
    rng = np.random.default_rng(seed)
    m = rng.random(tuple(shape), dtype=np.float32)
    return (2.0 * m - 1.0).astype(np.float32) if signed else m


def centre_prior(shape: tuple[int, int], *, sigma_fraction: float = 0.25) -> np.ndarray:
    """A centred isotropic Gaussian map (max 1), the no-model localisation baseline."""
    if sigma_fraction <= 0:
        raise ValueError(f"sigma_fraction must be > 0, got {sigma_fraction}")
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    sigma = sigma_fraction * min(h, w)
    d2 = (ys - (h - 1) / 2) ** 2 + (xs - (w - 1) / 2) ** 2
    return np.exp(-d2 / (2 * sigma**2))
