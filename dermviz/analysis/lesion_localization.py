"""Which hold-out images' maps miss the lesion? Localization per image, over the members.

For each hold-out image with a lesion mask, :func:`localization_by_image` scores every
member's map (:mod:`dermviz.analysis.localization`: the relevance mass on the lesion and
the pointing game) and sums them up over the members:

- ``<method>_mass``: the members' mean share of map mass on the lesion;
- ``lesion_share``: the lesion's share of the image, the chance level of both scores;
- ``<method>_pointing``: the share of members whose map peaks on the lesion (a peak tied
  over several pixels counts the share of them on the lesion);
- ``<method>_maps``: how many members' maps were scored;
- ``<method>_misses``: the maps **miss the lesion**: the mean mass is not above chance
  (flat maps, whose mass is exactly chance, included), or the peak falls off the lesion
  for the majority of members (pointing share < 0.5).

:func:`member_scores` has the same scores per member and image (long format).
:func:`stored_maps_and_masks` reads the maps from the suite's map store (stored maps
only: nothing is computed, no TensorFlow is imported), :func:`suite_localization` scores
them, and :func:`join_localization` adds the columns to the lesion browser's table
(:func:`dermviz.analysis.browse.lesion_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.localization import pointing_game, positive_part, relevance_mass_accuracy
from dermviz.explain.base import get_explainer
from dermviz.explain.cache import MapCache
from dermviz.explain.precompute import default_params

#: The lesion's share of the image (chance level), a column of every table here.
LESION_SHARE = "lesion_share"

#: How far above chance the mean mass must be for the maps not to miss: float rounding
#: only, so that a flat map (mass exactly chance) is a miss.
_ABOVE_CHANCE = 1e-9


def columns(method: str, region: str = "lesion") -> dict[str, str]:
    """The columns :func:`localization_by_image` writes for ``method``, by role.

    The lesion's columns are ``<method>_mass`` and so on; another ``region`` (the
    evidence of the synthetic evidence benchmark) is named in them:
    ``<method>_<region>_mass``.
    """
    stem = method if region == "lesion" else f"{method}_{region}"
    return {"mass": f"{stem}_mass", "pointing": f"{stem}_pointing",
            "maps": f"{stem}_maps", "misses": f"{stem}_misses"}


def share_column(region: str = "lesion") -> str:
    """The column of the region's share of the image (the chance level)."""
    return LESION_SHARE if region == "lesion" else f"{region}_share"


def member_scores(
    maps: Mapping[str, Mapping[str, np.ndarray]],
    masks: Mapping[str, np.ndarray],
    *,
    signed: bool = False,
) -> pd.DataFrame:
    """Every member's localization of every image it has a map of, long format.

    Parameters
    ----------
    maps : mapping of member -> (mapping of image id -> ndarray (H, W))
        The members' maps; a member may lack some images.
    masks : mapping of image id -> ndarray of bool (H, W)
        The lesion masks; maps of images without a mask are left out.
    signed : bool
        Signed maps (SHAP) are scored on their positive part.

    Returns
    -------
    DataFrame
        ``image_id, member,`` :data:`LESION_SHARE` ``, mass, pointing`` (NaN scores for
        an all-zero map), in the order of ``masks`` then ``maps``.

    Raises
    ------
    ValueError
        A map whose shape differs from its mask, a mask that is not 2-D boolean,
        non-finite maps.
    """
    rows = []
    for image_id, mask in masks.items():
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != bool:
            raise ValueError(f"the mask of {image_id!r} must be a 2-D boolean array, got "
                             f"{mask.dtype} {mask.shape}")
        have = {m: np.asarray(found[image_id]) for m, found in maps.items() if image_id in found}
        wrong = [a.shape for a in have.values() if a.shape != mask.shape]
        if wrong:
            raise ValueError(f"maps of {image_id!r} have shape(s) {wrong}, its mask "
                             f"{mask.shape}")
        if not have:
            continue
        stack = positive_part(np.stack(list(have.values())), signed=signed)
        many = np.broadcast_to(mask, stack.shape)
        rows.append(pd.DataFrame({
            "image_id": str(image_id), "member": list(have), LESION_SHARE: float(mask.mean()),
            "mass": relevance_mass_accuracy(stack, many), "pointing": pointing_game(stack, many),
        }))
    if not rows:
        return pd.DataFrame(columns=["image_id", "member", LESION_SHARE, "mass", "pointing"])
    return pd.concat(rows, ignore_index=True)


def localization_by_image(
    maps: Mapping[str, Mapping[str, np.ndarray]],
    masks: Mapping[str, np.ndarray],
    *,
    method: str = "gradcam",
    signed: bool = False,
    region: str = "lesion",
) -> pd.DataFrame:
    """Per image, the members' localization of the lesion and whether their maps miss it.

    Parameters
    ----------
    maps, masks, signed
        As :func:`member_scores`: one row per image of ``masks``, in its order.
    method : str
        Names the columns (:func:`columns`).
    region : str
        What the masks outline: ``"lesion"``, or another region named in the columns
        (:func:`columns`, :func:`share_column`), such as ``"evidence"``.

    Returns
    -------
    DataFrame
        ``image_id``, the region's share (:func:`share_column`) and the
        :func:`columns`. An image without any member's map (or whose maps are all zero)
        has NaN scores and ``misses`` False: unknown is not a miss.
    """
    cols = columns(method, region)
    share = share_column(region)
    scores = member_scores(maps, masks, signed=signed)
    by_image = scores.groupby("image_id", sort=False).agg(
        mass=("mass", "mean"), pointing=("pointing", "mean"), n=("member", "size"))
    out = pd.DataFrame({"image_id": [str(i) for i in masks]})
    out[share] = [float(np.asarray(m).mean()) for m in masks.values()]
    out = out.join(by_image, on="image_id")
    out[cols["maps"]] = out.pop("n").fillna(0).astype(int)
    out[cols["mass"]] = out.pop("mass").astype(float)
    out[cols["pointing"]] = out.pop("pointing").astype(float)
    # A flat map scores chance on both scores (its tied peak is everywhere), so "not above
    # chance" flags it; the margin absorbs the rounding of its mass. NaN compares False on
    # both sides: an unscored image is never a miss.
    out[cols["misses"]] = ((out[cols["mass"]] <= out[share] + _ABOVE_CHANCE)
                           | (out[cols["pointing"]] < 0.5))
    return out[["image_id", share, *cols.values()]]


def stored_maps_and_masks(
    suite: Any,
    *,
    dataset: Any = None,
    method: str = "gradcam",
    params: dict[str, Any] | None = None,
    members: Sequence[str] | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The suite's **stored** maps of its masked hold-out images, and their masks.

    Nothing is computed (no TensorFlow is imported). ``params`` override the method's
    suite defaults (:func:`dermviz.explain.precompute.default_params`), the parameters
    the demo stores its maps under; ``members`` default to all; ``dataset`` to the
    suite's own.

    Returns
    -------
    maps : dict of member -> (dict of image id -> ndarray (H, W))
    masks : dict of image id -> ndarray of bool (H, W), in hold-out order
    """
    dataset = dataset if dataset is not None else suite.dataset()
    holdout = dataset.holdout
    ids = [str(i) for i in holdout.loc[holdout["has_mask"].astype(bool), "image_id"]]
    masks = dict(zip(ids, dataset.load_masks(ids, size=suite.image_size), strict=True)) \
        if ids else {}
    return stored_maps(suite, ids, method=method, params=params, members=members), masks


def stored_maps(
    suite: Any,
    image_ids: Sequence[str],
    *,
    method: str = "gradcam",
    params: dict[str, Any] | None = None,
    members: Sequence[str] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """The suite's **stored** ``method`` maps of ``image_ids``, per member (nothing is
    computed); ``params`` and ``members`` as :func:`stored_maps_and_masks`.

    Returns
    -------
    dict of member -> (dict of image id -> ndarray (H, W)), images without a map left out
    """
    params = default_params(suite, method, **(params or {}))
    cache = MapCache.of(suite)
    return {m: {i: hit.maps[0] for i, hit in cache.get_many(m, list(image_ids), method,
                                                            params).items()}
            for m in (members if members is not None else suite.member_ids)}


def suite_localization(suite: Any, *, method: str = "gradcam", **options: Any) -> pd.DataFrame:
    """:func:`localization_by_image` of the suite's stored maps of its hold-out images.

    ``options`` (``dataset``, ``params``, ``members``) as :func:`stored_maps_and_masks`.

    Returns
    -------
    DataFrame
        One row per hold-out image that has a mask; images without stored maps have
        ``<method>_maps`` 0.
    """
    maps, masks = stored_maps_and_masks(suite, method=method, **options)
    return localization_by_image(maps, masks, method=method,
                                 signed=get_explainer(method).signed)


def join_localization(table: pd.DataFrame, localization: pd.DataFrame) -> pd.DataFrame:
    """``table`` (one row per ``image_id``) with the localization columns added.

    Images the localization does not cover (no mask) get NaN scores, 0 maps and
    ``misses`` False.
    """
    if "image_id" not in table.columns or "image_id" not in localization.columns:
        raise ValueError("both tables need an image_id column")
    added = [c for c in localization.columns if c != "image_id"]
    clash = sorted(set(added) & set(table.columns))
    if clash:
        raise ValueError(f"the table already has the column(s) {clash}")
    out = table.merge(localization, on="image_id", how="left")
    for col in added:
        if col.endswith("_maps"):
            out[col] = out[col].fillna(0).astype(int)
        elif col.endswith("_misses"):
            out[col] = out[col].astype("boolean").fillna(False).astype(bool)
    return out
