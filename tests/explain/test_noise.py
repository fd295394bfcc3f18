"""KernelSHAP superpixels against their noise (dermviz.explain.noise)."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.noise import (
    bootstrap_standard_error,
    distinguishable,
    split_half_standard_error,
    superpixel_noise,
)


def _extras(values, **more):
    width = 6
    padded = np.full((1, width), np.nan, np.float32)
    padded[0, : len(values)] = values
    return {"shap_values": padded, "n_segments": np.array([len(values)], np.int32), **more}


def test_split_half_and_bootstrap_errors():
    halves = np.array([[0.10, -0.02, 0.0], [0.06, 0.02, 0.0]])
    np.testing.assert_allclose(split_half_standard_error(halves), [0.02, 0.02, 0.0])
    boot = np.array([[1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(bootstrap_standard_error(boot), [np.sqrt(2), 0.0])
    with pytest.raises(ValueError, match="halves"):
        split_half_standard_error(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="n_boot >= 2"):
        bootstrap_standard_error(np.zeros((1, 4)))


def test_distinguishable_is_beyond_z_standard_errors():
    out = distinguishable([0.5, -0.5, 0.1, -0.3], [0.2, 0.2, 0.2, 0.2], z=2.0)
    assert out.tolist() == [True, True, False, False]
    assert distinguishable([0.0, 1e-9], 0.0).tolist() == [False, True]
    with pytest.raises(ValueError, match="z must"):
        distinguishable([1.0], 0.1, z=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        distinguishable([1.0], -0.1)


def test_superpixel_noise_from_stored_fields():
    values = [0.30, -0.25, 0.02, -0.01]
    # per-map RMS error (sampler "leverage", as stored today): one se for every superpixel
    noise = superpixel_noise(_extras(values, estimated_error=np.array([0.05], np.float32)))
    assert noise.distinguishable.tolist() == [True, True, False, False]
    assert (noise.count, noise.total, noise.source) == (2, 4, "estimated_error")
    assert noise.sentence().startswith("2 of 4 superpixels are distinguishable from zero")
    segments = np.array([[0, 0, 1], [2, 3, 3]])
    np.testing.assert_array_equal(noise.pixel_mask(segments),
                                  [[True, True, True], [False, False, False]])
    with pytest.raises(ValueError, match="labels"):
        noise.pixel_mask(np.array([[4]]))
    # a per-superpixel error takes precedence
    per = np.full((1, 6), np.nan, np.float32)
    per[0, :4] = [0.2, 0.01, 0.001, 0.001]
    noise = superpixel_noise(_extras(values, estimated_error=np.array([0.05]),
                                     superpixel_error=per))
    assert noise.distinguishable.tolist() == [False, True, True, True]
    assert noise.source == "superpixel_error"
    # shap's sampler stores no error: nothing to say, nothing greyed out
    assert superpixel_noise(_extras(values)) is None
    with pytest.raises(KeyError, match="KernelSHAP"):
        superpixel_noise({"maps": np.zeros(1)})
    with pytest.raises(IndexError):
        superpixel_noise(_extras(values), k=1)
