"""Is an image unlike the suite's data? Out-of-distribution scores in the members' embeddings.

A suite's verdict on an image it was never meant to see (a real photograph shown to a
suite trained on synthetic lesions) is as confident as any other; nothing in
p(melanoma) says that the image is unusual. This module scores how far an image lies
from the training pool in each member's penultimate-layer embedding
(:mod:`dermviz.models.embed`), with two scores from the literature:

* **Mahalanobis** [1]_: the distance to the closest of the pool's class-conditional
  Gaussians (one mean per class, one covariance shared by the classes, estimated with
  scikit-learn's Ledoit-Wolf shrinkage, which stays well conditioned when the pool is
  smaller than the embedding is wide).
* **k-NN** [2]_: the Euclidean distance from the L2-normalised embedding to its
  ``k``-th nearest L2-normalised pool embedding (scikit-learn's ``NearestNeighbors``).

Members' embedding spaces are unrelated (each has its own seed), so scores are never
computed on averaged embeddings. Each member's raw score is divided by its median on
the suite's **hold-out** (so 1 is a typical unseen in-distribution image and 3 is three
times as far), and the **combined score** is the mean of these ratios over the members
(and over both scores with ``score="both"``). A ratio keeps growing with the distance,
where a percentile would saturate at 100 for every image beyond the hold-out.

**Calibration.** The combined score of every hold-out image is kept; an image is
*unusual* when its score exceeds the hold-out's ``quantile`` (default 0.99), taken as
the smallest hold-out score at or above it (``method="higher"``), so a hold-out image
is flagged only when strictly above it: at most ``1 - quantile`` of the hold-out, and
an unseen in-distribution image about as often.

**Baseline.** :func:`max_softmax_probability` is the maximum softmax probability [3]_
(for one sigmoid ``p``: ``max(p, 1 - p)``), whose negative is the classic OOD score;
:func:`ood_auroc` compares any score's separation of in- and out-of-distribution images.

Everything fitted is held in plain arrays (:class:`OODCalibration`), stored in the suite
folder through :class:`dermviz.store.arrays.ArrayStore` (:func:`save_ood`,
:func:`load_ood`).

References
----------
.. [1] Lee, Lee, Lee and Shin, "A Simple Unified Framework for Detecting
   Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018.
.. [2] Sun, Ming, Zhu and Li, "Out-of-Distribution Detection with Deep Nearest
   Neighbors", ICML 2022.
.. [3] Hendrycks and Gimpel, "A Baseline for Detecting Misclassified and
   Out-of-Distribution Examples in Neural Networks", ICLR 2017.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermviz.analysis.retrieval import unit_rows
from dermviz.store.arrays import ArrayRecord, ArrayStore

#: The scores :func:`fit_ood` combines: ``"both"`` averages the other two.
SCORES = ("mahalanobis", "knn", "both")
#: The raw scores of one member, in the order of :attr:`MemberDensity.reference`.
RAW_SCORES = ("mahalanobis", "knn")
#: Default score (docs/safety.md: chosen by measurement on the smoke and demo suites).
DEFAULT_SCORE = "both"
#: Default hold-out quantile beyond which an image is flagged.
DEFAULT_QUANTILE = 0.99
#: Default neighbour of the k-NN score (capped at the pool size); Sun et al. use
#: 50 on CIFAR-10's 50,000 images, we have hundreds to thousands.
DEFAULT_K = 10
#: What the pages show above the verdict of a flagged image.
UNUSUAL_SENTENCE = ("This image is unlike the images this suite was trained on; its verdict "
                    "is not reliable.")
#: The ArrayStore key prefix of a stored calibration.
STORE_KEY = "ood"
_SUITE_RECORD = "calibration"


@dataclass(frozen=True)
class MemberDensity:
    """What one member's OOD scores need, fitted on its pool embeddings.

    Attributes
    ----------
    class_means : ndarray, float64, (n_classes, d)
    precision : ndarray, float64, (d, d)
        Inverse of the shared (Ledoit-Wolf) covariance of the class-centred pool.
    bank : ndarray, float32, (n_pool, d)
        The L2-normalised pool embeddings (the k-NN score's neighbours).
    k : int
        The k-NN score's neighbour (already capped at the pool size).
    reference : ndarray, float64, (2,)
        The member's median raw score on the hold-out, per :data:`RAW_SCORES`; raw
        scores are divided by it.
    """

    class_means: np.ndarray
    precision: np.ndarray
    bank: np.ndarray
    k: int
    reference: np.ndarray


@dataclass(frozen=True)
class OODCalibration:
    """A suite's OOD scorer and its calibration on the hold-out (:func:`fit_ood`).

    Attributes
    ----------
    members : tuple of str
    densities : tuple of MemberDensity
        One per member, same order.
    score : str
        One of :data:`SCORES`.
    quantile : float
        The hold-out quantile of the flag.
    holdout_scores : ndarray, float64, (n_holdout,)
        The combined score of every hold-out image, sorted.
    """

    members: tuple[str, ...]
    densities: tuple[MemberDensity, ...]
    score: str
    quantile: float
    holdout_scores: np.ndarray

    @property
    def threshold(self) -> float:
        """The combined score beyond which an image is flagged."""
        return float(np.quantile(self.holdout_scores, self.quantile, method="higher"))


def _check_embeddings(x: Any, name: str, d: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (n, d) embeddings, got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} have {x.shape[1]} dimensions, the fitted pool {d}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return x


def fit_member_density(
    pool: np.ndarray, labels: Sequence[int] | np.ndarray, *, k: int = DEFAULT_K
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Class means, shared precision, the normalised neighbour bank and ``k`` of one member.

    Parameters
    ----------
    pool : ndarray, (n, d)
        The member's embeddings of the training pool.
    labels : sequence of int, (n,)
        The pool's classes (at least 2 images per class).
    k : int
        The k-NN score's neighbour (>= 1; capped at the pool size).

    Returns
    -------
    class_means, precision, bank, k
        As in :class:`MemberDensity` (whose ``reference`` needs the hold-out).
    """
    from sklearn.covariance import LedoitWolf

    pool = _check_embeddings(pool, "pool embeddings")
    labels = np.asarray(labels)
    if labels.shape != (len(pool),):
        raise ValueError(f"need one label per pool embedding ({len(pool)}), got shape "
                         f"{labels.shape}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    classes, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        raise ValueError(f"every class needs at least 2 pool images, got counts "
                         f"{dict(zip(classes.tolist(), counts.tolist(), strict=True))}")
    means = np.stack([pool[labels == c].mean(axis=0) for c in classes])
    centred = pool - means[np.searchsorted(classes, labels)]
    precision = LedoitWolf(assume_centered=True).fit(centred).precision_
    return means, precision, unit_rows(pool).astype(np.float32), int(min(k, len(pool)))


def raw_member_scores(density: MemberDensity, embeddings: np.ndarray) -> np.ndarray:
    """One member's raw scores ``(2, n)``: Mahalanobis distance and k-NN distance.

    The Mahalanobis distance is to the closest class mean under the shared precision
    (its square root, so both rows are distances); the k-NN distance is between unit
    vectors, in [0, 2].
    """
    from sklearn.neighbors import NearestNeighbors

    x = _check_embeddings(embeddings, "embeddings", density.class_means.shape[1])
    diff = x[:, None, :] - density.class_means[None, :, :]
    maha = np.einsum("ncd,de,nce->nc", diff, density.precision, diff).min(axis=1)
    nn = NearestNeighbors(n_neighbors=density.k).fit(density.bank.astype(np.float64))
    knn = nn.kneighbors(unit_rows(x), return_distance=True)[0][:, -1]
    return np.stack([np.sqrt(np.clip(maha, 0.0, None)), knn])


def _combine(parts: Sequence[np.ndarray], score: str) -> np.ndarray:
    """Mean over members (and raw scores) of the ratios to the hold-out median."""
    rows = [0, 1] if score == "both" else [RAW_SCORES.index(score)]
    return np.mean([p[rows] for p in parts], axis=(0, 1))


def _ratios(density: MemberDensity, raw: np.ndarray) -> np.ndarray:
    ref = density.reference[:, None]
    return raw / np.where(ref > 0, ref, 1.0)  # a zero median (degenerate pool): unscaled


def fit_ood(
    pool: Mapping[str, np.ndarray],
    pool_labels: Sequence[int] | np.ndarray,
    holdout: Mapping[str, np.ndarray],
    *,
    score: str = DEFAULT_SCORE,
    k: int = DEFAULT_K,
    quantile: float = DEFAULT_QUANTILE,
) -> OODCalibration:
    """Fit every member's density on the pool and calibrate the combined score on the
    hold-out.

    Parameters
    ----------
    pool : mapping of member -> ndarray (n_pool, d_member)
        Each member's embeddings of the training pool (same images, same order).
    pool_labels : sequence of int, (n_pool,)
        The pool's classes.
    holdout : mapping of member -> ndarray (n_holdout, d_member)
        Each member's embeddings of the hold-out (at least 2 images).
    score : {"mahalanobis", "knn", "both"}
    k : int
        The k-NN score's neighbour.
    quantile : float
        In (0, 1): the hold-out quantile beyond which an image is flagged.

    Returns
    -------
    OODCalibration
    """
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    members = tuple(str(m) for m in pool)
    if not members:
        raise ValueError("no members' pool embeddings given")
    if set(members) != {str(m) for m in holdout}:
        raise ValueError(f"pool and hold-out embeddings name different members: "
                         f"{sorted(members)} vs {sorted(map(str, holdout))}")
    sizes = {len(np.asarray(holdout[m])) for m in members}
    if len(sizes) != 1 or min(sizes) < 2:
        raise ValueError(f"need the same hold-out images (at least 2) for every member, "
                         f"got counts {sorted(sizes)}")
    densities, parts = [], []
    for m in members:
        means, precision, bank, kk = fit_member_density(pool[m], pool_labels, k=k)
        unscaled = MemberDensity(means, precision, bank, kk, np.ones(len(RAW_SCORES)))
        raw = raw_member_scores(unscaled, holdout[m])
        density = MemberDensity(means, precision, bank, kk, np.median(raw, axis=1))
        densities.append(density)
        parts.append(_ratios(density, raw))
    return OODCalibration(members=members, densities=tuple(densities), score=score,
                          quantile=float(quantile),
                          holdout_scores=np.sort(_combine(parts, score)))


def ood_scores(calibration: OODCalibration, embeddings: Mapping[str, np.ndarray]) -> np.ndarray:
    """The combined OOD score ``(n,)`` of images given every member's embeddings of them.

    1 is a typical hold-out image; larger is farther from the training pool.
    """
    absent = [m for m in calibration.members if m not in embeddings]
    if absent:
        raise KeyError(f"no embeddings for member(s) {absent}")
    parts = [_ratios(d, raw_member_scores(d, embeddings[m]))
             for m, d in zip(calibration.members, calibration.densities, strict=True)]
    return _combine(parts, calibration.score)


def is_unusual(calibration: OODCalibration, scores: np.ndarray) -> np.ndarray:
    """Whether each combined score lies beyond the hold-out's quantile (bool array)."""
    return np.asarray(scores, dtype=np.float64) > calibration.threshold


def holdout_percentile(calibration: OODCalibration, scores: np.ndarray) -> np.ndarray:
    """Each score's percentile among the hold-out's scores (share at or below, x100)."""
    ref = calibration.holdout_scores
    return 100.0 * np.searchsorted(ref, np.asarray(scores, np.float64), side="right") / len(ref)


def max_softmax_probability(p_melanoma: np.ndarray) -> np.ndarray:
    """The maximum softmax probability of a one-sigmoid classifier: ``max(p, 1 - p)``.

    Hendrycks and Gimpel's baseline: low confidence suggests an unusual image, so
    ``-max_softmax_probability(p)`` is its OOD score. ``p`` must lie in [0, 1].
    """
    p = np.asarray(p_melanoma, dtype=np.float64)
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("p_melanoma must lie in [0, 1]")
    return np.maximum(p, 1.0 - p)


def ood_auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """AUROC of a score (higher = more unusual) for out- vs in-distribution images.

    1 separates them perfectly, 0.5 is chance (``sklearn.metrics.roc_auc_score`` with
    the out-of-distribution images as positives).
    """
    from sklearn.metrics import roc_auc_score

    a = np.ravel(np.asarray(in_scores, np.float64))
    b = np.ravel(np.asarray(out_scores, np.float64))
    if not len(a) or not len(b):
        raise ValueError("need at least one in- and one out-of-distribution score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores must be finite")
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    return float(roc_auc_score(y, np.r_[a, b]))


def save_ood(store: ArrayStore, calibration: OODCalibration) -> None:
    """Write a calibration into ``store`` under :data:`STORE_KEY` (one record per member
    and one for the suite)."""
    for m, d in zip(calibration.members, calibration.densities, strict=True):
        store.put((STORE_KEY, "members", m), ArrayRecord(
            arrays={"class_means": d.class_means, "precision": d.precision, "bank": d.bank,
                    "reference": d.reference},
            meta={"k": d.k}))
    store.put((STORE_KEY, _SUITE_RECORD), ArrayRecord(
        arrays={"holdout_scores": calibration.holdout_scores},
        meta={"members": list(calibration.members), "score": calibration.score,
              "quantile": calibration.quantile}))


def load_ood(store: ArrayStore) -> OODCalibration | None:
    """The calibration :func:`save_ood` wrote, or None when it (or a member's record) is
    absent or unreadable."""
    top = store.get((STORE_KEY, _SUITE_RECORD))
    if top is None:
        return None
    densities = []
    for m in top.meta["members"]:
        rec = store.get((STORE_KEY, "members", m))
        if rec is None:
            return None
        a = rec.arrays
        densities.append(MemberDensity(a["class_means"], a["precision"], a["bank"],
                                       int(rec.meta["k"]), a["reference"]))
    return OODCalibration(members=tuple(top.meta["members"]), densities=tuple(densities),
                          score=str(top.meta["score"]), quantile=float(top.meta["quantile"]),
                          holdout_scores=top.arrays["holdout_scores"])


def suite_embeddings(
    suite: Any, images: np.ndarray, *, members: Sequence[str] | None = None,
    batch_size: int = 32, model_loader: Callable[[str], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Every chosen member's embeddings of ``images`` (``(n, size, size, 3)`` in [0, 255],
    at the suite's image size), by :func:`dermviz.models.embed.embed_images`."""
    from dermviz.models.embed import embed_images  # loads Keras

    load = model_loader if model_loader is not None else suite.load_model
    members = list(suite.member_ids) if members is None else list(members)
    return {m: embed_images(load(m), images, batch_size=batch_size) for m in members}


def suite_holdout_embeddings(
    suite: Any, *, dataset: Any = None, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None,
) -> dict[str, np.ndarray]:
    """Every member's embeddings of the suite's hold-out, in the hold-out's order
    (:attr:`dermviz.data.dataset.Dataset.holdout`): for :func:`fit_ood` and for the
    calibrated similarity's reference (:func:`dermviz.analysis.retrieval.nearest_similarities`)."""
    dataset = dataset if dataset is not None else suite.dataset()
    ids = [str(i) for i in dataset.holdout["image_id"]]
    images = dataset.load_images(ids, size=suite.image_size)
    return suite_embeddings(suite, images, batch_size=batch_size, model_loader=model_loader)


def fit_suite_ood(
    suite: Any, *, dataset: Any = None, holdout: Mapping[str, np.ndarray] | None = None,
    score: str = DEFAULT_SCORE, k: int = DEFAULT_K, quantile: float = DEFAULT_QUANTILE,
    batch_size: int = 32, model_loader: Callable[[str], Any] | None = None,
) -> OODCalibration:
    """:func:`fit_ood` on a suite: pool embeddings from each member's cache
    (:func:`dermviz.models.embed.pool_embeddings`, computed when absent), hold-out
    embeddings ``holdout`` (:func:`suite_holdout_embeddings`, computed when omitted)."""
    from dermviz.models.embed import pool_embeddings  # loads Keras

    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    pool, ids = {}, None
    for m in suite.member_ids:
        ids, pool[m] = pool_embeddings(suite, m, dataset=dataset, model=load(m),
                                       batch_size=batch_size)
    labels = dataset.rows(ids)["y"].to_numpy()
    if holdout is None:
        holdout = suite_holdout_embeddings(suite, dataset=dataset, batch_size=batch_size,
                                           model_loader=load)
    return fit_ood(pool, labels, holdout, score=score, k=k, quantile=quantile)
