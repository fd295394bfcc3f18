"""The spurious-correlation probe: does a member read the lesion, or an artefact beside it?

A probe suite (``dermviz probe``, :func:`dermviz.models.profiles.probe_profile`) is trained
on synthetic images where an ink mark sits on every melanoma and on no naevus, and tested
on a hold-out where half of each class carries it. A member that learned the shortcut
calls inked naevi melanoma and un-inked melanomas naevi, and its saliency sits on the ink.
Two views of that, per member:

- :func:`accuracy_by_artefact`: hold-out AUC, accuracy, sensitivity and specificity on all
  images and on the images with and without each artefact;
- :func:`saliency_shares` / :func:`probe_table`: per image, the share of the saliency
  map's mass on each artefact and on the lesion, beside chance (the region's share of the
  image: what a uniform map scores), summarised by :func:`probe_summary`.

On data without artefacts (HAM10000, which has official lesion masks) the same table
gives the share of saliency *outside* the lesion mask, per member.

The mass share is the localization module's relevance mass
(:func:`dermviz.analysis.localization.relevance_mass_accuracy`); maps come from the
suite's map cache (:func:`dermviz.explain.precompute.load_or_compute_batch`), computed and
stored on a miss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.localization import mask_share, positive_part, relevance_mass_accuracy
from dermviz.data.synthetic import ARTEFACT_NAMES, SyntheticSource, load_artefact_masks
from dermviz.explain.base import get_explainer
from dermviz.explain.precompute import load_or_compute_batch
from dermviz.models.metrics import binary_metrics
from dermviz.models.suite import Suite

__all__ = ["accuracy_by_artefact", "probe_summary", "probe_table", "saliency_shares",
           "suite_artefacts"]

_METRICS = ("auc", "accuracy", "sensitivity", "specificity")


def suite_artefacts(dataset: Any) -> list[str]:
    """The artefacts some hold-out image of ``dataset`` carries (none for real data)."""
    if not isinstance(dataset.source, SyntheticSource):
        return []
    holdout = dataset.holdout
    return [name for name in ARTEFACT_NAMES if name in holdout and holdout[name].any()]


def accuracy_by_artefact(suite: Suite, *, dataset: Any = None) -> pd.DataFrame:
    """Each member's hold-out metrics on all images and with / without each artefact.

    Parameters
    ----------
    suite : Suite
    dataset : Dataset, optional
        The suite's data set (default: rebuilt from the suite).

    Returns
    -------
    DataFrame
        One row per member and subset: ``member``, ``subset`` (``"all"``,
        ``"with ink"``, ``"without ink"``...), ``artefact`` (None for ``"all"``),
        ``present`` (bool, None for ``"all"``), ``images`` and the metrics ``auc``,
        ``accuracy``, ``sensitivity``, ``specificity`` at the member's own threshold
        (NaN where a subset lacks a class).
    """
    dataset = dataset if dataset is not None else suite.dataset()
    flags = dataset.holdout.set_index("image_id")
    artefacts = suite_artefacts(dataset)
    rows = []
    for member in suite.member_ids:
        preds = suite.predictions(member)
        threshold = suite.threshold(member)
        subsets: list[tuple[str, str | None, bool | None, np.ndarray]] = [
            ("all", None, None, np.ones(len(preds), bool))]
        for name in artefacts:
            has = flags.loc[preds["image_id"], name].to_numpy(bool)
            subsets += [(f"with {name}", name, True, has), (f"without {name}", name, False, ~has)]
        for subset, artefact, present, keep in subsets:
            part = preds[keep]
            metrics = (binary_metrics(part["y"].to_numpy(), part["p_melanoma"].to_numpy(),
                                      threshold=threshold) if len(part) else {})
            rows.append({"member": member, "subset": subset, "artefact": artefact,
                         "present": present, "images": int(len(part)),
                         **{k: _number(metrics.get(k)) for k in _METRICS}})
    return pd.DataFrame(rows)


def saliency_shares(
    maps: np.ndarray,
    lesion_masks: np.ndarray,
    artefact_masks: Mapping[str, np.ndarray] | None = None,
    *,
    signed: bool = False,
) -> pd.DataFrame:
    """Per image, the share of saliency mass on the lesion, outside it and on each artefact.

    Parameters
    ----------
    maps : ndarray, (n, H, W)
        Saliency maps at image size (non-negative, or ``signed``).
    lesion_masks : ndarray of bool, (n, H, W)
    artefact_masks : mapping of str to ndarray of bool (n, H, W), optional
        Each artefact's pixels (all False on an image without it).
    signed : bool
        True for signed maps (SHAP): their positive part is scored.

    Returns
    -------
    DataFrame
        One row per image: ``lesion_share``, ``lesion_chance`` (the lesion's share of the
        image), ``outside_share`` (1 - ``lesion_share``), ``outside_chance``, and per
        artefact ``<name>_share`` and ``<name>_chance``, NaN on images without it.
        Shares are NaN for an all-zero map.
    """
    values = positive_part(maps, signed=signed)
    lesion_share = relevance_mass_accuracy(values, lesion_masks)
    lesion_chance = mask_share(lesion_masks)
    table = pd.DataFrame({"lesion_share": lesion_share, "lesion_chance": lesion_chance,
                          "outside_share": 1.0 - lesion_share,
                          "outside_chance": 1.0 - lesion_chance})
    for name, masks in (artefact_masks or {}).items():
        masks = np.asarray(masks)
        present = masks.any(axis=(1, 2))
        table[f"{name}_share"] = np.where(present, relevance_mass_accuracy(values, masks), np.nan)
        table[f"{name}_chance"] = np.where(present, mask_share(masks), np.nan)
    return table


def probe_table(
    suite: Suite,
    *,
    method: str = "gradcam",
    members: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    params: dict[str, Any] | None = None,
    dataset: Any = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """:func:`saliency_shares` of a suite's maps, per member and hold-out image.

    Maps are read from the suite's map cache; missing ones are computed and stored
    first (this needs the members' models: precompute with ``dermviz explain`` to keep
    it cheap).

    Parameters
    ----------
    suite : Suite
    method : str
        A registered saliency method.
    members : sequence of str, optional
        Default: every member.
    image_ids : sequence of str, optional
        Default: the hold-out images that have a lesion mask.
    params : dict, optional
        Method parameters (default: the suite's defaults, as the map cache keys them).
    dataset : Dataset, optional
        The suite's data set (default: rebuilt from the suite).
    batch_size : int
        Images per batch when maps must be computed.

    Returns
    -------
    DataFrame
        One row per (member, image): ``member``, ``image_id``, ``y``, one boolean column
        per artefact the hold-out carries, ``p_melanoma``, ``correct`` (at the member's
        threshold) and the share columns of :func:`saliency_shares`.
    """
    dataset = dataset if dataset is not None else suite.dataset()
    members = list(members) if members is not None else suite.member_ids
    unknown = sorted(set(members) - set(suite.member_ids))
    if unknown:
        raise KeyError(f"suite {suite.name!r} has no member(s) {unknown}; has {suite.member_ids}")
    holdout = dataset.holdout
    if image_ids is None:
        image_ids = holdout.loc[holdout["has_mask"].astype(bool), "image_id"].tolist()
    ids = [str(i) for i in image_ids]
    if not ids:
        raise ValueError("no images to probe (no hold-out image has a lesion mask)")
    artefacts = suite_artefacts(dataset)
    size = suite.image_size
    lesions = dataset.load_masks(ids, size=size)
    artefact_px = ({k: v for k, v in load_artefact_masks(dataset, ids, size=size).items()
                    if k in artefacts} if artefacts else None)
    signed = get_explainer(method).signed
    rows = dataset.rows(ids)
    frames = []
    for member in members:
        maps = load_or_compute_batch(suite, member, ids, method=method, params=params,
                                     dataset=dataset, batch_size=batch_size)
        preds = suite.predictions(member).set_index("image_id")
        frame = pd.DataFrame({"member": member, "image_id": ids,
                              "y": rows["y"].to_numpy(int)})
        for name in artefacts:
            frame[name] = rows[name].to_numpy(bool)
        if set(ids) <= set(preds.index):
            frame["p_melanoma"] = preds.loc[ids, "p_melanoma"].to_numpy(float)
            frame["correct"] = preds.loc[ids, "predicted"].to_numpy(int) == frame["y"]
        frames.append(pd.concat(
            [frame, saliency_shares(maps.maps, lesions, artefact_px, signed=signed)], axis=1))
    return pd.concat(frames, ignore_index=True)


def probe_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per member, the mean shares of :func:`probe_table` (or :func:`saliency_shares`
    with a ``member`` column) beside their chance levels.

    An artefact's means run over the images that carry it (``<name>_images`` of them;
    an all-zero map, whose shares are undefined, is left out of the share's mean).
    Returns one row per member:
    ``images``, ``lesion_share``, ``lesion_chance``, ``outside_share``,
    ``outside_chance`` and per artefact ``<name>_images``, ``<name>_share``,
    ``<name>_chance``.
    """
    if "member" not in table or "lesion_share" not in table:
        raise ValueError("the table needs 'member' and share columns (probe_table's output)")
    artefacts = [c.removesuffix("_share") for c in table.columns
                 if c.endswith("_share") and c not in ("lesion_share", "outside_share")]
    cols = ["lesion_share", "lesion_chance", "outside_share", "outside_chance"]
    groups = table.groupby("member", sort=False)
    out = groups[cols].mean()
    out.insert(0, "images", groups.size())
    for name in artefacts:
        out[f"{name}_images"] = groups[f"{name}_chance"].count()  # images carrying it
        out[f"{name}_share"] = groups[f"{name}_share"].mean()
        out[f"{name}_chance"] = groups[f"{name}_chance"].mean()
    return out.reset_index()


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)
