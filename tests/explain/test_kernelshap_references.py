"""KernelSHAP references (what hidden superpixels show) and the reference-gap check.

The model here *saturates* on white: ``sigmoid(k * (s(x) - t))`` with ``s`` the mean
distance of the pixels from mid-grey. A white image (s = 127) and the dark lesion on
mid-tone skin both score ~1, so with the paper's white reference the SHAP values have
almost nothing to distribute; the image's mean colour, its blur and its inpainted skin
are much closer to grey and score far lower.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dermviz.explain import KernelSHAP
from dermviz.explain.backgrounds import BACKGROUNDS, DEGENERATE_GAP, background_image, gap_warning
from dermviz.explain.kernelshap import CoalitionPredictor, slic_segments
from dermviz.store import params_key

SMALL = {"n_segments": 20, "nsamples": 200}
SIZE = 75
#: Steepness of the saturating model and its margin: f(image) = sigmoid(STEEP * MARGIN).
STEEP, MARGIN = 2.0, 4.0


def _spread(x: np.ndarray) -> np.ndarray:
    """s(x): mean |pixel - 128| per image, the saturating model's only feature."""
    return np.abs(np.asarray(x, np.float64) - 128.0).mean(axis=(-3, -2, -1))


@pytest.fixture(scope="module")
def lesion() -> np.ndarray:
    """A dark disc (about 20% of the image) on mid-tone skin, with a little noise."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - 37) ** 2 + (xx - 39) ** 2 < 19**2
    image = np.full((SIZE, SIZE, 3), 150.0) + rng.normal(0, 4, (SIZE, SIZE, 3))
    image[disc] = 20.0 + rng.normal(0, 4, (int(disc.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def saturating(lesion: np.ndarray) -> keras.Model:
    """p(melanoma) = sigmoid(STEEP * (s(x) - t)), t = s(lesion) - MARGIN: ~1 on both."""
    threshold = float(_spread(lesion)) - MARGIN
    inputs = keras.Input((SIZE, SIZE, 3))
    spread = keras.layers.Lambda(
        lambda x: keras.ops.mean(keras.ops.abs(x - 128.0), axis=(1, 2, 3))[:, None]
    )(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(spread))
    dense.set_weights([np.float32([[STEEP]]), np.float32([-STEEP * threshold])])
    return model


@pytest.fixture(scope="module")
def by_reference(saturating: keras.Model, lesion: np.ndarray) -> dict:
    return {
        ref: KernelSHAP(saturating, reference=ref, **SMALL).explain(lesion[None], target_class=1)
        for ref in BACKGROUNDS
    }


def test_the_model_saturates_on_white_and_on_the_lesion(lesion: np.ndarray) -> None:
    """Not vacuous: every other reference is far from the lesion in the model's feature."""
    s_image = float(_spread(lesion))
    assert _spread(np.full_like(lesion, 255)) > s_image
    for ref in ("mean", "blur", "inpaint"):
        assert _spread(background_image(lesion, ref)) < s_image - MARGIN - 2


def test_white_reference_is_flagged_degenerate(by_reference: dict) -> None:
    res = by_reference["white"]
    f_x, base = float(res.extras["f_x"][0]), float(res.extras["base_value"][0])
    assert f_x > 0.99 and base > 0.99
    gap = res.extras["reference_gap"]
    assert gap.dtype == np.float32 and gap.shape == (1,)
    np.testing.assert_allclose(gap, abs(f_x - base), rtol=1e-6)
    assert gap[0] < DEGENERATE_GAP
    warning = gap_warning(f_x, base)
    assert warning is not None and warning in res.warnings


@pytest.mark.parametrize("ref", ["mean", "blur", "inpaint"])
def test_image_references_leave_something_to_explain(by_reference: dict, ref: str) -> None:
    res = by_reference[ref]
    white_gap = by_reference["white"].extras["reference_gap"][0]
    gap = res.extras["reference_gap"][0]
    assert gap > DEGENERATE_GAP and gap > 10 * white_gap
    assert not any("Reference gap" in w for w in res.warnings)
    assert res.params["reference"] == ref and "background" not in res.params


@pytest.mark.parametrize("ref", BACKGROUNDS)
def test_additivity_holds_for_every_reference(by_reference: dict, lesion: np.ndarray,
                                              saturating: keras.Model, ref: str) -> None:
    """Local accuracy against each background: values sum to f(image) - f(background)."""
    res = by_reference[ref]
    sums = np.nansum(res.extras["shap_values"].astype(np.float64), axis=1)
    np.testing.assert_allclose(sums, res.extras["f_x"] - res.extras["base_value"], atol=1e-4)
    # base_value is the model's output on that very background image
    background = background_image(lesion, ref)
    expected = np.asarray(saturating(background[None], training=False))[0, 0]
    np.testing.assert_allclose(res.extras["base_value"][0], expected, rtol=1e-4, atol=1e-6)


def test_batch_warning_counts_degenerate_maps(saturating: keras.Model, lesion: np.ndarray,
                                              by_reference: dict) -> None:
    grey = np.full_like(lesion, 128)  # s = 0: p ~ 0 against white's ~1, not degenerate
    res = KernelSHAP(saturating, **SMALL).explain(np.stack([lesion, grey]), target_class=1)
    np.testing.assert_array_equal(res.extras["reference_gap"] < DEGENERATE_GAP, [True, False])
    assert any("1 of 2 maps have a reference gap" in w for w in res.warnings)
    # the first image's map is the one explained alone
    np.testing.assert_allclose(res.maps[0], by_reference["white"].maps[0], atol=1e-6)


def test_default_reference_keeps_the_cache_key() -> None:
    """Maps cached before references existed keep their key; other references get theirs."""
    before = {"background": 255.0, "compactness": 3.0, "l1_reg": "aic", "n_segments": 100,
              "nsamples": 2500, "seed": 0, "sigma": 13.0}
    assert KernelSHAP.canonical_params() == before
    assert KernelSHAP.canonical_params(reference="white") == before
    blur = KernelSHAP.canonical_params(reference="blur")
    assert blur == {**{k: v for k, v in before.items() if k != "background"},
                    "reference": "blur"}
    assert KernelSHAP.canonical_params(reference="blur", background=255) == blur
    keys = {params_key(KernelSHAP.canonical_params(reference=r)) for r in BACKGROUNDS}
    assert len(keys) == len(BACKGROUNDS)
    with pytest.raises(ValueError, match="reference must be one of"):
        KernelSHAP.canonical_params(reference="black")
    with pytest.raises(ValueError, match="background applies to reference='white' only"):
        KernelSHAP.canonical_params(reference="mean", background=0)


def test_coalition_predictor_takes_hidden_pixels_from_the_background(monkeypatch,
                                                                     lesion: np.ndarray) -> None:
    from dermviz.explain import kernelshap as ks

    image = lesion.astype(np.float32)
    labels = slic_segments(image, n_segments=20)
    seen: list[np.ndarray] = []

    def recording_forward(_model):
        def fn(x):
            seen.append(np.array(x, copy=True))
            return np.zeros((len(x), 1), np.float32)

        return fn

    monkeypatch.setattr(ks, "forward_fn", recording_forward)
    background = background_image(lesion, "blur")
    f = CoalitionPredictor(object(), image, labels, target_class=1, background=background)
    z = np.zeros((2, int(labels.max()) + 1))
    z[1, 0] = 1
    f(z)
    batch = seen[0]
    np.testing.assert_array_equal(batch[0], background)
    np.testing.assert_array_equal(batch[1][labels == 0], image[labels == 0])
    np.testing.assert_array_equal(batch[1][labels != 0], background[labels != 0])
    with pytest.raises(ValueError, match="background"):
        CoalitionPredictor(object(), image, labels, target_class=1, background=background[1:])
