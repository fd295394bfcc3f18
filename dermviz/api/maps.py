"""Saliency maps: from the suite's map store, computed on a miss, in the foreground or in
the background; their consensus over members; maps of uploaded images.

Models are loaded through the suite (:meth:`Suite.model`, once per suite object), only when
a map is not in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.localization import localization_table
from dermviz.api.suites import first_member, suite_dataset
from dermviz.explain import GradCAM, KernelSHAP
from dermviz.explain.backgrounds import BACKGROUNDS, DEGENERATE_GAP, gap_warning, reference_gap
from dermviz.explain.base import available_methods, get_explainer, make_explainer
from dermviz.explain.cam_graph import upsample_signed
from dermviz.explain.consensus import Consensus, map_consensus
from dermviz.explain.jobs import Job, MapJobs
from dermviz.explain.kernelshap import SAMPLERS, error_note
from dermviz.explain.maps import SaliencyMaps
from dermviz.explain.precompute import (
    cached_maps,
    default_params,
    load_or_compute,
    load_or_compute_batch,
)
from dermviz.models.blocks import INCEPTION_BLOCKS
from dermviz.models.suite import Suite

__all__ = [
    "BACKGROUNDS",
    "DEGENERATE_GAP",
    "INCEPTION_BLOCKS",
    "SAMPLERS",
    "Consensus",
    "GradCAM",
    "Job",
    "KernelSHAP",
    "MapJobs",
    "SaliencyMaps",
    "available_methods",
    "error_note",
    "gap_warning",
    "get_explainer",
    "localization_table",
    "explain_upload",
    "localization",
    "map_job",
    "maps_consensus",
    "method_defaults",
    "saliency",
    "saliency_map",
    "shap_gap",
    "signed_cam",
    "target_layers",
    "stored_maps",
    "submit_map",
]


def method_defaults(suite: Suite, method: str, **overrides: Any) -> dict[str, Any]:
    """A method's full parameters for this suite (what :func:`saliency` uses by default,
    e.g. GradCAM's layer from the suite's config), with ``overrides``. They are the key of
    a map in the store."""
    return default_params(suite, method, **overrides)


def saliency(
    suite: Suite,
    image_ids: Sequence[str],
    *,
    method: str = "gradcam",
    member: str | None = None,
    **params: Any,
) -> SaliencyMaps:
    """Maps of hold-out images by one member, from the map cache (computed on a miss).

    Parameters
    ----------
    suite : Suite
    image_ids : sequence of str
        Hold-out (or pool) image ids, in the order wanted.
    method : str
        A registered method (:func:`available_methods`).
    member : str, optional
        Default: the suite's first member.
    **params
        The method's parameters (default: its defaults for this suite, e.g. GradCAM's
        layer from the suite's config); they are part of the cache key.
    """
    member = member or first_member(suite)
    return load_or_compute_batch(suite, member, [str(i) for i in image_ids], method=method,
                                 params=params)


def saliency_map(suite: Suite, member: str, image_id: str, *, method: str,
                 params: dict[str, Any]) -> SaliencyMaps:
    """One image's map by one member, from the store, or computed and stored on a miss
    (the member's model is then loaded through the suite).

    Raises
    ------
    MemberModelError
        On a miss, when the member's model file is missing or damaged.
    """
    # On a miss only: the suite's kept model, and its data set (kept too).
    return load_or_compute(suite, member, image_id, method=method, params=params,
                           model_loader=partial(suite.model, member))


def stored_maps(suite: Suite, members: Sequence[str], image_id: str, *, method: str,
                params: dict[str, Any]) -> dict[str, SaliencyMaps | None]:
    """One image's maps already in the store, by member (None: not computed). Computes
    nothing; a store read takes milliseconds."""
    return cached_maps(suite, list(members), image_id, method=method, params=params)


def maps_consensus(suite: Suite, image_id: str, *, method: str, params: dict[str, Any],
                   members: Sequence[str], skip_degenerate: bool = False) -> Consensus:
    """:func:`dermviz.explain.consensus.map_consensus` of ``members``' maps of one image.

    Maps come from the store, computed and stored on a miss (pass only members whose maps
    are stored for slow methods such as KernelSHAP). ``skip_degenerate``: leave out empty
    or constant maps (named in ``Consensus.skipped``; a ValueError when fewer than 2
    remain).
    """
    stack = np.stack([saliency_map(suite, m, image_id, method=method, params=params).maps[0]
                      for m in members])
    return map_consensus(stack, signed=get_explainer(method).signed, members=tuple(members),
                         skip_degenerate=skip_degenerate)


def submit_map(jobs: MapJobs, suite: Suite, member: str, image_id: str, *, method: str,
               params: dict[str, Any]) -> Job:
    """Queue one map on ``jobs`` (computed in the background and stored), with the suite's
    loaded model and data set.

    Raises
    ------
    MemberModelError
        The member's model file is missing or damaged.
    """
    return jobs.submit(suite, member, image_id, method=method, params=params,
                       model=suite.model(member), dataset=suite_dataset(suite))


def map_job(jobs: MapJobs, suite: Suite, member: str, image_id: str, *, method: str,
            params: dict[str, Any]) -> Job | None:
    """The job of one map on ``jobs``, or None if none was submitted."""
    return jobs.job(str(suite.path), member, image_id, method, params)


def explain_upload(suite: Suite, member: str, image: np.ndarray, *, method: str,
                   params: dict[str, Any]) -> SaliencyMaps:
    """One member's map of an image from outside the suite (an upload), at the suite's
    image size, ``(size, size, 3)``. Its ``p_melanoma`` is the member's prediction, its
    target the member's call at its threshold. Never stored: an upload is not part of the
    suite."""
    image = np.asarray(image)
    if image.shape != (suite.image_size, suite.image_size, 3):
        raise ValueError(f"image must be ({suite.image_size}, {suite.image_size}, 3) for "
                         f"suite {suite.name!r}; got {image.shape}")
    explainer = make_explainer(suite.model(member), method, params)
    return explainer.explain(image[None], threshold=suite.threshold(member))


def signed_cam(maps: SaliencyMaps, k: int = 0) -> np.ndarray | None:
    """The signed map of a stored CAM (GradCAM without its ReLU), in [-1, 1] at the map's
    size: positive raises the explained class's score, negative lowers it
    (:func:`dermviz.explain.cam_graph.upsample_signed`); paint it with a diverging colour
    map centred on zero. None when the maps keep no signed grid (extras ``grid_cam``)."""
    if "grid_cam" not in maps.extras:
        return None
    if not 0 <= k < len(maps.maps):
        raise IndexError(f"map {k} of {len(maps.maps)}")
    grid = np.asarray(maps.extras["grid_cam"][k : k + 1])
    return upsample_signed(grid, tuple(maps.maps.shape[1:3]))[0]


def shap_gap(maps: SaliencyMaps) -> float | None:
    """A KernelSHAP map's reference gap ``|f(image) - f(reference)|``, what its values
    distribute (None: not recorded with the map)."""
    extras = maps.extras
    if "f_x" not in extras or "base_value" not in extras:
        return None
    return float(reference_gap(extras["f_x"][0], extras["base_value"][0]))


def localization(
    suite: Suite,
    image_ids: Sequence[str],
    *,
    method: str = "gradcam",
    member: str | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Localization scores of a member's maps against the lesion masks, per image, beside
    chance and the centred Gaussian (:func:`localization_table`)."""
    member = member or first_member(suite)
    ids = [str(i) for i in image_ids]
    maps = saliency(suite, ids, method=method, member=member, **params)
    masks = suite_dataset(suite).load_masks(ids, size=suite.image_size)
    return localization_table(maps.maps, masks, image_ids=ids,
                              signed=get_explainer(method).signed,
                              labels={"member": member, "method": method})


def target_layers(suite: Suite) -> list[str]:
    """The CAM target layers the pages offer: the Inception blocks for dermviz members,
    an imported model's feature layer (its adapter's, :mod:`dermviz.models.adapter`)."""
    adapter = suite.adapter(suite.member_ids[0]) if suite.member_ids else None
    if adapter is None or adapter.native:
        return list(INCEPTION_BLOCKS)
    return [adapter.layer] if adapter.layer else []
