"""Artefact masks (dermviz.data.synthetic.artefacts): exactly the pixels an artefact changes."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.synthetic import (
    ArtefactSpec,
    SyntheticConfig,
    artefact_masks,
    load_artefact_masks,
    make_synthetic,
    render_lesion,
)

ARGS = {"seed": 11, "label": "mel", "difficulty": 0.5}


def test_each_mask_is_where_its_artefact_changes_the_image() -> None:
    masks = artefact_masks(**ARGS, ink=True, ruler=True)
    assert set(masks) == {"ink", "ruler"}
    plain, lesion = render_lesion(**ARGS)
    for name in ("ink", "ruler"):
        image, _ = render_lesion(**ARGS, **{name: True})
        only = artefact_masks(**ARGS, **{name: True})[name]
        np.testing.assert_array_equal(only, (image != plain).any(axis=-1))
        assert 0.005 < only.mean() < 0.3
    # never on the lesion's interior for the ruler-free ink (drawn around, not over it)
    assert not masks["ink"][lesion].all()
    # no artefact drawn, no pixels
    assert not any(m.any() for m in artefact_masks(**ARGS).values())
    # the ruler drawn over ink takes those pixels: the masks never overlap
    assert not (masks["ink"] & masks["ruler"]).any()


def test_dataset_masks_follow_the_artefact_flags() -> None:
    config = SyntheticConfig(n_train=0, n_test=8, seed=1,
                             artefacts_test={"ink": ArtefactSpec(1.0, 0.0)})
    data = make_synthetic(config)
    ids = list(data.holdout["image_id"])
    masks = load_artefact_masks(data, ids, size=64)
    assert masks["ink"].shape == (8, 64, 64)
    has_ink = data.holdout["ink"].to_numpy()
    assert has_ink.any() and not has_ink.all()
    np.testing.assert_array_equal(masks["ink"].any(axis=(1, 2)), has_ink)
    assert not masks["ruler"].any()
    with pytest.raises(ValueError, match="synthetic"):
        load_artefact_masks(type(data)("other", data.table, object()), ids, size=64)
