"""What a suite keeps so that its clinicians' pages can be honest at once: the
out-of-distribution calibration, the hold-out's similar cases with calibrated closeness,
and the thumbnails.

:func:`prepare_safety` computes it once, when a suite is built (``dermviz demo``,
``train``, ``search``) or, for an older suite, in a background job
(``dermviz prepare``): every member's features of the pool and the hold-out, from one
pass per image (:func:`dermviz.models.embed.layer_statistics`: the OOD score's channel
statistics and the embedding, whose pool part fills the cache of
:func:`dermviz.models.embed.pool_embeddings`), the OOD scorer
fitted on the pool and calibrated on the hold-out (:mod:`dermviz.analysis.ood`), the
:data:`MAX_SIMILAR` training images closest to every hold-out image and the hold-out's
nearest-neighbour similarities that calibrate them (:mod:`dermviz.analysis.retrieval`),
and the JPEG thumbnails of the pool and the hold-out. A page then reads it back
(:func:`load_safety`: milliseconds) and runs no member to open a case.

Layout (an :class:`~dermviz.store.arrays.ArrayStore` at ``<suite>/safety/``)::

    ood/...        the OOD calibration (dermviz.analysis.ood.save_ood)
    holdout.npz    image_ids, ood_scores (hold-out order), nn_similarity (the reference)
    similar.npz    query, rank, pool_index, similarity; pool_ids

Each record's meta holds the suite's members and image size: after a member lands or the
suite is retrained, :func:`load_safety` returns None until it is prepared again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.ood import (
    DEFAULT_LAYERS,
    OODCalibration,
    fit_ood,
    holdout_percentile,
    is_unusual,
    load_ood,
    ood_layers,
    ood_scores,
    save_ood,
    suite_holdout_features,
)
from dermviz.analysis.retrieval import (
    calibrate_neighbours,
    nearest_similarities,
    similar_cases,
)
from dermviz.models.embed import EMBEDDING
from dermviz.store.arrays import ArrayRecord, ArrayStore

#: The suite folder's store of what this module prepares.
SAFETY_DIR = "safety"
#: The suite folder's thumbnail cache (the one :func:`dermviz.api.thumbnails` reads).
THUMBNAILS_DIR = "thumbnails"
#: Similar cases kept per hold-out image; pages show the first k.
MAX_SIMILAR = 12
_HOLDOUT, _SIMILAR = ("holdout",), ("similar",)

Progress = Callable[[float, str], None]


def safety_store(suite: Any) -> ArrayStore:
    """The suite's store of prepared safety data."""
    return ArrayStore(Path(suite.path) / SAFETY_DIR)


def safety_stamp(suite: Any) -> dict[str, Any]:
    """What the prepared data depend on: the members and the image size."""
    return {"members": list(suite.member_ids), "image_size": int(suite.image_size)}


@dataclass(frozen=True)
class SuiteSafety:
    """A suite's prepared safety data (:func:`prepare_safety`, :func:`load_safety`).

    Attributes
    ----------
    calibration : OODCalibration
    holdout_ids : ndarray of str, (n_holdout,)
    holdout_scores : ndarray, float64, (n_holdout,)
        The combined OOD score of each hold-out image, in ``holdout_ids`` order.
    reference : ndarray, float64, (n_holdout,)
        Each hold-out image's similarity to its nearest training image (the reference of
        :func:`dermviz.analysis.retrieval.distance_percentile`).
    similar : DataFrame
        ``query_id, rank, image_id, similarity, distance_percentile, closeness``: the
        :data:`MAX_SIMILAR` training images closest to each hold-out image.
    """

    calibration: OODCalibration
    holdout_ids: np.ndarray
    holdout_scores: np.ndarray
    reference: np.ndarray
    similar: pd.DataFrame

    @property
    def threshold(self) -> float:
        """The OOD score beyond which an image is flagged unusual."""
        return self.calibration.threshold

    def holdout_ood(self) -> pd.DataFrame:
        """``image_id, ood_score, ood_percentile, unusual`` of every hold-out image."""
        return ood_frame(self.calibration, self.holdout_scores,
                         image_id=[str(i) for i in self.holdout_ids])


def ood_frame(calibration: OODCalibration, scores: np.ndarray, **columns: Any) -> pd.DataFrame:
    """``ood_score, ood_percentile, unusual, threshold`` per score (``columns`` first)."""
    scores = np.asarray(scores, np.float64)
    return pd.DataFrame({
        **columns, "ood_score": scores,
        "ood_percentile": holdout_percentile(calibration, scores),
        "unusual": is_unusual(calibration, scores),
        "threshold": calibration.threshold,
    })


def prepare_safety(
    suite: Any, *, dataset: Any = None, model_loader: Callable[[str], Any] | None = None,
    batch_size: int = 32, thumbnails: bool = True, progress: Progress | None = None,
) -> SuiteSafety:
    """Compute and store a suite's safety data (see the module docstring).

    Parameters
    ----------
    suite : dermviz.models.suite.Suite
        With at least one trained member.
    dataset : Dataset, optional
        The suite's data set (default: ``suite.dataset()``).
    model_loader : callable, optional
        ``member -> keras.Model`` (default ``suite.load_model``).
    thumbnails : bool
        Also make the pool's and the hold-out's thumbnails.
    progress : callable, optional
        ``progress(fraction, sentence)`` after each step.
    """
    from dermviz.models.embed import pool_layer_statistics  # loads Keras

    members = list(suite.member_ids)
    if not members:
        raise ValueError(f"suite {suite.name!r} has no trained member")
    say = progress or (lambda fraction, detail: None)
    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    steps = 2 * len(members) + 2 + int(thumbnails)
    done = 0

    def step(detail: str) -> None:
        nonlocal done
        say(done / steps, detail)
        done += 1

    # One pass per member and image gives the OOD score's channel statistics and the
    # embedding of the similar cases (which also fills the pool's embedding cache).
    # Each member is loaded once, for the pool and the hold-out (one traced pass).
    pool_features: dict[str, dict[str, np.ndarray]] = {}
    hold_features: dict[str, dict[str, np.ndarray]] = {}
    ids: list[str] = []
    layers: tuple[str, ...] = DEFAULT_LAYERS
    # Every member reads the same images: draw or decode them once where they fit.
    pool_images = _held_images(dataset, dataset.pool, suite.image_size, len(members))
    hold_images = _held_images(dataset, dataset.holdout, suite.image_size, len(members))
    for k, m in enumerate(members):
        model = load(m)
        if k == 0:  # InceptionV3's blocks, or their places in an imported model
            layers = ood_layers(model)
        step(f"embedding the {len(dataset.pool)} training images with member {m}")
        ids, pool_features[m] = pool_layer_statistics(
            suite, m, layers=layers, dataset=dataset, model=model,
            batch_size=batch_size, images=pool_images)
        step(f"embedding the {len(dataset.holdout)} hold-out images with member {m}")
        hold_features |= suite_holdout_features(suite, dataset=dataset, members=[m],
                                                layers=layers, batch_size=batch_size,
                                                model_loader=lambda _, model=model: model,
                                                images=hold_images)
    step("calibrating the out-of-distribution score on the hold-out")
    labels = dataset.rows(ids)["y"].to_numpy()
    # A model without a feature layer: the penultimate embedding's score alone.
    calibration = fit_ood(pool_features, labels, hold_features, layers=layers,
                          **({} if layers else {"score": "mahalanobis"}))
    holdout_ids = np.asarray([str(i) for i in dataset.holdout["image_id"]])
    scores = ood_scores(calibration, hold_features)
    pool = {m: f[EMBEDDING] for m, f in pool_features.items()}
    holdout = {m: f[EMBEDDING] for m, f in hold_features.items()}
    step("finding every hold-out image's similar training images")
    table = similar_cases(holdout, pool, ids, k=MAX_SIMILAR)
    reference = nearest_similarities(table)
    stamp = safety_stamp(suite)
    store = safety_store(suite)
    save_ood(store, calibration)
    store.put(_HOLDOUT, ArrayRecord(arrays={"image_ids": holdout_ids, "ood_scores": scores,
                                            "nn_similarity": reference}, meta=stamp))
    store.put(_SIMILAR, ArrayRecord(arrays={
        "query": table["query"].to_numpy(np.int32), "rank": table["rank"].to_numpy(np.int16),
        "pool_index": pd.Index(ids).get_indexer(table["image_id"]).astype(np.int32),
        "similarity": table["similarity"].to_numpy(np.float64),
        "pool_ids": np.asarray(ids)}, meta=stamp))
    if thumbnails:
        from dermviz.data.thumbnails import thumbnails as make_thumbnails

        step(f"making the thumbnails of {len(ids) + len(holdout_ids)} images")
        make_thumbnails(dataset, [*ids, *holdout_ids.tolist()],
                        cache_dir=Path(suite.path) / THUMBNAILS_DIR)
    say(1.0, "done")
    return _assemble(calibration, holdout_ids, scores, reference, table, holdout_ids)


#: The most image bytes :func:`prepare_safety` holds in memory to read them once for every
#: member (a 600-image synthetic pool at 96 px: 17 MB; HAM10000's 5,000 at 224 px: 750 MB).
HELD_IMAGE_BYTES = 256 * 2**20


def _held_images(dataset: Any, rows: pd.DataFrame, size: int, n_members: int
                 ) -> np.ndarray | None:
    """``rows``' images at ``size``, loaded once, where several members will read them and
    they fit in :data:`HELD_IMAGE_BYTES`; else None (each member loads them batch by batch)."""
    if n_members < 2 or not len(rows) or len(rows) * size * size * 3 > HELD_IMAGE_BYTES:
        return None
    return dataset.load_images([str(i) for i in rows["image_id"]], size=size)


def _assemble(calibration: OODCalibration, holdout_ids: np.ndarray, scores: np.ndarray,
              reference: np.ndarray, table: pd.DataFrame, query_ids: np.ndarray
              ) -> SuiteSafety:
    # A hold-out image flagged unusual gets "far" neighbours, as an upload does.
    similar = calibrate_neighbours(table, reference,
                                   unusual=np.flatnonzero(is_unusual(calibration, scores)))
    similar.insert(0, "query_id", np.asarray(query_ids)[similar.pop("query").to_numpy()])
    similar = similar.drop(columns="member", errors="ignore")
    return SuiteSafety(calibration=calibration, holdout_ids=holdout_ids,
                       holdout_scores=np.asarray(scores, np.float64),
                       reference=np.asarray(reference, np.float64), similar=similar)


def load_safety(suite: Any) -> SuiteSafety | None:
    """The stored safety data of ``suite``, or None when absent, damaged or stale (the
    members or the image size changed since :func:`prepare_safety`)."""
    store = safety_store(suite)
    stamp = safety_stamp(suite)
    holdout = store.get(_HOLDOUT)
    similar = store.get(_SIMILAR)
    if holdout is None or similar is None or holdout.meta != stamp or similar.meta != stamp:
        return None
    calibration = load_ood(store)
    if calibration is None or list(calibration.members) != stamp["members"]:
        return None
    a, s = holdout.arrays, similar.arrays
    pool_ids = s["pool_ids"].astype(str)
    table = pd.DataFrame({"query": s["query"].astype(np.int64), "member": "mean",
                          "rank": s["rank"].astype(np.int64),
                          "image_id": pool_ids[s["pool_index"]],
                          "similarity": s["similarity"].astype(np.float64)})
    ids = a["image_ids"].astype(str)
    return _assemble(calibration, ids, a["ood_scores"], a["nn_similarity"], table, ids)
