"""Shared small models for the sanity-check tests (75-96 px, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

SMALL = 75  # randomization / layer tests: weights only, no explanations
EXPLAIN = 96  # explanation tests: mixed5 has a 4x4 grid at 96 px (mixed10 is 1x1)
CAM_LAYER = "mixed5"
SQUARE = 28


@pytest.fixture(scope="session")
def small_model():
    """A freshly built, seeded InceptionV3 at 75 px (never modified by tests)."""
    from dermviz.models.inception import build_inception

    return build_inception(SMALL, seed=0)


def dark_square_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Light noisy images; every other one ("melanoma", y=1) has a dark square."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(170, 230, size=(n, EXPLAIN, EXPLAIN, 3))
    y = np.zeros(n, dtype=np.int64)
    masks = np.zeros((n, EXPLAIN, EXPLAIN), dtype=bool)
    for i in range(0, n, 2):
        r, c = rng.integers(8, EXPLAIN - 8 - SQUARE, 2)
        images[i, r : r + SQUARE, c : c + SQUARE] = 30
        masks[i, r : r + SQUARE, c : c + SQUARE] = True
        y[i] = 1
    return images.astype(np.uint8), y, masks


@pytest.fixture(scope="session")
def trained_model():
    """A 96 px member whose head is trained to detect the dark square.

    Full training of InceptionV3 costs ~40 s of graph building on 2 cores, so the
    backbone keeps its seeded random weights and only the head is fitted: a
    logistic regression on the standardised pooled features, folded into
    ``head_dense`` (two ReLU units, +z and -z) and ``pred`` (z = unit0 - unit1).
    The result separates the classes (checked in the tests) and its GradCAM maps
    depend on the head, the backbone and the image.
    """
    import keras
    from sklearn.linear_model import LogisticRegression

    from dermviz.models.inception import build_inception

    model = build_inception(EXPLAIN, seed=1)
    images, y, _ = dark_square_data(32, seed=0)
    features = keras.Model(model.input, model.get_layer("gap").output).predict(
        images.astype(np.float32), verbose=0, batch_size=16
    )
    mu, sd = features.mean(0), features.std(0) + 1e-8
    fit = LogisticRegression(C=1.0, max_iter=2000).fit((features - mu) / sd, y)
    w = fit.coef_[0] / sd
    b = fit.intercept_[0] - float((mu / sd) @ fit.coef_[0])
    dense = model.get_layer("head_dense")
    kernel = np.zeros(dense.kernel.shape, np.float32)
    bias = np.zeros(dense.bias.shape, np.float32)
    kernel[:, 0], kernel[:, 1], bias[0], bias[1] = w, -w, b, -b
    dense.set_weights([kernel, bias])
    pred_kernel = np.zeros((kernel.shape[1], 1), np.float32)
    pred_kernel[0, 0], pred_kernel[1, 0] = 1.0, -1.0
    model.get_layer("pred").set_weights([pred_kernel, np.zeros(1, np.float32)])
    return model


@pytest.fixture(scope="session")
def test_images():
    """Held-out dark-square images: (images, y, masks), 6 images."""
    return dark_square_data(6, seed=5)


@pytest.fixture(scope="session")
def make_gradcam():
    from dermviz.explain.gradcam import GradCAM

    return lambda model: GradCAM(model, layer=CAM_LAYER)
