"""Maps scored against evidence masks, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.analysis.evidence import evidence_table


def _masks() -> np.ndarray:
    masks = np.zeros((2, 10, 10), bool)
    masks[:, 2:4, 2:4] = True  # 4 of 100 pixels
    return masks


def test_evidence_table_scores_a_perfect_and_a_flat_map() -> None:
    masks = _masks()
    maps = np.stack([masks[0].astype(float), np.ones((10, 10))])
    table = evidence_table(maps, masks, image_ids=["a", "b"], labels={"method": "x"})
    assert table["mass"].tolist() == pytest.approx([1.0, 0.04])
    assert table["mass_x_chance"].tolist() == pytest.approx([25.0, 1.0])
    # the flat map's peak is everywhere: it points at the evidence by chance (its share)
    assert table["pointing"].tolist() == pytest.approx([1.0, 0.04])
    assert (table["method"] == "x").all() and "mass_gaussian" in table


def test_evidence_table_refuses_an_empty_evidence_mask() -> None:
    masks = _masks()
    masks[1] = False
    with pytest.raises(ValueError, match="empty evidence mask for \\['b'\\]"):
        evidence_table(np.ones((2, 10, 10)), masks, image_ids=["a", "b"])
