""" "No information" reference maps included in every sanity-check result.

A similarity score means little on its own: two unrelated maps of the same
image can still score high (docs/protocol.md §14.13: the paper's overlay SSIM gave 0.86
for a hot-spot against an all-zero map). Every study therefore also scores the
trained model's map against

* :func:`random_map` (defined in :mod:`dermviz.explain.reference_maps`): uniform
  noise, which carries no information at all;
* :func:`edge_map`: the image's edge strength, which an edge detector produces
  without any model (Adebayo et al. showed that several saliency methods are
  close to one).

A randomized model whose maps score no lower than these references has, for
that measure, lost whatever the trained model's map showed.

References
----------
.. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray
from skimage.filters import sobel

from dermviz.explain.reference_maps import random_map  # re-exported: its home moved down

__all__ = ["BASELINES", "edge_map", "random_map"]


def edge_map(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grayscale image, scaled to [0, 1].

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        RGB with values in [0, 255].

    Returns
    -------
    ndarray, float32, (H, W)
        Divided by its maximum; all zeros for a flat image.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    gray = rgb2gray(image.astype(np.float64) / 255.0)
    edges = sobel(gray)
    peak = float(edges.max())
    if peak <= 0:
        return np.zeros(gray.shape, dtype=np.float32)
    return (edges / peak).astype(np.float32)


#: Baseline name -> how to make it for one image: ``f(image, seed, signed)``.
BASELINES = {
    "random": lambda image, seed, signed: random_map(image.shape[:2], seed, signed=signed),
    "edge": lambda image, seed, signed: edge_map(image),
}
