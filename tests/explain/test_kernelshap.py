"""KernelSHAP on SLIC superpixels (dermviz.explain.kernelshap).

Small settings throughout (75-80 px, n_segments=20, nsamples=200) so the file
runs in well under a minute on 2 CPU cores.

The "trained member" is a ``build_inception(75, seed=0)`` model whose output
layer is fitted as a linear probe (logistic regression on the frozen random
backbone's ``head_dense`` features) to separate dark from light synthetic
lesions. Fitting the whole network with Keras costs ~20 s of graph building
alone (docs/stack.md §4b); the probe gives a model whose output genuinely depends
on the image (an untrained one sits at p = 0.5000 everywhere, which would make
the additivity check vacuous).
"""

# shap samples coalitions from numpy's legacy global RNG; these tests check exactly that.
# ruff: noqa: NPY002

from __future__ import annotations

import tracemalloc

import keras
import numpy as np
import pytest

from dermviz.explain import KernelSHAP, get_explainer
from dermviz.explain import kernelshap as ks
from dermviz.explain.kernelshap import (
    CoalitionPredictor,
    chunk_bounds,
    seeded_global_numpy,
    slic_segments,
)
from dermviz.models.inception import build_inception
from dermviz.models.predict import predict_proba

SMALL = {"n_segments": 20, "nsamples": 200}


def _lesions(rng: np.random.Generator, dark: bool, n: int, size: int = 75) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        img = np.full((size, size, 3), (220.0, 180.0, 160.0)) + rng.normal(0, 8, (size, size, 3))
        cy, cx = rng.uniform(0.33 * size, 0.66 * size, 2)
        r = rng.uniform(0.13 * size, 0.27 * size)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        colour = (70.0, 40.0, 30.0) if dark else (160.0, 110.0, 80.0)
        img[disc] = np.asarray(colour) + rng.normal(0, 10, (int(disc.sum()), 3))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def member() -> tuple[keras.Model, np.ndarray]:
    """A 75 px InceptionV3 member with a fitted output layer, and two test images."""
    from sklearn.linear_model import LogisticRegression

    model = build_inception(75, seed=0)
    rng = np.random.default_rng(0)
    images = np.concatenate([_lesions(rng, True, 16), _lesions(rng, False, 16)])
    labels = np.r_[np.ones(16), np.zeros(16)]
    features = keras.Model(model.input, model.get_layer("head_dense").output)
    feats = np.asarray(features(images.astype(np.float32), training=False), dtype=np.float64)
    mu, sd = feats.mean(0), feats.std(0) + 1e-12
    clf = LogisticRegression(max_iter=5000).fit((feats - mu) / sd, labels)
    w = clf.coef_[0] / sd
    b = clf.intercept_[0] - float(np.sum(clf.coef_[0] * mu / sd))
    model.get_layer("pred").set_weights([w[:, None].astype(np.float32), np.float32([b])])
    p = predict_proba(model, images)
    assert ((p >= 0.5) == labels).mean() == 1.0  # the probe fits its training images
    test = np.stack([_lesions(rng, True, 1)[0], _lesions(rng, False, 1)[0]])
    return model, test


@pytest.fixture(scope="module")
def member_maps(member):
    model, images = member
    return KernelSHAP(model, **SMALL).explain(images)


def test_registry_params_and_cache_key(member):
    model, _ = member
    assert get_explainer("kernelshap") is KernelSHAP
    assert KernelSHAP.signed is True
    explainer = KernelSHAP(model, batch_size=7)
    assert explainer.params() == {
        "background": 255.0, "compactness": 3.0, "l1_reg": "aic", "n_segments": 100,
        "nsamples": 2500, "seed": 0, "sigma": 13.0,
    }
    # the key is the same whether built or looked up, and whatever the number types
    assert KernelSHAP.canonical_params(compactness=3, background=255) == explainer.params()
    assert KernelSHAP.canonical_params(batch_size=1) == explainer.params()
    with pytest.raises(TypeError, match="unknown parameter"):
        KernelSHAP.canonical_params(n_segment=10)
    for bad in ({"n_segments": 0}, {"nsamples": 2.5}, {"background": 300}, {"seed": -1},
                {"compactness": 0}, {"sigma": -1}):
        with pytest.raises(ValueError):
            KernelSHAP(model, **bad)
    with pytest.raises(ValueError, match="batch_size"):
        KernelSHAP(model, batch_size=0)


def test_outputs_shapes_and_consistency(member, member_maps):
    _, images = member
    res = member_maps
    n, h, w = images.shape[:3]
    assert res.method == "kernelshap" and res.grid is None
    assert res.maps.shape == (n, h, w) and res.maps.dtype == np.float32
    seg = res.extras["segments"]
    assert seg.shape == (n, h, w) and seg.dtype == np.int32
    counts = res.extras["n_segments"]
    values = res.extras["shap_values"]
    assert values.shape == (n, 2 * SMALL["n_segments"])
    for k in range(n):
        m = int(counts[k])
        assert seg[k].max() + 1 == m and len(np.unique(seg[k])) == m
        np.testing.assert_array_equal(seg[k], slic_segments(images[k], n_segments=20))
        assert np.isfinite(values[k, :m]).all() and np.isnan(values[k, m:]).all()
        np.testing.assert_array_equal(res.maps[k], values[k, :m][seg[k]])
    # default target = predicted class; f_x is that class's probability. f_x comes from a
    # batch of one and p_melanoma from a batch of two: float32 outputs differ in the low bits
    # with the batch size and CPU kind (1.3e-5 seen on an AVX2-only CPU), hence 1e-4.
    np.testing.assert_array_equal(res.target_class, [1, 0])
    f_expected = np.where(res.target_class == 1, res.p_melanoma, 1 - res.p_melanoma)
    np.testing.assert_allclose(res.extras["f_x"], f_expected, atol=1e-4)
    white = predict_proba(member[0], np.full((1, h, w, 3), 255, np.uint8))[0]
    base_expected = np.where(res.target_class == 1, white, 1 - white)
    np.testing.assert_allclose(res.extras["base_value"], base_expected, atol=1e-4)


def test_additivity_on_trained_member(member_maps):
    """Local accuracy: per image, the SHAP values sum to f(x) - f(all white)."""
    res = member_maps
    gap = res.extras["f_x"] - res.extras["base_value"]
    assert np.abs(gap).max() > 0.1  # not vacuous: the member's output moves
    sums = np.nansum(res.extras["shap_values"].astype(np.float64), axis=1)
    np.testing.assert_allclose(sums, gap, atol=1e-4)
    # and over pixels, each superpixel counted once
    for k in range(len(res)):
        seg = res.extras["segments"][k]
        first = np.unique(seg, return_index=True)[1]
        assert abs(res.maps[k].ravel()[first].sum() - gap[k]) < 1e-4


def test_deterministic_and_seed_dependent(member, member_maps):
    model, images = member
    state = np.random.get_state()
    again = KernelSHAP(model, **SMALL).explain(images)
    np.testing.assert_array_equal(again.maps, member_maps.maps)
    # the caller's global RNG is left as it was
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state, after, strict=True))
    # one image's map does not depend on the rest of the batch
    alone = KernelSHAP(model, **SMALL).explain(images[1:])
    np.testing.assert_array_equal(alone.maps[0], member_maps.maps[1])
    other = KernelSHAP(model, **SMALL, seed=1).explain(images[1:])
    assert not np.array_equal(other.maps[0], member_maps.maps[1])
    # chunking does not change the values (batch_size is not in the key), up to float32
    # differences between batch sizes
    chunked = KernelSHAP(model, **SMALL, batch_size=37).explain(images[1:])
    np.testing.assert_allclose(chunked.maps[0], member_maps.maps[1], atol=1e-4)


def test_target_class_flips_the_sign(member, member_maps):
    """Explaining 1 - p(melanoma) with the same coalitions negates every value."""
    model, images = member
    flipped = KernelSHAP(model, **SMALL).explain(images, target_class=1 - member_maps.target_class)
    np.testing.assert_allclose(flipped.maps, -member_maps.maps, atol=1e-5)


def _toy_image(size: int = 80) -> np.ndarray:
    rng = np.random.default_rng(3)
    blocks = rng.integers(20, 200, (4, 4, 3)).astype(np.uint8)
    return np.kron(blocks, np.ones((size // 4, size // 4, 1), np.uint8))


def _toy_model(size: int, masks: list[np.ndarray], strengths: list[float]) -> keras.Model:
    """``sigmoid(sum_j a_j * darkness of region j - 1)``: depends on the masked pixels only."""
    kernel = np.zeros((size, size, 3), np.float64)
    bias = -1.0
    for mask, a in zip(masks, strengths, strict=True):
        kernel[mask] = -a / (255.0 * 3 * mask.sum())  # a * (1 - mean/255)
        bias += a
    inputs = keras.Input((size, size, 3))
    flat = keras.layers.Flatten()(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(flat))
    dense.set_weights([kernel.reshape(-1, 1).astype(np.float32), np.float32([bias])])
    return model


def test_known_superpixels_are_the_top_features():
    image = _toy_image()
    seg = slic_segments(image, n_segments=20)
    sizes = np.bincount(seg.ravel())
    strong, weak = np.argsort(sizes)[::-1][:2]  # the two largest superpixels
    model = _toy_model(80, [seg == strong, seg == weak], [6.0, 3.0])
    res = KernelSHAP(model, **SMALL).explain(image[None], target_class=1)
    np.testing.assert_array_equal(res.extras["segments"][0], seg)
    values = res.extras["shap_values"][0, : res.extras["n_segments"][0]]
    order = np.argsort(-np.abs(values))
    assert list(order[:2]) == [strong, weak]
    assert values[strong] > values[weak] > 0  # darker = more "melanoma" than white
    others = np.delete(values, [strong, weak])
    assert np.abs(others).max() < 0.05 * values[weak]


def test_coalitions_are_evaluated_in_chunks(monkeypatch):
    """f gets all 2500 coalitions at once but never builds them all at once."""
    image = _toy_image(76)
    seg = slic_segments(image, n_segments=20)
    model = _toy_model(76, [seg == 0], [4.0])
    batches: list[int] = []
    real_forward = ks.forward_fn

    def counting_forward(m):
        fn = real_forward(m)

        def wrapped(x):
            batches.append(len(x))
            return fn(x)

        return wrapped

    monkeypatch.setattr(ks, "forward_fn", counting_forward)
    explainer = KernelSHAP(model, n_segments=20, nsamples=2500, batch_size=256)
    assert seg.max() + 1 >= 12  # 2**M - 2 >= 2500, so shap does not cap nsamples
    # warm-up: imports (shap, sklearn) and tf.function tracing allocate too
    KernelSHAP(model, n_segments=20, nsamples=300).explain(image[None], target_class=1)
    batches.clear()
    tracemalloc.start()
    try:
        res = explainer.explain(image[None], target_class=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(batches) == 2500 + 2  # + f(background) and f(image)
    assert max(batches) <= 256 and len(batches) >= 2 + 10
    whole = 2500 * image.size * 4  # all coalition images in float32: 173 MB
    # about two chunks of 256 (the reused buffer and TensorFlow's input copy): ~36 MB
    assert peak < whole / 3, f"peak traced allocation {peak / 1e6:.0f} MB"
    assert np.isfinite(res.maps).all()


def test_coalition_predictor_masks_and_chunks(monkeypatch):
    image = _toy_image(76).astype(np.float32)
    labels = slic_segments(image, n_segments=20)
    m = int(labels.max()) + 1
    seen: list[np.ndarray] = []

    def recording_forward(_model):
        def fn(x):
            seen.append(np.array(x, copy=True))
            return np.mean(x, axis=(1, 2, 3))[:, None] / 255.0

        return fn

    with monkeypatch.context() as patch:
        patch.setattr(ks, "forward_fn", recording_forward)
        f = CoalitionPredictor(object(), image, labels, target_class=0, batch_size=3)
    z = np.zeros((5, m))
    z[0] = 1
    z[2, 1] = 1
    out = f(z)
    assert out.shape == (5, 1) and f.n_forward_rows == 5
    assert sorted(len(b) for b in seen) == [2, 3]
    batch = np.concatenate(seen)
    np.testing.assert_array_equal(batch[0], image)  # all kept
    np.testing.assert_array_equal(batch[1], np.full_like(image, 255))  # all hidden
    np.testing.assert_array_equal(batch[2][labels == 1], image[labels == 1])
    assert (batch[2][labels != 1] == 255).all()
    np.testing.assert_allclose(out[:, 0], 1 - batch.mean(axis=(1, 2, 3)) / 255, atol=1e-6)
    with pytest.raises(ValueError, match="coalitions"):
        f(np.ones((2, m + 1)))

    # peak numpy memory for 2500 rows stays around one chunk
    f = CoalitionPredictor(
        keras.Sequential([keras.Input((76, 76, 3)), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(1)]),
        image, labels, target_class=1, batch_size=64,
    )
    z = (np.random.default_rng(0).random((2500, m)) < 0.5).astype(np.float64)
    tracemalloc.start()
    try:
        f(z)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    chunk = 64 * image.size * 4
    assert peak < 3 * chunk + z.nbytes, f"peak {peak / 1e6:.1f} MB, chunk {chunk / 1e6:.1f} MB"


def test_chunk_bounds():
    sizes = np.diff(chunk_bounds(2500, 32))
    assert sizes.sum() == 2500 and len(sizes) == 79 and set(sizes.tolist()) <= {31, 32}
    np.testing.assert_array_equal(chunk_bounds(64, 32), [0, 32, 64])
    np.testing.assert_array_equal(chunk_bounds(5, 32), [0, 5])
    np.testing.assert_array_equal(chunk_bounds(0, 32), [0])
    with pytest.raises(ValueError):
        chunk_bounds(10, 0)


def test_seeded_global_numpy_restores_state():
    before = np.random.get_state()
    with seeded_global_numpy(5):
        a = np.random.random(3)
    with seeded_global_numpy(5):
        b = np.random.random(3)
    np.testing.assert_array_equal(a, b)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(before, after, strict=True))


def test_rejects_bad_images(member):
    model, _ = member
    explainer = KernelSHAP(model, **SMALL)
    with pytest.raises(ValueError):
        explainer.explain(np.zeros((75, 75, 3), np.uint8))
    with pytest.raises(ValueError):
        explainer.explain(np.full((1, 75, 75, 3), 0.5, np.float32))
