"""Empty and constant maps (dermviz.explain.degenerate)."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.degenerate import degenerate_map_sentence, is_degenerate_map


def test_empty_and_constant_maps_are_degenerate_others_not():
    assert is_degenerate_map(np.zeros((8, 8), np.float32))
    assert is_degenerate_map(np.full((8, 8), 0.7))
    assert is_degenerate_map(np.full((8, 8), 0.7) + 1e-8 * np.eye(8))  # within atol
    assert not is_degenerate_map(np.full((8, 8), 0.7) + 1e-8 * np.eye(8), atol=0.0)
    peak = np.zeros((8, 8))
    peak[3, 4] = 0.01
    assert not is_degenerate_map(peak)
    assert not is_degenerate_map(-peak)  # a signed map with one negative superpixel


@pytest.mark.parametrize(("m", "kwargs", "match"), [
    (np.zeros((2, 8, 8)), {}, r"\(H, W\)"),
    (np.zeros((0, 3)), {}, "non-empty"),
    (np.array([[0.0, np.nan]]), {}, "NaN"),
    (np.zeros((3, 3), bool), {}, "real numbers"),
    (np.zeros((3, 3)), {"atol": -1.0}, "atol"),
])
def test_bad_input_is_refused_clearly(m, kwargs, match):
    with pytest.raises(ValueError, match=match):
        is_degenerate_map(m, **kwargs)


def test_sentences():
    assert degenerate_map_sentence("GradCAM", signed=False).startswith(
        "GradCAM found no region that raises this member's score for the class it predicts")
    assert "superpixel" in degenerate_map_sentence("KernelSHAP", signed=True)
