"""The evidence mode at the data-set level: evidence masks and counterfactual images by id.

An evidence-mode data set (``make_synthetic(evidence=True)``) draws its class as local
structures (:mod:`dermviz.data.synthetic.structures`). For any of its images this module
gives, at the model's input size,

* the *evidence mask*: the union of the structures' pixels, and each structure's own mask;
* the *counterfactual*: the same image rendered without its structures (same seed,
  lesion, hairs, artefacts, vignette and noise).

At native size the counterfactual equals the image bit for bit outside the evidence mask
(:func:`~dermviz.data.synthetic.renderer.render_evidence`); resizing keeps that up to the
evidence mask's rim (an area-averaged pixel that mixes evidence and skin changes too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dermviz.data.dataset import Dataset
from dermviz.data.images import resize_image
from dermviz.data.synthetic.artefacts import resize_thin_mask
from dermviz.data.synthetic.assembly import SyntheticSource
from dermviz.data.synthetic.structures import STRUCTURE_NAMES

#: Key of the union of every structure's mask in :func:`load_evidence_masks`.
EVIDENCE = "evidence"


def _evidence_rows(dataset: Dataset, ids: Sequence[str]):  # noqa: ANN202 - a row iterator
    source = dataset.source
    if not isinstance(source, SyntheticSource):
        raise ValueError(f"evidence exists for synthetic data only, not {dataset.name!r}")
    rows = dataset.rows(list(ids))
    for _, row in rows.iterrows():
        if not source.evidence_mode(row):
            raise ValueError(f"image {row['image_id']!r} is not an evidence-mode image "
                             "(make_synthetic(evidence=True))")
        yield source, row


def load_evidence_masks(
    dataset: Dataset, ids: Sequence[str], *, size: int
) -> dict[str, np.ndarray]:
    """Evidence masks of evidence-mode images at ``size`` px.

    A pixel of the output is on when at least a quarter of its area is (as for the
    artefact masks: thin streaks and network lines survive shrinking).

    Parameters
    ----------
    dataset : Dataset
        An evidence-mode synthetic data set.
    ids : sequence of str
        Image ids.
    size : int
        Side of the square output, as for :meth:`Dataset.load_masks`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``"evidence"``: the union of the structures, ``bool`` (n, size, size); and one
        such mask per name in ``STRUCTURE_NAMES`` (all False where it is not drawn).

    Raises
    ------
    ValueError
        For a data set that is not synthetic or an image not drawn in the evidence mode.
    """
    ids = list(ids)
    out = {name: np.zeros((len(ids), size, size), bool) for name in (EVIDENCE, *STRUCTURE_NAMES)}
    for k, (source, row) in enumerate(_evidence_rows(dataset, ids)):
        masks = source.read_structure_masks(row)
        out[EVIDENCE][k] = resize_thin_mask(masks.any(axis=0), size)
        for name, mask in zip(STRUCTURE_NAMES, masks, strict=True):
            if mask.any():
                out[name][k] = resize_thin_mask(mask, size)
    return out


def load_counterfactuals(dataset: Dataset, ids: Sequence[str], *, size: int) -> np.ndarray:
    """The images of ``ids`` without their evidence, ``uint8`` (n, size, size, 3).

    Resized like :meth:`Dataset.load_images`, so ``load_images(ids)`` and this differ
    only around the evidence. Raises ``ValueError`` as :func:`load_evidence_masks`.
    """
    ids = list(ids)
    out = np.empty((len(ids), size, size, 3), np.uint8)
    for k, (source, row) in enumerate(_evidence_rows(dataset, ids)):
        out[k] = resize_image(source.read_counterfactual(row), size)
    return out
