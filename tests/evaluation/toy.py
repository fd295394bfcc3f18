"""A linear model on toy images, whose exact attributions are known: ``w * x``."""

from __future__ import annotations

import numpy as np

SIZE = 12


def toy_images(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3)).astype(np.uint8)


def toy_weights(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(SIZE, SIZE, 3))


def linear_model(w: np.ndarray, *, sigmoid: bool = False):  # noqa: ANN201
    """``model_fn``: ``sum(w * x)`` (scaled), optionally through a sigmoid (a probability)."""

    def model_fn(images: np.ndarray) -> np.ndarray:
        z = (np.asarray(images, dtype=np.float64) * w).sum(axis=(1, 2, 3)) / 255.0
        return 1.0 / (1.0 + np.exp(-z / 10.0)) if sigmoid else z

    return model_fn


def true_maps(w: np.ndarray, images: np.ndarray, reference: np.ndarray | float = 0.0
              ) -> np.ndarray:
    """Exact attributions of the linear model against a reference image: ``w * (x - r)``."""
    return (w * (np.asarray(images, dtype=np.float64) - reference)).sum(axis=-1)
