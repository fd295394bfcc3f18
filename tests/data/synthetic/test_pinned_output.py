"""The generator's output is pinned: same seeds, the same pixels, masks and labels.

The hashes were computed from the single-module generator before it was split into a
package (and checked unchanged with numpy's and OpenCV's AVX-512 and AVX2 code paths
switched off). A change that moves a random draw, reorders a drawing step or alters
arithmetic changes them: a deliberate change of the images updates them here, with
the reason in the commit.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dermviz.data.synthetic import (
    ArtefactSpec,
    SyntheticConfig,
    artefact_masks,
    lesion_atypia,
    load_artefact_masks,
    make_synthetic,
    render_lesion,
)

CONFIG = SyntheticConfig(n_train=6, n_test=4, seed=7, difficulty=0.6, native_size=(96, 72),
                         artefacts={"ink": ArtefactSpec(0.5, 0.5)},
                         artefacts_train={"ruler": (0.5, 0.5)})


def digest(*arrays: np.ndarray) -> str:
    """First 16 hex digits of the SHA-256 of the arrays' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def data():
    return make_synthetic(CONFIG)


def test_table_is_pinned(data) -> None:
    text = data.table.to_csv(index=False, float_format="%.17g")
    assert hashlib.sha256(text.encode()).hexdigest()[:16] == "74bf71174adff378"
    # both artefacts occur, so their flags and pixels are part of the pin
    assert data.table["ink"].any() and data.table["ruler"].any()


def test_images_and_masks_of_a_data_set_are_pinned(data) -> None:
    rows = [row for _, row in data.table.iterrows()]
    assert digest(*[data.source.read_image(row) for row in rows]) == "bc2c3368f6fdabad"
    assert digest(*[data.source.read_mask(row) for row in rows]) == "a36c87ce4e660583"
    masks = load_artefact_masks(data, list(data.table["image_id"]), size=32)
    assert digest(*[masks[name] for name in sorted(masks)]) == "527dd398253c9659"


@pytest.mark.parametrize(
    ("seed", "label", "image_and_mask", "artefacts"),
    [(3, "mel", "309849eab70fed6f", "0ebf52fbffa4fb39"),
     (4, "nv", "3b54c2e55f06768c", "9daf9b84f3ccb5b1")],
)
def test_renders_are_pinned(seed: int, label: str, image_and_mask: str, artefacts: str) -> None:
    scene = {"seed": seed, "label": label, "difficulty": 0.5, "ink": True, "ruler": True}
    assert digest(*render_lesion(**scene)) == image_and_mask
    masks = artefact_masks(**scene)
    assert digest(*[masks[name] for name in sorted(masks)]) == artefacts


def test_atypia_is_pinned() -> None:
    assert lesion_atypia(seed=5, label="mel", difficulty=0.3) == 0.612735062620652
