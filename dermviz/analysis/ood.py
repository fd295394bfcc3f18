"""Is an image unlike the suite's data? Out-of-distribution scores in the members' features.

A suite's verdict on an image it was never meant to see (a real photograph shown to a
suite trained on synthetic lesions) is as confident as any other; nothing in
p(melanoma) says that the image is unusual. This module scores how far an image lies
from the training pool in each member's features (:mod:`dermviz.models.embed`):

* **Feature ensemble** (``score="layers"``, the default) [1]_: for several Inception blocks
  (:data:`DEFAULT_LAYERS`), the channel statistics of the block's activations (the
  global-average-pooled means and the spatial standard deviations per channel, texture
  statistics in the spirit of Gram-matrix OOD detection [4]_), ``log1p``-transformed (they
  are non-negative and skewed), and a Mahalanobis distance per block to the pool's
  class-conditional Gaussians. Early blocks carry colour and texture statistics, in which a
  real photograph differs from a rendered lesion although the penultimate layer, trained
  to tell melanoma from naevus, maps both to the same place.
* **Mahalanobis** on the penultimate-layer embedding [1]_ (``score="mahalanobis"``).
* **k-NN** [2]_ (``score="knn"``): the Euclidean distance from the L2-normalised
  embedding to its ``k``-th nearest L2-normalised pool embedding (scikit-learn's
  ``NearestNeighbors``); ``score="both"`` averages these two.

Every Mahalanobis distance is to the closest of the pool's class-conditional Gaussians
(one mean per class, one covariance shared by the classes, estimated with scikit-learn's
Ledoit-Wolf shrinkage, which stays well conditioned when the pool is smaller than the
features are wide).

Members' feature spaces are unrelated (each has its own seed), so scores are never
computed on averaged features. Each member's raw scores (one per block, or the
embedding's) are each divided by its median on the suite's **hold-out** (so 1 is a typical
unseen in-distribution image and 3 is three times as far), and the **combined score** is
the mean of these ratios over the raw scores and the members. A ratio keeps growing with
the distance, where a percentile would saturate at 100 for every image beyond the hold-out.

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
:func:`load_ood`). Features are given per member either as one array (the embedding) or
as a mapping of feature set -> array (:func:`dermviz.models.embed.layer_statistics`).

References
----------
.. [1] Lee, Lee, Lee and Shin, "A Simple Unified Framework for Detecting
   Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018.
.. [2] Sun, Ming, Zhu and Li, "Out-of-Distribution Detection with Deep Nearest
   Neighbors", ICML 2022.
.. [3] Hendrycks and Gimpel, "A Baseline for Detecting Misclassified and
   Out-of-Distribution Examples in Neural Networks", ICLR 2017.
.. [4] Sastry and Oore, "Detecting Out-of-Distribution Examples with Gram Matrices",
   ICML 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermviz.analysis.retrieval import unit_rows
from dermviz.models.embed import EMBEDDING
from dermviz.store.arrays import ArrayRecord, ArrayStore

#: The scores :func:`fit_ood` combines: ``"layers"`` is the feature ensemble over
#: :data:`DEFAULT_LAYERS`; the others read the penultimate embedding (``"both"`` averages
#: ``"mahalanobis"`` and ``"knn"``).
SCORES = ("layers", "mahalanobis", "knn", "both")
#: Default score (docs/safety.md: chosen by measurement on the demo and HAM10000 suites).
DEFAULT_SCORE = "layers"
#: The Inception blocks whose channel statistics ``score="layers"`` reads (docs/safety.md:
#: later blocks and the embedding added nothing on the demo and lowered the HAM10000
#: suite's separation of synthetic lesions).
DEFAULT_LAYERS = ("mixed0", "mixed2")
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
#: Stored calibrations of another format read as absent (prepared again).
_FORMAT = 2


@dataclass(frozen=True)
class Gaussians:
    """Class-conditional Gaussians with one shared covariance, on one feature set.

    Attributes
    ----------
    class_means : ndarray, float64, (n_classes, d)
    precision : ndarray, float64, (d, d)
        Inverse of the shared (Ledoit-Wolf) covariance of the class-centred pool.
    """

    class_means: np.ndarray
    precision: np.ndarray

    def distance(self, x: np.ndarray) -> np.ndarray:
        """Mahalanobis distance ``(n,)`` of each row of ``x`` to the closest class mean."""
        diff = x[:, None, :] - self.class_means[None, :, :]
        maha = np.einsum("ncd,ncd->nc", diff @ self.precision, diff).min(axis=1)
        return np.sqrt(np.clip(maha, 0.0, None))


@dataclass(frozen=True)
class MemberDensity:
    """What one member's OOD scores need, fitted on its pool features.

    Attributes
    ----------
    parts : tuple of (str, str)
        The raw scores, each ``(kind, feature set)``: kind ``"mahalanobis"`` or ``"knn"``,
        the feature set a layer name or :data:`~dermviz.models.embed.EMBEDDING`.
    gaussians : dict of str -> Gaussians
        By feature set, for the ``"mahalanobis"`` parts.
    bank : ndarray, float32, (n_pool, d) or None
        The L2-normalised pool embeddings (the k-NN part's neighbours), when it has one.
    k : int
        The k-NN score's neighbour (already capped at the pool size).
    reference : ndarray, float64, (n_parts,)
        The member's median raw score on the hold-out, per part; raw scores are divided
        by it.
    """

    parts: tuple[tuple[str, str], ...]
    gaussians: dict[str, Gaussians]
    bank: np.ndarray | None
    k: int
    reference: np.ndarray

    @property
    def features(self) -> tuple[str, ...]:
        """The feature sets the parts read, in order of first use."""
        return tuple(dict.fromkeys(f for _, f in self.parts))


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

    @property
    def layers(self) -> tuple[str, ...]:
        """The layers whose channel statistics the score reads (none for the scores on the
        embedding): what :func:`suite_features` must compute."""
        return tuple(dict.fromkeys(f for d in self.densities for f in d.features
                                   if f != EMBEDDING))


def score_parts(score: str, *, layers: Sequence[str] = DEFAULT_LAYERS
                ) -> tuple[tuple[str, str], ...]:
    """The raw scores ``(kind, feature set)`` that ``score`` averages (see the module
    docstring); ``layers`` only matters for ``score="layers"``."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    if score == "layers":
        layers = tuple(str(name) for name in layers)
        if not layers or len(set(layers)) != len(layers):
            raise ValueError(f"layers must name at least one layer, each once, got "
                             f"{list(layers)}")
        return tuple(("mahalanobis", name) for name in layers)
    kinds = ("mahalanobis", "knn") if score == "both" else (score,)
    return tuple((kind, EMBEDDING) for kind in kinds)


def _check_embeddings(x: Any, name: str, d: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be (n, d) embeddings, got shape {x.shape}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} have {x.shape[1]} dimensions, the fitted pool {d}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return x


def _feature_sets(features: Any, needed: Sequence[str], name: str) -> dict[str, np.ndarray]:
    """One member's features as feature set -> (n, d) float64, the layers' statistics
    ``log1p``-transformed (they are non-negative; a negative value is refused)."""
    sets = features if isinstance(features, Mapping) else {EMBEDDING: features}
    absent = [f for f in needed if f not in sets]
    if absent:
        raise KeyError(f"{name}: no features {absent} (given: {sorted(map(str, sets))})")
    out = {}
    for f in needed:
        x = _check_embeddings(sets[f], f"{name} ({f})")
        if f != EMBEDDING:
            if (x < 0).any():
                raise ValueError(f"{name} ({f}): channel statistics must be >= 0")
            x = np.log1p(x)
        out[f] = x
    if len({len(x) for x in out.values()}) > 1:
        raise ValueError(f"{name}: the feature sets hold different numbers of images")
    return out


def fit_gaussians(features: np.ndarray, labels: Sequence[int] | np.ndarray) -> Gaussians:
    """Class means and the shared Ledoit-Wolf precision of ``(n, d)`` features.

    Parameters
    ----------
    features : ndarray, (n, d)
    labels : sequence of int, (n,)
        The classes (at least 2 images per class).
    """
    from sklearn.covariance import LedoitWolf

    x = _check_embeddings(features, "pool features")
    labels = np.asarray(labels)
    if labels.shape != (len(x),):
        raise ValueError(f"need one label per pool embedding ({len(x)}), got shape "
                         f"{labels.shape}")
    classes, counts = np.unique(labels, return_counts=True)
    if (counts < 2).any():
        raise ValueError(f"every class needs at least 2 pool images, got counts "
                         f"{dict(zip(classes.tolist(), counts.tolist(), strict=True))}")
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    centred = x - means[np.searchsorted(classes, labels)]
    return Gaussians(means, LedoitWolf(assume_centered=True).fit(centred).precision_)


def fit_member_density(
    pool: np.ndarray, labels: Sequence[int] | np.ndarray, *, k: int = DEFAULT_K
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Class means, shared precision, the normalised neighbour bank and ``k`` of one
    member's penultimate embeddings (the pieces of ``score="both"``).

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
        As in :class:`Gaussians` and :class:`MemberDensity`.
    """
    pool = _check_embeddings(pool, "pool embeddings")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    g = fit_gaussians(pool, labels)
    return (g.class_means, g.precision, unit_rows(pool).astype(np.float32),
            int(min(k, len(pool))))


def raw_member_scores(density: MemberDensity, features: Any) -> np.ndarray:
    """One member's raw scores ``(n_parts, n)``, in the order of ``density.parts``:
    Mahalanobis distances (square roots, so every row is a distance) and the k-NN distance
    between unit vectors, in [0, 2]. ``features``: as :func:`fit_ood`'s, for one member."""
    return _raw(density, _feature_sets(features, density.features, "features"))


def _raw(density: MemberDensity, sets: dict[str, np.ndarray]) -> np.ndarray:
    """:func:`raw_member_scores` of features already through :func:`_feature_sets`."""
    from sklearn.neighbors import NearestNeighbors

    rows = []
    for kind, f in density.parts:
        x = sets[f]
        if kind == "mahalanobis":
            g = density.gaussians[f]
            _check_embeddings(x, f"features ({f})", g.class_means.shape[1])
            rows.append(g.distance(x))
        else:
            _check_embeddings(x, f"features ({f})", density.bank.shape[1])
            nn = NearestNeighbors(n_neighbors=density.k).fit(density.bank.astype(np.float64))
            rows.append(nn.kneighbors(unit_rows(x), return_distance=True)[0][:, -1])
    return np.stack(rows)


def _combine(parts: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over members and their raw scores of the ratios to the hold-out median."""
    return np.mean([p.mean(axis=0) for p in parts], axis=0)


def _ratios(density: MemberDensity, raw: np.ndarray) -> np.ndarray:
    ref = density.reference[:, None]
    return raw / np.where(ref > 0, ref, 1.0)  # a zero median (degenerate pool): unscaled


def fit_ood(
    pool: Mapping[str, Any],
    pool_labels: Sequence[int] | np.ndarray,
    holdout: Mapping[str, Any],
    *,
    score: str = DEFAULT_SCORE,
    layers: Sequence[str] = DEFAULT_LAYERS,
    k: int = DEFAULT_K,
    quantile: float = DEFAULT_QUANTILE,
) -> OODCalibration:
    """Fit every member's density on the pool and calibrate the combined score on the
    hold-out.

    Parameters
    ----------
    pool : mapping of member -> features
        Each member's features of the training pool (same images, same order): an
        ``(n_pool, d)`` array (the embedding) or a mapping of feature set -> array
        (:func:`dermviz.models.embed.layer_statistics`).
    pool_labels : sequence of int, (n_pool,)
        The pool's classes.
    holdout : mapping of member -> features
        Each member's features of the hold-out (at least 2 images), as ``pool``.
    score : {"layers", "mahalanobis", "knn", "both"}
    layers : sequence of str
        The feature sets of ``score="layers"``: layer names, and
        :data:`~dermviz.models.embed.EMBEDDING` for the penultimate embedding.
    k : int
        The k-NN score's neighbour.
    quantile : float
        In (0, 1): the hold-out quantile beyond which an image is flagged.

    Returns
    -------
    OODCalibration
    """
    parts = score_parts(score, layers=layers)
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    members = tuple(str(m) for m in pool)
    if not members:
        raise ValueError("no members' pool embeddings given")
    if set(members) != {str(m) for m in holdout}:
        raise ValueError(f"pool and hold-out embeddings name different members: "
                         f"{sorted(members)} vs {sorted(map(str, holdout))}")
    needed = tuple(dict.fromkeys(f for _, f in parts))
    hold_sets = {m: _feature_sets(holdout[m], needed, f"member {m}'s hold-out")
                 for m in members}
    sizes = {len(next(iter(hold_sets[m].values()))) for m in members}
    if len(sizes) != 1 or min(sizes) < 2:
        raise ValueError(f"need the same hold-out images (at least 2) for every member, "
                         f"got counts {sorted(sizes)}")
    densities, ratios = [], []
    for m in members:
        sets = _feature_sets(pool[m], needed, f"member {m}'s pool")
        gaussians = {f: fit_gaussians(sets[f], pool_labels)
                     for f in dict.fromkeys(f for kind, f in parts if kind == "mahalanobis")}
        bank = None
        if any(kind == "knn" for kind, _ in parts):
            bank = unit_rows(sets[EMBEDDING]).astype(np.float32)
        kk = int(min(k, len(next(iter(sets.values())))))
        unscaled = MemberDensity(parts, gaussians, bank, kk, np.ones(len(parts)))
        raw = _raw(unscaled, hold_sets[m])
        density = MemberDensity(parts, gaussians, bank, kk, np.median(raw, axis=1))
        densities.append(density)
        ratios.append(_ratios(density, raw))
    return OODCalibration(members=members, densities=tuple(densities), score=score,
                          quantile=float(quantile), holdout_scores=np.sort(_combine(ratios)))


def ood_scores(calibration: OODCalibration, features: Mapping[str, Any]) -> np.ndarray:
    """The combined OOD score ``(n,)`` of images given every member's features of them
    (as :func:`fit_ood`'s; :func:`suite_features`).

    1 is a typical hold-out image; larger is farther from the training pool.
    """
    absent = [m for m in calibration.members if m not in features]
    if absent:
        raise KeyError(f"no embeddings for member(s) {absent}")
    parts = [_ratios(d, raw_member_scores(d, features[m]))
             for m, d in zip(calibration.members, calibration.densities, strict=True)]
    return _combine(parts)


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
        arrays = {"reference": d.reference}
        for f, g in d.gaussians.items():
            arrays[f"{f}.class_means"] = g.class_means
            arrays[f"{f}.precision"] = g.precision
        if d.bank is not None:
            arrays["bank"] = d.bank
        store.put((STORE_KEY, "members", m), ArrayRecord(
            arrays=arrays, meta={"k": d.k, "parts": [list(p) for p in d.parts]}))
    store.put((STORE_KEY, _SUITE_RECORD), ArrayRecord(
        arrays={"holdout_scores": calibration.holdout_scores},
        meta={"members": list(calibration.members), "score": calibration.score,
              "quantile": calibration.quantile, "format": _FORMAT}))


def load_ood(store: ArrayStore) -> OODCalibration | None:
    """The calibration :func:`save_ood` wrote, or None when it (or a member's record) is
    absent, unreadable or of an older format (then it is prepared again)."""
    top = store.get((STORE_KEY, _SUITE_RECORD))
    if top is None or top.meta.get("format") != _FORMAT:
        return None
    densities = []
    for m in top.meta["members"]:
        rec = store.get((STORE_KEY, "members", m))
        if rec is None:
            return None
        a = rec.arrays
        parts = tuple((str(kind), str(f)) for kind, f in rec.meta["parts"])
        gaussians = {f: Gaussians(a[f"{f}.class_means"], a[f"{f}.precision"])
                     for f in dict.fromkeys(f for kind, f in parts if kind == "mahalanobis")}
        densities.append(MemberDensity(parts, gaussians, a.get("bank"), int(rec.meta["k"]),
                                       a["reference"]))
    return OODCalibration(members=tuple(top.meta["members"]), densities=tuple(densities),
                          score=str(top.meta["score"]), quantile=float(top.meta["quantile"]),
                          holdout_scores=top.arrays["holdout_scores"])


def ood_layers(model: Any) -> tuple[str, ...]:
    """The layers whose channel statistics the ``"layers"`` score reads on ``model``:
    :data:`DEFAULT_LAYERS` in an InceptionV3 member; in another model (an imported one),
    the non-negative feature layers (ReLU outputs) a quarter and half way through its
    convolutional part (:func:`dermviz.models.graph.feature_layers`), where ``mixed0`` and
    ``mixed2`` sit in InceptionV3; none where it has none (then the score reads the
    penultimate embedding)."""
    from dermviz.models.graph import feature_layers, is_inception  # loads Keras

    if is_inception(model):
        return DEFAULT_LAYERS
    found = feature_layers(model, nonnegative=True)
    if not found:
        return ()
    picks = {found[(len(found) - 1) // 4], found[(len(found) - 1) // 2]}
    return tuple(name for name in found if name in picks)


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


def suite_features(
    suite: Any, images: np.ndarray, *, layers: Sequence[str] = DEFAULT_LAYERS,
    members: Sequence[str] | None = None, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Every chosen member's features of ``images`` (``(n, size, size, 3)`` in [0, 255], at
    the suite's image size): the channel statistics of ``layers`` and the embedding, from
    one pass per member (:func:`dermviz.models.embed.layer_statistics`). Pass
    ``calibration.layers`` to score with a fitted :class:`OODCalibration`."""
    from dermviz.models.embed import layer_statistics  # loads Keras

    load = model_loader if model_loader is not None else suite.load_model
    members = list(suite.member_ids) if members is None else list(members)
    return {m: layer_statistics(load(m), images, layers=_blocks(layers), batch_size=batch_size)
            for m in members}


def _blocks(layers: Sequence[str]) -> tuple[str, ...]:
    """The layers whose statistics :func:`~dermviz.models.embed.layer_statistics` computes
    (the embedding comes with them)."""
    return tuple(name for name in layers if name != EMBEDDING)


def suite_holdout_features(
    suite: Any, *, dataset: Any = None, layers: Sequence[str] = DEFAULT_LAYERS,
    members: Sequence[str] | None = None, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None, images: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Every chosen member's :func:`suite_features` of the suite's hold-out, in the
    hold-out's order (:attr:`dermviz.data.dataset.Dataset.holdout`), batch by batch
    (``images``: the hold-out's images at the suite's size, where the caller holds them)."""
    from dermviz.models.embed import image_batches, layer_statistics  # loads Keras

    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    ids = [str(i) for i in dataset.holdout["image_id"]]
    out = {}
    for m in list(suite.member_ids) if members is None else list(members):
        model = load(m)  # once: a loader may read it from disk
        batches = image_batches(dataset, ids, size=suite.image_size, batch_size=batch_size,
                                images=images, name="hold-out")
        parts = [layer_statistics(model, x, layers=_blocks(layers), batch_size=batch_size)
                 for x in batches]
        out[m] = {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
    return out


def suite_pool_features(
    suite: Any, *, dataset: Any = None, layers: Sequence[str] = DEFAULT_LAYERS,
    batch_size: int = 32, model_loader: Callable[[str], Any] | None = None,
) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    """``(pool ids, member -> features)`` of the suite's training pool
    (:func:`dermviz.models.embed.pool_layer_statistics`: one pass per member, which also
    refreshes the member's embedding cache)."""
    from dermviz.models.embed import pool_layer_statistics  # loads Keras

    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    ids: list[str] = []
    out = {}
    for m in suite.member_ids:
        ids, out[m] = pool_layer_statistics(suite, m, layers=_blocks(layers), dataset=dataset,
                                            model=load(m), batch_size=batch_size)
    return ids, out


def fit_suite_ood(
    suite: Any, *, dataset: Any = None, holdout: Mapping[str, Any] | None = None,
    pool: tuple[Sequence[str], Mapping[str, Any]] | None = None,
    score: str = DEFAULT_SCORE, layers: Sequence[str] = DEFAULT_LAYERS, k: int = DEFAULT_K,
    quantile: float = DEFAULT_QUANTILE, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None,
) -> OODCalibration:
    """:func:`fit_ood` on a suite: the pool's features ``pool`` (``(ids, member ->
    features)``, :func:`suite_pool_features`) and the hold-out's ``holdout``
    (:func:`suite_holdout_features`), each computed when omitted."""
    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    if pool is None:
        pool = suite_pool_features(suite, dataset=dataset, layers=layers,
                                   batch_size=batch_size, model_loader=load)
    if holdout is None:
        holdout = suite_holdout_features(suite, dataset=dataset, layers=layers,
                                         batch_size=batch_size, model_loader=load)
    ids, features = pool
    labels = dataset.rows(list(ids))["y"].to_numpy()
    return fit_ood(features, labels, holdout, score=score, layers=layers, k=k,
                   quantile=quantile)
