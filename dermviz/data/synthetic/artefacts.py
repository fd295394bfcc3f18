"""Artefact masks: the exact pixels each spurious artefact covers.

Optional artefacts that a classifier may learn as shortcuts: ``"ink"`` (a purple
or blue marker circle, or pen dots, near the lesion) and ``"ruler"`` (a scale
strip with ticks along an edge). Each has an
:class:`~dermviz.data.synthetic.config.ArtefactSpec` giving the probability that a
melanoma / naevus image carries it, set separately for the training pool and the
hold-out, so the correlation with the label can differ between the splits.
Artefacts are drawn from their own random streams: switching one on changes only
its own pixels, never the lesion, and they are never part of the lesion mask. So an
artefact's mask is where the image rendered without it differs.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from dermviz.data.dataset import Dataset
from dermviz.data.synthetic.assembly import SyntheticSource
from dermviz.data.synthetic.config import ARTEFACT_NAMES
from dermviz.data.synthetic.renderer import render_lesion


def artefact_masks(*, ink: bool = False, ruler: bool = False,
                   **scene: Any) -> dict[str, np.ndarray]:
    """The pixels of each artefact :func:`render_lesion` draws with these arguments.

    Artefacts have their own random streams, so the image rendered without one artefact
    differs from the full image exactly where that artefact shows. Where two artefacts
    overlap the pixels belong to the one drawn last (the ruler covers ink); an artefact
    inside the dark vignette that rounds away to nothing has no pixels there.

    Parameters
    ----------
    ink, ruler : bool
        The artefacts drawn, as for :func:`render_lesion`.
    **scene
        ``seed``, ``label``, ``difficulty`` and ``native_size``: keyword arguments of
        :func:`render_lesion`, which checks them.

    Returns
    -------
    dict of str to numpy.ndarray
        One ``bool`` (height, width) mask per name in :data:`ARTEFACT_NAMES`; all False
        for an artefact that is not drawn.
    """
    on = {"ink": bool(ink), "ruler": bool(ruler)}
    full, _ = render_lesion(**scene, **on)
    out = {}
    for name in ARTEFACT_NAMES:
        if not on[name]:
            out[name] = np.zeros(full.shape[:2], bool)
            continue
        without, _ = render_lesion(**scene, **{**on, name: False})
        out[name] = (full != without).any(axis=-1)
    return out


def load_artefact_masks(
    dataset: Dataset, ids: list[str] | tuple[str, ...], *, size: int
) -> dict[str, np.ndarray]:
    """Artefact masks of synthetic images at ``size`` px.

    A pixel of the output is artefact when at least a quarter of its area is (nearest
    sampling, as for lesion masks, would drop a thin ink line when shrinking).

    Parameters
    ----------
    dataset : Dataset
        A synthetic data set (:func:`make_synthetic`).
    ids : sequence of str
        Image ids.
    size : int
        Side of the square output, as for :meth:`Dataset.load_masks`.

    Returns
    -------
    dict of str to numpy.ndarray
        For each name in :data:`ARTEFACT_NAMES`, ``bool`` (n, size, size).

    Raises
    ------
    ValueError
        ``dataset`` is not synthetic (only generated images have known artefact pixels).
    """
    if not isinstance(dataset.source, SyntheticSource):
        raise ValueError(f"artefact masks exist for synthetic data only, not {dataset.name!r}")
    rows = dataset.rows(list(ids))
    native = dataset.source.config.native_size
    out = {name: np.zeros((len(rows), size, size), bool) for name in ARTEFACT_NAMES}
    for k, (_, row) in enumerate(rows.iterrows()):
        flags = {name: bool(row.get(name, False)) for name in ARTEFACT_NAMES}
        if not any(flags.values()):
            continue
        masks = artefact_masks(seed=int(row["seed"]), label=str(row["dx"]),
                               difficulty=float(row["difficulty"]), native_size=native, **flags)
        for name, mask in masks.items():
            if mask.any():
                out[name][k] = resize_thin_mask(mask, size)
    return out


def resize_thin_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` at ``size`` x ``size``: a pixel is on when at least a quarter of its area is.

    Nearest sampling, as for lesion masks, would drop a thin line when shrinking.
    """
    area = cv2.resize(mask.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return area >= 0.25
