"""Does a map's top point at what the model uses? Swap it for the counterfactual's pixels.

For an evidence-mode synthetic image (:mod:`dermviz.data.synthetic.evidence`) the
generator knows the same image without its evidence, its *counterfactual*. Replacing the
top-k% of a map's pixels by the counterfactual's removes evidence only where the map puts
it, and adds nothing the model has not seen (unlike a blur or a grey fill): the drop in
p(melanoma) measures how much of what the model used the map found. A random map's drop
is reported beside it.
"""

from __future__ import annotations

import numpy as np

from dermviz.evaluation.base import ModelFn, check_inputs, order_random_ties, predict_batched
from dermviz.explain.reference_maps import random_map


def top_fraction_mask(saliency: np.ndarray, fraction: float, *, seed: int = 0) -> np.ndarray:
    """The ``ceil(fraction * H * W)`` highest pixels of a (H, W) map.

    Pixels tied at the cut are picked at random (``seed``), not in pixel order: a
    superpixel map ties over whole segments and the positive part of a signed map over
    every zero, and taking those in raster order would swap the image's top rows first.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    k = int(np.ceil(fraction * saliency.size))
    top = order_random_ties(-saliency.ravel(), np.random.default_rng(seed))[:k]
    out = np.zeros(saliency.size, bool)
    out[top] = True
    return out.reshape(saliency.shape)


def counterfactual_drop(
    model_fn: ModelFn,
    images: np.ndarray,
    counterfactuals: np.ndarray,
    maps: np.ndarray,
    *,
    fraction: float = 0.1,
    seed: int = 0,
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Drop in p(melanoma) when the top ``fraction`` of each map takes the counterfactual's pixels.

    Parameters
    ----------
    model_fn : callable
        ``model_fn(images) -> p``: a batch (n, H, W, 3) to p(melanoma), (n,).
    images, counterfactuals : numpy.ndarray
        (n, H, W, 3): the images and the same images without their evidence.
    maps : numpy.ndarray
        (n, H, W) saliency maps; their highest pixels are swapped (pass the positive part
        of a signed map to swap only evidence *for* the class).
    fraction : float
        Share of the pixels swapped, in (0, 1].
    seed : int
        Seed of the random maps and of the random pick among pixels tied at the cut
        (image ``i`` uses ``seed + i``).
    batch_size : int
        Images per forward pass.

    Returns
    -------
    dict of str to numpy.ndarray
        Each (n,) float64: ``p`` (the image), ``p_counterfactual`` (all evidence removed),
        ``p_swapped`` (the map's top swapped), ``drop`` (``p - p_swapped``),
        ``drop_random`` (the same for a random map) and ``drop_full``
        (``p - p_counterfactual``, the most any map can remove).
    """
    images, maps, _ = check_inputs(images, maps)
    counterfactuals = np.asarray(counterfactuals)
    if counterfactuals.shape != images.shape:
        raise ValueError(f"counterfactuals {counterfactuals.shape} must match the images "
                         f"{images.shape}")
    n, shape = len(images), maps.shape[1:]
    top_fraction_mask(maps[0], fraction)  # checks the fraction before any forward pass

    def swapped(rank_maps) -> np.ndarray:  # noqa: ANN001 - an iterable of maps
        def batch():  # noqa: ANN202 - a generator of images
            for i, (image, cf, m) in enumerate(zip(images, counterfactuals, rank_maps,
                                                   strict=True)):
                top = top_fraction_mask(m, fraction, seed=seed + i)
                yield np.where(top[..., None], cf, image)
        return predict_batched(model_fn, batch(), n, batch_size=batch_size)

    p = predict_batched(model_fn, iter(images), n, batch_size=batch_size)
    p_cf = predict_batched(model_fn, iter(counterfactuals), n, batch_size=batch_size)
    p_swapped = swapped(maps)
    p_random = swapped(random_map(shape, seed + i) for i in range(n))
    return {"p": p, "p_counterfactual": p_cf, "p_swapped": p_swapped, "drop": p - p_swapped,
            "drop_random": p - p_random, "drop_full": p - p_cf}
