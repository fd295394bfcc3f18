"""Faithfulness: does removing what the map calls important change the model's score?

Every metric perturbs images along the map's ranking and reads ``model_fn`` on the
perturbed images. All perturbed images of all steps of all images go through
:func:`~dermviz.evaluation.base.predict_batched`: full batches of ``batch_size``, never
one forward pass per step.

* :class:`Deletion` / :class:`Insertion` (Petsiuk et al. 2018 [1]_): the probability while
  features are removed from the image (deletion), or restored into a fully replaced one
  (insertion), most-relevant-first (``order="morf"``) or least-relevant-first (``"lerf"``);
  the score is the area under that curve over the removed fraction in [0, 1]. Features are
  square patches or the image's SLIC superpixels (``features``), or labels passed in.
* :class:`ROAD` (Rong et al. 2022 [2]_): deletion on pixels, with removed pixels filled
  by noisy linear imputation (:func:`noisy_linear_impute`), so the filled region carries
  little information about which pixels were removed.
* :class:`IROF` (Rieger & Hansen 2020 [3]_): superpixels removed cumulatively in order of
  mean relevance, filled with the image's mean colour; the area over the curve of
  ``p / p(original)``.
* :class:`FaithfulnessCorrelation` (Bhatt et al. 2020 [4]_): the Pearson correlation, over
  random pixel subsets, between the map's sum on the subset and the drop in probability
  when the subset is replaced.

What replaces a removed pixel is a parameter of every metric (:data:`REPLACEMENTS`).

References
----------
.. [1] Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of
   Black-box Models", BMVC 2018.
.. [2] Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation
   Strategy for Attribution Methods", ICML 2022.
.. [3] Rieger & Hansen, "IROF: a low resource evaluation metric for explanation
   methods", ICLR 2020 workshop (arXiv:2003.08747).
.. [4] Bhatt, Weller & Moura, "Evaluating and Aggregating Feature-based Model
   Explanations", IJCAI 2020.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import splu

from dermviz.evaluation.base import (
    ExplainFn,
    Metric,
    ModelFn,
    order_random_ties,
    predict_batched,
    register,
)

#: What fills a removed pixel: zeros, the image's mean colour, its Gaussian blur
#: (``blur_sigma`` px), or ROAD's noisy linear imputation from the kept neighbours.
REPLACEMENTS = ("black", "mean", "blur", "impute")
ORDERS = ("morf", "lerf")
FEATURES = ("patches", "superpixels")

# ROAD's neighbour weights (Rong et al. 2022): the 4 direct neighbours count twice the
# 4 diagonal ones.
_NEIGHBOURS = tuple((dy, dx, 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
                    for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)


def noisy_linear_impute(image: np.ndarray, mask: np.ndarray, *, noise: float = 0.0,
                        rng: np.random.Generator | None = None) -> np.ndarray:
    """Fill the masked pixels of an image from their neighbours (ROAD's imputation).

    Every masked pixel equals the weighted mean of its in-image 8 neighbours (weight
    1/6 for the 4 direct, 1/12 for the 4 diagonal ones), masked neighbours being unknowns
    too: one sparse linear system per image, solved once for the three channels.

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        Pixels in [0, 255].
    mask : ndarray of bool, (H, W)
        The pixels to fill; at least one pixel must stay unmasked.
    noise : float
        Standard deviation of Gaussian noise added to the filled pixels, as a fraction
        of the pixel range 255 (Rong et al.: 0.01 of the input range).
    rng : numpy.random.Generator, optional
        Source of the noise (needed when ``noise > 0``).

    Returns
    -------
    ndarray, float64, (H, W, 3)
        The image with masked pixels imputed, clipped to [0, 255].
    """
    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if image.ndim != 3 or image.shape[-1] != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"expected image (H, W, 3) and mask (H, W), got {image.shape}, "
                         f"{mask.shape}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    out = image.copy()
    m = int(mask.sum())
    if m == 0:
        return out
    if m == mask.size:
        raise ValueError("cannot impute a fully masked image: no pixel is left to fill from")
    h, w = mask.shape
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[mask] = np.arange(m)
    ys, xs = np.nonzero(mask)
    diagonal = np.zeros(m)
    rhs = np.zeros((m, 3))
    rows, cols, vals = [], [], []
    for dy, dx, weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = np.flatnonzero((ny >= 0) & (ny < h) & (nx >= 0) & (nx < w))
        ny, nx = ny[inside], nx[inside]
        diagonal[inside] += weight
        unknown = mask[ny, nx]
        rows.append(inside[unknown])
        cols.append(index[ny[unknown], nx[unknown]])
        vals.append(np.full(int(unknown.sum()), -weight))
        np.add.at(rhs, inside[~unknown], weight * image[ny[~unknown], nx[~unknown]])
    system = sparse.csc_matrix(
        (np.concatenate([diagonal, *vals]),
         (np.concatenate([np.arange(m), *rows]), np.concatenate([np.arange(m), *cols]))),
        shape=(m, m))
    filled = splu(system).solve(rhs)
    if noise > 0:
        if rng is None:
            raise ValueError("noise > 0 needs an rng")
        filled += rng.normal(0.0, noise * 255.0, filled.shape)
    out[mask] = filled
    return np.clip(out, 0.0, 255.0)


def fill_image(image: np.ndarray, replacement: str, *, blur_sigma: float = 5.0) -> np.ndarray:
    """The image a fixed replacement fills removed pixels from (``"impute"`` has none)."""
    image = np.asarray(image, dtype=np.float64)
    if replacement == "black":
        return np.zeros_like(image)
    if replacement == "mean":
        return np.broadcast_to(image.mean(axis=(0, 1)), image.shape).copy()
    if replacement == "blur":
        if blur_sigma <= 0:
            raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")
        return ndimage.gaussian_filter(image, sigma=(blur_sigma, blur_sigma, 0), mode="nearest")
    raise ValueError(f"no fill image for replacement {replacement!r}; expected one of "
                     f"{REPLACEMENTS[:3]}")


def patch_labels(shape: tuple[int, int], patch: int) -> np.ndarray:
    """Square ``patch`` x ``patch`` features (ragged at the border), labelled row by row."""
    if patch < 1:
        raise ValueError(f"patch must be >= 1, got {patch}")
    h, w = shape
    cols = -(-w // patch)
    return ((np.arange(h)[:, None] // patch) * cols + np.arange(w)[None, :] // patch)


def feature_ranks(saliency: np.ndarray, labels: np.ndarray, *, order: str,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Per pixel, the rank of its feature (0 = removed first): features sorted by their
    mean relevance, descending for ``"morf"``, ascending for ``"lerf"``.

    Features of equal mean are ordered at random by ``rng``; without one, by label. A
    GradCAM map is zero wherever its ReLU cuts, a superpixel map constant over each
    segment: in label order those ties would be removed top rows first, so where the
    lesion lies would move the curve.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    _, flat = np.unique(labels, return_inverse=True)
    flat = flat.reshape(labels.shape)
    sizes = np.bincount(flat.ravel())
    means = np.bincount(flat.ravel(), weights=saliency.ravel()) / sizes
    key = -means if order == "morf" else means
    rank = np.empty(len(means), dtype=np.int64)
    rank[order_random_ties(key, rng)] = np.arange(len(means))
    return rank[flat]


def _check_options(replacement: str, batch_size: int) -> None:
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}, got {replacement!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def _labels(images: np.ndarray, labels: np.ndarray | None, *, features: str, patch: int,
            n_segments: int) -> np.ndarray:
    """Feature labels (n, H, W): the ones given, patches or SLIC superpixels."""
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != images.shape[:3] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape {images.shape[:3]}, got "
                             f"{labels.dtype} {labels.shape}")
        return labels
    if features == "patches":
        return np.broadcast_to(patch_labels(images.shape[1:3], patch), images.shape[:3])
    if features == "superpixels":
        from dermviz.explain.kernelshap import slic_segments  # the paper's SLIC settings

        return np.stack([slic_segments(im, n_segments=n_segments) for im in images])
    raise ValueError(f"features must be one of {FEATURES}, got {features!r}")


def perturbation_curves(
    model_fn: ModelFn,
    images: np.ndarray,
    maps: np.ndarray,
    labels: np.ndarray,
    *,
    fractions: np.ndarray,
    insertion: bool = False,
    order: str = "morf",
    replacement: str = "black",
    blur_sigma: float = 5.0,
    noise: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """``model_fn`` along the map's ranking: one curve per image, ``(n, len(fractions))``.

    At fraction ``f`` the first ``round(f * n_features)`` features in ``order`` are
    replaced (deletion) or are the only ones kept from the image, the rest replaced
    (insertion). Every perturbed image of every step goes through one stream of full
    batches of ``batch_size``. Features tied in relevance are ordered at random
    (:func:`feature_ranks`), from ``seed`` (a stream apart from the imputation's noise).
    """
    _check_options(replacement, batch_size)
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 2 or (np.diff(fractions) <= 0).any() \
            or fractions[0] < 0 or fractions[-1] > 1:
        raise ValueError("fractions must increase within [0, 1] and have >= 2 values")
    rng = np.random.default_rng(seed)
    ties = np.random.default_rng((seed, 1))

    def perturbed() -> Iterator[np.ndarray]:
        for image, saliency, lab in zip(images, maps, labels, strict=True):
            ranks = feature_ranks(saliency, lab, order=order, rng=ties)
            n_features = int(ranks.max()) + 1
            # float32 halves the copies; the model reads float32 anyway
            fill = None if replacement == "impute" else fill_image(
                image, replacement, blur_sigma=blur_sigma).astype(np.float32)
            image = np.asarray(image, dtype=np.float32)
            for f in fractions:
                replaced = ranks < round(f * n_features)
                if insertion:
                    replaced = ~replaced
                if fill is None:
                    yield noisy_linear_impute(image, replaced, noise=noise, rng=rng)
                else:
                    yield np.where(replaced[..., None], fill, image)

    curves = predict_batched(model_fn, perturbed(), len(images) * len(fractions),
                             batch_size=batch_size)
    return curves.reshape(len(images), len(fractions))


def area_under(curves: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Trapezoidal area under each curve, divided by the fractions' span (a mean level)."""
    fractions = np.asarray(fractions, dtype=np.float64)
    return np.trapezoid(curves, fractions, axis=-1) / (fractions[-1] - fractions[0])


@dataclasses.dataclass(frozen=True)
class _Curve(Metric):
    """A perturbation curve's area: the parameters shared by deletion and insertion."""

    family: ClassVar[str] = "faithfulness"
    insertion: ClassVar[bool] = False
    #: 2: features tied in relevance are removed in a seeded random order, not by label.
    revision: ClassVar[int] = 2

    n_steps: int = 20
    order: str = "morf"
    features: str = "patches"
    patch: int = 8
    n_segments: int = 100
    replacement: str = "black"
    blur_sigma: float = 5.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {self.features!r}")
        _check_options(self.replacement, self.batch_size)

    @property
    def higher_is_better(self) -> bool:  # type: ignore[override]
        # Deleting the most relevant first should drop the score fast (low area);
        # inserting them first should raise it fast (high area). LeRF reverses both.
        return self.insertion == (self.order == "morf")

    @property
    def fractions(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.n_steps + 1)

    def curves(self, model_fn: ModelFn, images: np.ndarray, maps: np.ndarray, *,
               labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        """The curves themselves, ``(n, n_steps + 1)``, at :attr:`fractions`."""
        labels = _labels(images, labels, features=self.features, patch=self.patch,
                         n_segments=self.n_segments)
        return perturbation_curves(
            model_fn, images, maps, labels, fractions=self.fractions,
            insertion=self.insertion, order=self.order, replacement=self.replacement,
            blur_sigma=self.blur_sigma, batch_size=self.batch_size, seed=seed)

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return area_under(self.curves(model_fn, images, maps, labels=labels), self.fractions)


@register
@dataclasses.dataclass(frozen=True)
class Deletion(_Curve):
    """Area under the deletion curve (MoRF: lower is better)."""

    name: ClassVar[str] = "deletion"
    title: ClassVar[str] = "deletion AUC"


@register
@dataclasses.dataclass(frozen=True)
class Insertion(_Curve):
    """Area under the insertion curve from a blurred image (MoRF: higher is better)."""

    name: ClassVar[str] = "insertion"
    title: ClassVar[str] = "insertion AUC"
    insertion: ClassVar[bool] = True

    replacement: str = "blur"


@register
@dataclasses.dataclass(frozen=True)
class ROAD(Metric):
    """ROAD: mean probability while the top pixels are removed by noisy linear imputation.

    Pixels (not patches) are removed at each of ``percentages`` (MoRF: lower is better).
    """

    name: ClassVar[str] = "road"
    title: ClassVar[str] = "ROAD (noisy linear imputation)"
    family: ClassVar[str] = "faithfulness"
    #: 2: pixels tied in relevance are removed in a seeded random order, not by position.
    revision: ClassVar[int] = 2

    percentages: tuple[float, ...] = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90)
    order: str = "morf"
    replacement: str = "impute"
    noise: float = 0.01
    blur_sigma: float = 5.0
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if not all(0 <= p < 100 for p in self.percentages):
            raise ValueError(f"percentages must lie in [0, 100), got {self.percentages}")
        _check_options(self.replacement, self.batch_size)

    @property
    def higher_is_better(self) -> bool:  # type: ignore[override]
        return self.order == "lerf"

    def curves(self, model_fn: ModelFn, images: np.ndarray, maps: np.ndarray) -> np.ndarray:
        """The probability at each percentage, ``(n, len(percentages))``."""
        labels = np.broadcast_to(patch_labels(images.shape[1:3], 1), images.shape[:3])
        return perturbation_curves(
            model_fn, images, maps, labels, fractions=np.asarray(self.percentages) / 100,
            order=self.order, replacement=self.replacement, blur_sigma=self.blur_sigma,
            noise=self.noise, batch_size=self.batch_size, seed=self.seed)

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return area_under(self.curves(model_fn, images, maps),
                          np.asarray(self.percentages) / 100)


@register
@dataclasses.dataclass(frozen=True)
class IROF(Metric):
    """IROF: area over the curve of ``p / p(original)`` as superpixels are removed
    cumulatively, most relevant first (higher is better)."""

    name: ClassVar[str] = "irof"
    title: ClassVar[str] = "IROF (area over the curve)"
    family: ClassVar[str] = "faithfulness"
    #: 2: superpixels tied in relevance are removed in a seeded random order, not by label.
    revision: ClassVar[int] = 2

    n_segments: int = 100
    replacement: str = "mean"
    blur_sigma: float = 5.0
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check_options(self.replacement, self.batch_size)

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        labels = _labels(images, labels, features="superpixels", patch=1,
                         n_segments=self.n_segments)
        out = np.empty(len(images))
        for k in range(len(images)):  # each image has its own number of superpixels
            n_features = len(np.unique(labels[k]))
            fractions = np.arange(n_features + 1) / n_features
            curve = perturbation_curves(
                model_fn, images[k : k + 1], maps[k : k + 1], labels[k : k + 1],
                fractions=fractions, replacement=self.replacement,
                blur_sigma=self.blur_sigma, batch_size=self.batch_size)[0]
            if curve[0] <= 0:
                raise ValueError(f"IROF needs p(original) > 0; image {k} has {curve[0]}")
            out[k] = 1.0 - area_under(curve / curve[0], fractions)
        return out


@register
@dataclasses.dataclass(frozen=True)
class FaithfulnessCorrelation(Metric):
    """Pearson correlation between a random subset's map sum and the probability drop
    when the subset is replaced, over ``n_runs`` subsets (higher is better)."""

    name: ClassVar[str] = "faithfulness_correlation"
    title: ClassVar[str] = "faithfulness correlation"
    family: ClassVar[str] = "faithfulness"

    n_runs: int = 100
    subset_size: int = 224
    replacement: str = "black"
    blur_sigma: float = 5.0
    batch_size: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_runs < 2 or self.subset_size < 1:
            raise ValueError("n_runs must be >= 2 and subset_size >= 1")
        if self.replacement == "impute":
            raise ValueError("faithfulness correlation takes a fixed fill, not 'impute'")
        _check_options(self.replacement, self.batch_size)

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        n_pixels = maps[0].size
        if self.subset_size >= n_pixels:
            raise ValueError(f"subset_size {self.subset_size} must be below the image's "
                             f"{n_pixels} pixels")
        rng = np.random.default_rng(self.seed)
        subsets = np.stack([np.stack([rng.choice(n_pixels, self.subset_size, replace=False)
                                      for _ in range(self.n_runs)]) for _ in images])

        def perturbed() -> Iterator[np.ndarray]:
            for image, chosen in zip(images, subsets, strict=True):
                fill = fill_image(image, self.replacement, blur_sigma=self.blur_sigma)
                yield np.asarray(image, dtype=np.float64)
                for subset in chosen:
                    out = np.asarray(image, dtype=np.float64).copy().reshape(-1, 3)
                    out[subset] = fill.reshape(-1, 3)[subset]
                    yield out.reshape(image.shape)

        p = predict_batched(model_fn, perturbed(), len(images) * (self.n_runs + 1),
                            batch_size=self.batch_size).reshape(len(images), -1)
        drops = p[:, :1] - p[:, 1:]
        flat = maps.reshape(len(maps), -1)
        sums = flat[np.arange(len(maps))[:, None, None], subsets].sum(axis=2)
        return np.array([_pearson(a, b) for a, b in zip(sums, drops, strict=True)])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; 0 when either side is constant (no linear relation to measure)."""
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / den) if den > 0 else 0.0
