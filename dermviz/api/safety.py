"""Clinicians' safety (issue 24): is an image unlike the suite's data, how close its
similar cases really are, maps that say when they are empty or within their noise.

What the pages read is prepared once per suite (:func:`prepare_safety`, run by ``dermviz
demo``, ``train`` and ``search``; for an older suite by :func:`start_safety_job` in the
background, never inside a page's rerun) and read back with :func:`suite_safety`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dermviz.analysis.ood import UNUSUAL_SENTENCE, is_unusual, ood_scores, suite_features
from dermviz.analysis.retrieval import (
    ALL_FAR_SENTENCE,
    CLOSENESS,
    all_far,
    calibrate_neighbours,
)
from dermviz.analysis.safety import MAX_SIMILAR, SAFETY_DIR, SuiteSafety, load_safety, ood_frame
from dermviz.api.build import prepare_suite
from dermviz.api.clinic import SIMILAR_METADATA, embedded_similar_cases
from dermviz.api.suites import suite_dataset
from dermviz.background import BuildStatus, safety_job_status, start_safety_job
from dermviz.explain.degenerate import degenerate_map_sentence, is_degenerate_map
from dermviz.explain.maps import SaliencyMaps
from dermviz.explain.noise import SuperpixelNoise, superpixel_noise
from dermviz.models.embed import EMBEDDING
from dermviz.models.suite import Suite

__all__ = [
    "ALL_FAR_SENTENCE",
    "CLOSENESS",
    "UNUSUAL_SENTENCE",
    "SafetyNotReadyError",
    "SuiteSafety",
    "SuperpixelNoise",
    "degenerate_map_sentence",
    "every_neighbour_far",
    "holdout_ood",
    "holdout_similar_cases",
    "image_ood",
    "is_degenerate_map",
    "prepare_suite",
    "safety_job",
    "safety_version",
    "shap_display",
    "shap_noise",
    "start_safety_job",
    "suite_safety",
    "upload_similar_cases",
]


class SafetyNotReadyError(LookupError):
    """The suite's safety data are not prepared yet (or are stale): start
    :func:`start_safety_job` (or run ``dermviz prepare <suite>``)."""


def suite_safety(suite: Suite) -> SuiteSafety | None:
    """The suite's prepared safety data, or None when not prepared (or stale since a member
    landed). Reads a few small files; computes nothing."""
    return load_safety(suite)


def safety_version(suite: Suite) -> float:
    """When the suite's safety data were last written (0: never): a cache key."""
    path = Path(suite.path) / SAFETY_DIR / "holdout.npz"
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _require(suite: Suite, safety: SuiteSafety | None = None) -> SuiteSafety:
    safety = safety if safety is not None else load_safety(suite)
    if safety is None:
        raise SafetyNotReadyError(
            f"suite {suite.name!r} has no out-of-distribution calibration yet: run "
            f"'dermviz prepare {Path(suite.path).name}' (the pages start it in the "
            "background)")
    return safety


def safety_job(models_dir: str | Path, name: str) -> BuildStatus:
    """Where the background job preparing suite ``name``'s safety data stands."""
    return safety_job_status(models_dir, name)


def holdout_ood(suite: Suite, *, safety: SuiteSafety | None = None) -> pd.DataFrame:
    """``image_id, ood_score, ood_percentile, unusual, threshold`` of every hold-out image
    (stored; nothing computed). ``ood_score`` 1 is a typical hold-out image; ``unusual``
    beyond the hold-out's 99th percentile.

    Raises
    ------
    SafetyNotReadyError
    """
    return _require(suite, safety).holdout_ood()


def image_ood(suite: Suite, images: np.ndarray, *, safety: SuiteSafety | None = None
              ) -> pd.DataFrame:
    """How unusual images from outside the suite are: ``ood_score`` (1: a typical hold-out
    image; larger is farther from the training pool in the members' features),
    ``ood_percentile`` among the hold-out's scores, ``unusual`` (beyond the hold-out's 99th
    percentile: show :data:`UNUSUAL_SENTENCE`) and the ``threshold``.

    Parameters
    ----------
    images : ndarray, (n, size, size, 3)
        In [0, 255], at the suite's image size. Every member embeds them (its model is
        loaded through the suite).

    Raises
    ------
    SafetyNotReadyError
    """
    safety = _require(suite, safety)
    features = _features(suite, safety, images)
    return ood_frame(safety.calibration, ood_scores(safety.calibration, features))


def _features(suite: Suite, safety: SuiteSafety, images: np.ndarray
              ) -> dict[str, dict[str, np.ndarray]]:
    """Every calibrated member's OOD features of images at the suite's size (one pass each,
    which also gives the embedding)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (suite.image_size, suite.image_size, 3):
        raise ValueError(f"images must be (n, {suite.image_size}, {suite.image_size}, 3) "
                         f"for suite {suite.name!r}; got {images.shape}")
    calibration = safety.calibration
    return suite_features(suite, images, layers=calibration.layers,
                          members=calibration.members, model_loader=suite.model)


def _with_metadata(suite: Suite, table: pd.DataFrame) -> pd.DataFrame:
    data = suite_dataset(suite).table
    meta = [c for c in SIMILAR_METADATA if c in data.columns]
    return table.merge(data[meta].reset_index(), on="image_id", how="left")


def holdout_similar_cases(suite: Suite, image_id: str, *, k: int = 6,
                          safety: SuiteSafety | None = None) -> pd.DataFrame:
    """The ``k`` (<= :data:`MAX_SIMILAR`) training images closest to a hold-out image
    (stored; nothing computed): ``rank, image_id, similarity, distance_percentile,
    closeness`` and their metadata. ``distance_percentile`` places the neighbour's distance
    among the hold-out's own nearest-neighbour distances; ``closeness`` says it in words
    (:data:`CLOSENESS`).

    Raises
    ------
    SafetyNotReadyError
    KeyError
        ``image_id`` is not a hold-out image.

    ``safety``: the suite's :func:`suite_safety`, when the caller keeps it.
    """
    similar = _require(suite, safety).similar
    found = similar[similar["query_id"] == str(image_id)]
    if found.empty:
        raise KeyError(f"{image_id!r} is not a hold-out image of suite {suite.name!r}")
    found = found.drop(columns="query_id").head(min(int(k), MAX_SIMILAR))
    return _with_metadata(suite, found.reset_index(drop=True))


def upload_similar_cases(suite: Suite, images: np.ndarray, *, k: int = 6,
                         safety: SuiteSafety | None = None,
                         unusual: Sequence[bool] | np.ndarray | None = None) -> pd.DataFrame:
    """As :func:`holdout_similar_cases` for images from outside the suite (``query``
    numbers them): each member embeds them (the pass of :func:`image_ood`, whose features
    hold the embedding); the pool's embeddings come from the suite's cache.

    Every neighbour of an image flagged unusual (:func:`image_ood`) is "far": the cosine
    ignores the embeddings' scale, so a photograph's neighbours would otherwise read
    "close" under the warning that it is unlike the suite's data.

    Parameters
    ----------
    unusual : sequence of bool, optional
        Per image, whether :func:`image_ood` flagged it (its ``unusual`` column), when the
        caller has it; computed here when omitted.

    Raises
    ------
    SafetyNotReadyError
    ValueError
        ``unusual`` does not have one flag per image.
    """
    safety = _require(suite, safety)
    features = _features(suite, safety, images)
    if unusual is None:
        unusual = is_unusual(safety.calibration, ood_scores(safety.calibration, features))
    flags = np.asarray(unusual)
    if flags.dtype != bool or flags.shape != (len(images),):
        raise ValueError(f"unusual must hold one bool per image ({len(images)}), got "
                         f"{flags.dtype} of shape {flags.shape}")
    # the embedding came with the OOD score's features: no second pass
    found = embedded_similar_cases(suite, {m: f[EMBEDDING] for m, f in features.items()}, k=k)
    found["member"] = "mean"
    ranked = calibrate_neighbours(found, safety.reference, unusual=np.flatnonzero(flags))
    return ranked.drop(columns="member")


def every_neighbour_far(table: pd.DataFrame) -> bool:
    """Whether every neighbour listed in a calibrated table (one query) is "far": then show
    :data:`ALL_FAR_SENTENCE`."""
    if table.empty:
        return False
    frame = table.assign(query=table.get("query", 0), member="mean")
    return bool(all_far(frame).all())


def shap_noise(extras: dict[str, np.ndarray], k: int = 0) -> SuperpixelNoise | None:
    """Which superpixels of a stored KernelSHAP map stand out from their sampling noise
    (:func:`dermviz.explain.noise.superpixel_noise`); None when the map has no error
    estimate."""
    return superpixel_noise(extras, k)


def shap_display(maps: SaliencyMaps, k: int = 0) -> tuple[np.ndarray, np.ndarray | None, str]:
    """What to paint of a stored KernelSHAP map: ``(map, keep, sentence)``.

    ``map`` has the superpixels within their sampling noise set to 0, ``keep`` is True on
    the distinguishable superpixels (None: the map has no error estimate, keep it all) and
    ``sentence`` says how many are distinguishable from zero (or that it cannot be said).
    """
    shown = np.asarray(maps.maps[k])
    noise = superpixel_noise(maps.extras, k) if "shap_values" in maps.extras else None
    if noise is None or "segments" not in maps.extras:
        return shown, None, ("This map has no estimate of its sampling noise: every "
                             "superpixel is shown.")
    keep = noise.pixel_mask(np.asarray(maps.extras["segments"][k]).astype(np.int64))
    return np.where(keep, shown, 0.0).astype(shown.dtype), keep, noise.sentence()
