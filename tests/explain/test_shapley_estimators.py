"""Leverage SHAP (dermviz.explain.shapley_estimators) and KernelSHAP's ``sampler="leverage"``.

Checked against exact Shapley values enumerated over all coalitions: of small
deterministic games (closed forms and a non-linear one), and of a tiny real Keras
model on a 64 px image cut into <= 12 superpixels.
"""

# shap samples from numpy's legacy global RNG; the comparison seeds exactly that.
# ruff: noqa: NPY002

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from dermviz.explain import KernelSHAP
from dermviz.explain.kernelshap import (
    CoalitionPredictor,
    error_note,
    slic_segments,
    split_half_ssim,
)
from dermviz.explain.shapley_estimators import (
    constrained_regression,
    exact_shapley,
    leverage_design,
    leverage_shap,
    shapley_kernel,
)
from tests.helpers import tiny_blocks_image, tiny_conv_model


def _game(n: int, seed: int = 0):
    """A non-linear game: a squashed sum of main effects and pairwise interactions."""
    r = np.random.default_rng(seed)
    a = r.normal(size=n)
    b = np.triu(r.normal(size=(n, n)) * 0.3, 1)

    def v(z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-(z @ a + np.einsum("ki,ij,kj->k", z, b, z)) / 3.0))

    return v


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


# ----------------------------------------------------------------------------- exact values


def test_exact_shapley_closed_forms():
    a = np.array([1.0, -2.0, 0.5, 3.0])
    np.testing.assert_allclose(exact_shapley(lambda z: z @ a, 4), a, atol=1e-12)
    # v = z0 * z1 (unanimity of {0, 1}): they split it, the others get nothing
    np.testing.assert_allclose(exact_shapley(lambda z: (z[:, 0] & z[:, 1]) * 1.0, 4),
                               [0.5, 0.5, 0, 0], atol=1e-12)
    # (k, 1) outputs, as CoalitionPredictor returns, are accepted
    np.testing.assert_allclose(exact_shapley(lambda z: (z @ a)[:, None], 4), a, atol=1e-12)
    with pytest.raises(ValueError, match="players"):
        exact_shapley(lambda z: z.sum(1), 17)
    with pytest.raises(ValueError, match="shape"):
        exact_shapley(lambda z: np.zeros(3), 4)


def test_kernel_weights():
    n = 6
    s = np.arange(1, n)
    expected = [(n - 1) / (math.comb(n, k) * k * (n - k)) for k in s]
    np.testing.assert_allclose(shapley_kernel(n, s), expected)


@pytest.mark.parametrize("n", [2, 3, 5, 6, 11, 12])
def test_full_budget_is_exact(n):
    """With every coalition enumerated, the regression gives the Shapley values."""
    v = _game(n)
    est = leverage_shap(v, n, budget=2**n - 2, rng=np.random.default_rng(0))
    assert est.n_evaluations == 2**n - 2
    np.testing.assert_allclose(est.values, exact_shapley(v, n), atol=1e-12)
    np.testing.assert_allclose(est.halves, np.stack([est.values] * 2), atol=1e-12)
    assert est.estimated_error < 1e-12
    # a larger budget is capped, not an error
    more = leverage_shap(v, n, budget=2**n + 100, rng=np.random.default_rng(0))
    assert more.n_evaluations == 2**n - 2


def test_design_is_paired_distinct_and_budgeted():
    n, budget = 12, 500
    design = leverage_design(n, budget, rng=np.random.default_rng(3))
    z = design.z
    assert z.shape == (budget, n)
    assert len({row.tobytes() for row in z}) == budget  # no coalition twice
    sizes = z.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= n - 1
    # every row's complement is in the design, with the same weight
    index = {row.tobytes(): k for k, row in enumerate(z)}
    for k, row in enumerate(z):
        j = index[(~row).tobytes()]
        assert design.weights[j] == design.weights[k]
    # leverage: about the same number of rows per size (enumerated size 1 / 11 excepted)
    counts = np.bincount(sizes, minlength=n)[1:n]
    assert counts[0] == n and counts[-1] == n
    assert counts[1:-1].max() - counts[1:-1].min() <= 2 + counts[5] * 0.1


def test_additivity_is_exact_on_few_samples():
    n = 12
    v = _game(n, seed=4)
    for seed in range(5):
        est = leverage_shap(v, n, budget=40, rng=np.random.default_rng(seed))
        gap = est.f_x - est.base_value
        assert abs(est.values.sum() - gap) < 1e-12
        assert np.abs(est.halves.sum(1) - gap).max() < 1e-12


def test_constrained_regression_rejects_nothing_silently():
    z = np.array([[1, 0], [0, 1]], bool)
    phi = constrained_regression(z, np.array([0.3, 0.7]), np.ones(2), base_value=0.0, f_x=1.0)
    np.testing.assert_allclose(phi, [0.3, 0.7], atol=1e-12)
    np.testing.assert_allclose(constrained_regression(np.zeros((0, 1), bool), np.zeros(0),
                                                      np.zeros(0), base_value=0.2, f_x=0.9),
                               [0.7])


def test_rejects_bad_arguments():
    v = _game(5)
    with pytest.raises(ValueError, match="budget"):
        leverage_shap(v, 5, budget=-1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="budget"):
        leverage_shap(v, 5, budget=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_players"):
        leverage_shap(v, -2, budget=10, rng=np.random.default_rng(0))


def test_beats_shap_kernel_explainer_and_estimates_its_error():
    """At equal budget, less error than shap's KernelExplainer (l1_reg off), over 8 seeds;
    the split-half estimate is of the order of the real error."""
    import shap

    n, budget = 12, 200
    v = _game(n, seed=1)
    exact = exact_shapley(v, n)
    lev, ker, estimated = [], [], []
    for seed in range(8):
        est = leverage_shap(v, n, budget=budget, rng=np.random.default_rng(seed))
        lev.append(_rms(est.values, exact))
        estimated.append(est.estimated_error)
        np.random.seed(seed)
        explainer = shap.KernelExplainer(lambda z: v(z >= 0.5), np.zeros((1, n)))
        phi = explainer.shap_values(np.ones((1, n)), nsamples=budget, l1_reg=False, silent=True)
        ker.append(_rms(np.ravel(phi), exact))
    assert np.mean(lev) < 0.75 * np.mean(ker)
    assert 0.4 < np.mean(estimated) / np.mean(lev) < 2.5
    # and the error falls with the budget
    more = [_rms(leverage_shap(v, n, budget=1000, rng=np.random.default_rng(s)).values, exact)
            for s in range(8)]
    assert np.mean(more) < 0.6 * np.mean(lev)


def test_many_players_sample_quickly_and_distinctly():
    n = 50
    design = leverage_design(n, 2500, rng=np.random.default_rng(0))
    assert design.z.shape == (2500, n)
    assert len({row.tobytes() for row in design.z}) == 2500


# ----------------------------------------------------------------------------- a real model

SIZE = 64


@pytest.fixture(scope="module")
def tiny() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A small random conv net (sigmoid output) and a 64 px image with <= 12 superpixels."""
    image = tiny_blocks_image(SIZE)
    labels = slic_segments(image, n_segments=10)
    assert 2 <= labels.max() + 1 <= 12
    return tiny_conv_model(SIZE), image, labels


def test_real_model_matches_exact_values(tiny):
    model, image, labels = tiny
    m = int(labels.max()) + 1
    f = CoalitionPredictor(model, image, labels, target_class=1, background=255.0,
                           batch_size=64)
    exact = exact_shapley(f, m)
    gap = abs(exact.sum())
    assert gap > 0.01  # not vacuous
    full = KernelSHAP(model, n_segments=10, nsamples=2**m, sampler="leverage",
                      batch_size=64).explain(image[None], target_class=1)
    values = full.extras["shap_values"][0, :m]
    # float32 forward passes in other batch compositions: low-bit differences only
    np.testing.assert_allclose(values, exact, atol=1e-5)
    few = KernelSHAP(model, n_segments=10, nsamples=2 ** (m - 1), sampler="leverage",
                     batch_size=64).explain(image[None], target_class=1)
    phi = few.extras["shap_values"][0, :m].astype(np.float64)
    f_gap = float(few.extras["f_x"][0]) - float(few.extras["base_value"][0])
    assert abs(phi.sum() - f_gap) < 1e-6  # additivity (float32 storage)
    assert _rms(phi, exact) < 0.02 * np.abs(exact).max()
    error = float(few.extras["estimated_error"][0])
    assert 0 < error < 0.5 * np.abs(exact).max()
    assert -1 <= float(few.extras["split_half_ssim"][0]) <= 1


def test_sampler_option_and_cache_key(tiny):
    model, image, _ = tiny
    paper = KernelSHAP.canonical_params()
    assert "sampler" not in paper and paper["l1_reg"] == "aic"  # old keys unchanged
    lev = KernelSHAP.canonical_params(sampler="leverage")
    assert lev["sampler"] == "leverage" and "l1_reg" not in lev
    assert KernelSHAP.canonical_params(sampler="leverage", l1_reg="aic") == lev
    with pytest.raises(ValueError, match="l1_reg"):
        KernelSHAP(model, sampler="leverage", l1_reg=False)
    with pytest.raises(ValueError, match="sampler"):
        KernelSHAP(model, sampler="permutation")
    a = KernelSHAP(model, n_segments=10, nsamples=60, sampler="leverage").explain(image[None])
    b = KernelSHAP(model, n_segments=10, nsamples=60, sampler="leverage").explain(image[None])
    np.testing.assert_array_equal(a.maps, b.maps)  # seeded
    c = KernelSHAP(model, n_segments=10, nsamples=60, sampler="leverage",
                   seed=1).explain(image[None])
    assert not np.array_equal(a.maps, c.maps)
    assert a.params == KernelSHAP.canonical_params(n_segments=10, nsamples=60,
                                                   sampler="leverage")
    kernel = KernelSHAP(model, n_segments=10, nsamples=60).explain(image[None])
    assert "estimated_error" not in kernel.extras and "split_half_ssim" not in kernel.extras


def test_split_half_ssim():
    seg = np.repeat(np.arange(4), 16 * 64).reshape(64, 64)
    halves = np.array([[1.0, -1.0, 0.5, 0.0], [1.0, -1.0, 0.5, 0.0]])
    assert split_half_ssim(halves, seg) == 1.0
    assert split_half_ssim(np.zeros((2, 4)), seg) == 1.0
    opposite = split_half_ssim(np.stack([halves[0], -halves[0]]), seg)
    close = split_half_ssim(np.stack([halves[0], halves[0] + [0.05, 0, 0, -0.05]]), seg)
    assert opposite < close < 1.0


def test_error_note():
    kernel = {"shap_values": np.array([[0.1, -0.2]])}
    assert "No per-map error estimate" in error_note(kernel)
    leverage = {"shap_values": np.array([[0.1, -0.2, np.nan]]),
                "estimated_error": np.array([0.01]), "split_half_ssim": np.array([0.876])}
    note = error_note(leverage)
    assert "±0.01 per superpixel" in note and "5% of the largest |value|" in note
    assert "run-to-run SSIM (split-half) 0.88" in note
