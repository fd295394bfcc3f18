"""KernelSHAP on SLIC superpixels, as in the paper, but seeded and memory-light.

Follows the paper (docs/protocol.md §9, §15): the image is cut into SLIC superpixels
(``n_segments=100, compactness=3, sigma=13``, on the uint8 image, in Lab, labels
from 0); a coalition ``z`` in {0, 1}^M keeps the superpixels with ``z_j = 1`` and
paints the others white (255 in every channel); the background is the all-hidden
coalition (an all-white image), the explained instance the all-kept one;
``shap.KernelExplainer`` with ``nsamples=2500`` and ``l1_reg="aic"`` (what the
paper's ``"auto"`` meant at 2,500 samples) explains the *probability* of the
explained class (p(melanoma), or 1 - p(melanoma) for naevus), by default the
predicted one.

Two things differ from the paper, neither changes the estimator (two more, the
``reference`` and the ``sampler``, are options whose defaults are the paper's):

* **Seeded.** ``KernelExplainer`` draws its coalitions from numpy's global RNG;
  the draw is wrapped in a context that seeds it with ``seed`` for every image and
  restores the caller's RNG state afterwards, so the same call gives the same map
  (the paper's were unseeded, §10.1, §14.19) and an image's map does not depend on
  the other images in the batch.
* **Chunked.** The paper built all 2,500 coalition images at once in float64
  (about 3 GB per image at 224 px, §14.12). Here ``f(z)`` builds ``batch_size``
  coalition images at a time, in float32, straight from the image and the
  superpixel label map, into one reused buffer, and runs one batched
  ``tf.function`` forward pass per chunk; the whole coalition set never exists.
* **Reference.** ``reference="white"`` is the paper's all-white background. Where a
  model scores white like the lesion, ``f(image) - f(background)`` (what the values
  sum to) is almost zero and the map is noise; ``"mean"``, ``"blur"`` and
  ``"inpaint"`` paint hidden superpixels from a per-image background instead
  (:mod:`dermviz.explain.backgrounds`). Every map carries its ``reference_gap``
  and a warning when the gap is degenerate.
* **Sampler.** ``sampler="kernel"`` (the default, the paper's) is shap's
  ``KernelExplainer``; ``sampler="leverage"`` is Leverage SHAP
  (:mod:`dermviz.explain.shapley_estimators`): coalitions drawn by their leverage
  scores, an exactly additive constrained regression, and a split-half error
  estimate stored with every map (``estimated_error``, ``split_half_ssim``).

References
----------
.. [1] Lundberg and Lee, "A Unified Approach to Interpreting Model Predictions",
   NeurIPS 2017.
.. [2] Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel
   Methods", IEEE TPAMI 34(11), 2012.
.. [3] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
   arXiv:1908.06612.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from dermviz.explain.backgrounds import (
    BACKGROUNDS,
    DEGENERATE_GAP,
    background_image,
    gap_warning,
    reference_gap,
)
from dermviz.explain.base import MELANOMA, ComputedMaps, ExplainBatch, Explainer, register
from dermviz.explain.shapley_estimators import ShapleyEstimate, leverage_shap
from dermviz.models.predict import forward_fn

#: Coalition samplers: shap's ``KernelExplainer`` (the paper's) and Leverage SHAP.
SAMPLERS = ("kernel", "leverage")

#: The paper's SLIC settings besides ``n_segments``, ``compactness`` and ``sigma``.
SLIC_FIXED = {
    "start_label": 0,
    "convert2lab": True,
    "enforce_connectivity": True,
    "max_size_factor": 3,
    "min_size_factor": 0.5,
    "channel_axis": -1,
}


def slic_segments(
    image: np.ndarray, *, n_segments: int = 100, compactness: float = 3.0, sigma: float = 13.0
) -> np.ndarray:
    """The paper's SLIC superpixels of one image, labelled 0..M-1 consecutively.

    Parameters
    ----------
    image : ndarray, (H, W, 3)
        Values in [0, 255]; float images are rounded to uint8 first (SLIC ran on
        the uint8 image in the paper).
    n_segments, compactness, sigma : int, float, float
        Passed to :func:`skimage.segmentation.slic` with :data:`SLIC_FIXED`.

    Returns
    -------
    ndarray, int32, (H, W)
        Superpixel index of every pixel; ``labels.max() + 1`` superpixels, each
        index used at least once.

    References
    ----------
    .. [1] Achanta et al., "SLIC Superpixels Compared to State-of-the-Art
       Superpixel Methods", IEEE TPAMI 34(11), 2012.
    """
    from skimage.segmentation import slic  # heavy (~1 s): only segmenting pays for it

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected one RGB image (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    raw = slic(
        image, n_segments=int(n_segments), compactness=float(compactness), sigma=float(sigma),
        **SLIC_FIXED,
    )
    _, labels = np.unique(raw, return_inverse=True)
    return labels.reshape(image.shape[:2]).astype(np.int32)


def chunk_bounds(n_rows: int, batch_size: int) -> np.ndarray:
    """Boundaries of ``ceil(n_rows / batch_size)`` near-equal chunks of at most ``batch_size``.

    Equal chunks avoid a small, inefficient tail batch; chunk sizes take at most
    two values (e.g. 31 and 32 for 2,500 rows at 32), so the forward pass meets
    at most two batch shapes.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_chunks = -(-int(n_rows) // int(batch_size))
    return np.linspace(0, n_rows, n_chunks + 1).round().astype(int)


class CoalitionPredictor:
    """``f(z)`` for KernelSHAP: the explained class's probability on masked images.

    Row ``z`` of the coalition matrix keeps superpixel ``j`` where ``z[j] >= 0.5``
    and takes the pixels of ``background`` elsewhere. Rows are processed
    ``batch_size`` at a time: each chunk's images are written, as float32, into
    one reused ``(batch_size, H, W, 3)`` buffer and go through one batched
    forward pass, so memory is about two chunks (the buffer and TensorFlow's
    input copy of it) whatever the number of rows.

    Parameters
    ----------
    model : keras.Model
        Takes images in [0, 255], returns p(melanoma) as ``(n, 1)``.
    image : ndarray, (H, W, 3)
        The explained image, values in [0, 255].
    labels : ndarray of int, (H, W)
        Superpixel index of every pixel, 0..M-1.
    target_class : int
        1: explain p(melanoma); 0: explain 1 - p(melanoma).
    background : float or ndarray, (H, W, 3)
        What hidden superpixels show: one value for every pixel and channel (255:
        white, the paper's) or a background image, values in [0, 255]
        (:func:`dermviz.explain.backgrounds.background_image`).
    batch_size : int
        Coalition images per forward pass.

    Attributes
    ----------
    n_forward_rows : int
        Coalition images evaluated so far (for diagnostics and tests).
    """

    def __init__(
        self,
        model: Any,
        image: np.ndarray,
        labels: np.ndarray,
        *,
        target_class: int,
        background: float | np.ndarray = 255.0,
        batch_size: int = 32,
    ) -> None:
        image = np.asarray(image, dtype=np.float32)
        labels = np.asarray(labels)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected one RGB image (H, W, 3), got shape {image.shape}")
        if labels.shape != image.shape[:2]:
            raise ValueError(f"labels {labels.shape} do not match the image {image.shape[:2]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        fill = np.asarray(background, dtype=np.float32)
        if fill.ndim and fill.shape != image.shape:
            raise ValueError(f"background {fill.shape} does not match the image {image.shape}")
        self._fn = forward_fn(model)
        self.image = image
        self.labels = labels.astype(np.intp, copy=False)
        self.n_segments = int(self.labels.max()) + 1 if labels.size else 0
        self.target_class = int(target_class)
        # One (H, W, 3) array either way: copying it into the batch costs what fill did.
        self.background = np.ascontiguousarray(np.broadcast_to(fill, image.shape))
        self.batch_size = int(batch_size)
        self.n_forward_rows = 0
        self._buffer: np.ndarray | None = None

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Probabilities of the explained class, float64 ``(len(z), 1)``."""
        z = np.asarray(z)
        if z.ndim == 1:
            z = z[None, :]
        if z.ndim != 2 or z.shape[1] != self.n_segments:
            raise ValueError(f"expected coalitions (k, {self.n_segments}), got shape {z.shape}")
        out = np.empty((len(z), 1), dtype=np.float64)
        bounds = chunk_bounds(len(z), self.batch_size)
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
            batch = self._masked(z[start:stop] >= 0.5)
            p_mel = np.asarray(self._fn(batch), dtype=np.float64)[:, 0]
            out[start:stop, 0] = p_mel if self.target_class == MELANOMA else 1.0 - p_mel
            self.n_forward_rows += stop - start
        return out

    def _masked(self, keep: np.ndarray) -> np.ndarray:
        """The coalition images of boolean rows ``keep`` (b, M), in the reused buffer."""
        b = len(keep)
        if self._buffer is None or len(self._buffer) < b:
            self._buffer = np.empty((b, *self.image.shape), dtype=np.float32)
        batch = self._buffer[:b]
        np.copyto(batch, self.background)
        pixel_kept = keep[:, self.labels]  # (b, H, W) bool
        np.copyto(batch, self.image, where=pixel_kept[..., None])
        return batch


def shap_values_width(n_segments: int) -> int:
    """Columns of the padded ``shap_values`` extra: ``2 * n_segments``.

    SLIC can return somewhat more superpixels than asked for (e.g. 25 for 20 at
    96 px, when connectivity enforcement splits a segment); a width fixed by the
    parameters keeps batches and cached single images concatenable. It grows
    only for an image with more than ``2 * n_segments`` superpixels.
    """
    return 2 * int(n_segments)


@contextlib.contextmanager
def seeded_global_numpy(seed: int | None) -> Iterator[None]:
    """Seed numpy's global RNG (which ``shap.KernelExplainer`` samples from), then restore it.

    ``seed=None`` leaves the RNG alone (unseeded, the paper's behaviour). Not
    thread-safe: another thread drawing from ``np.random`` meanwhile would both
    perturb and be perturbed by the seeded sequence.
    """
    if seed is None:
        yield
        return
    # shap samples with the legacy global RNG, so that is what has to be seeded.
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@register
class KernelSHAP(Explainer):
    """KernelSHAP superpixel attributions in probability units, signed.

    A positive value means the superpixel raises the explained class's
    probability relative to the background (by default the all-white image).
    Per image, the values of all superpixels sum to ``f_x - base_value`` (local
    accuracy), unless the L1 feature selection kept none (then all are zero and
    a warning says so).

    Parameters
    ----------
    model : keras.Model
        A dermviz model: images in [0, 255], output p(melanoma) as ``(n, 1)``.
    n_segments : int
        SLIC's target number of superpixels (the paper's 100).
    compactness : float
        SLIC's colour/space trade-off (the paper's 3).
    sigma : float
        Gaussian smoothing before SLIC (the paper's 13: large, blobby segments).
    reference : {"white", "mean", "blur", "inpaint"}
        What hidden superpixels show (:func:`~dermviz.explain.backgrounds.background_image`):
        ``"white"`` (the paper's) paints them with ``background``; the others take
        them from a per-image background: the image's mean colour, a heavy blur of
        it, or the image with its lesion (Otsu's dark blob) inpainted away. Left
        out of :meth:`params` when ``"white"``, so maps cached before references
        existed keep their key.
    background : float
        The fill value of ``reference="white"``, all channels (255: white, the
        paper's). Other references take no ``background``: it must stay 255 and
        is left out of their :meth:`params`.
    nsamples : int
        Coalitions evaluated per image (the paper's 2500; shap caps it at
        ``2**M - 2`` when that is smaller).
    l1_reg : str, float or bool
        shap's feature selection: ``"aic"`` (the paper's ``"auto"`` at 2,500
        samples), ``"bic"``, ``"num_features(k)"``, a Lasso alpha, or False.
    seed : int or None
        Seeds the coalition sampling for every image (either sampler); None leaves it
        unseeded.
    sampler : {"kernel", "leverage"}
        ``"kernel"`` (the paper's): shap's ``KernelExplainer``, left out of
        :meth:`params` so older maps keep their key. ``"leverage"``: Leverage SHAP
        (:func:`~dermviz.explain.shapley_estimators.leverage_shap`), which takes no
        ``l1_reg`` (it is left out of its :meth:`params`) and stores a split-half
        error estimate with each map.
    batch_size : int
        Coalition images per forward pass (not part of the cache key). Memory is
        two chunks of ``batch_size * H * W * 3 * 4`` bytes (the buffer and
        TensorFlow's copy of it) plus the model's activations, which dominate:
        at 224 px, InceptionV3 inference raised peak RSS by about 0.27 GB at
        batch 32, 0.66 GB at 64 and 2.7 GB at 256 (TF 2.21, CPU), while the
        throughput per image was the same within noise. Hence 32.

    Notes
    -----
    ``explain`` returns ``maps`` (n, H, W) float32 holding each pixel's
    superpixel value, and extras: ``segments`` (n, H, W) int32, ``shap_values``
    (n, K) float32 padded with NaN beyond each image's ``n_segments`` (K is the
    ``n_segments`` parameter, or the batch's largest M if SLIC returned more),
    ``n_segments`` (n,) int32, ``base_value`` (n,) float32 = f(background),
    ``f_x`` (n,) float32 = f(image), ``reference_gap`` (n,) float32 =
    ``|f_x - base_value|``, what the map's values add up to in absolute value.
    With ``sampler="leverage"`` also ``estimated_error`` (n,) float32, the RMS
    error per superpixel estimated from two half-sample estimates, and
    ``split_half_ssim`` (n,) float32, the SSIM between those two half maps (a
    run-to-run SSIM at half the samples, so a pessimistic one).
    Maps with a gap below
    :data:`~dermviz.explain.backgrounds.DEGENERATE_GAP` explain (almost)
    nothing; :attr:`SaliencyMaps.warnings` then says so
    (:func:`~dermviz.explain.backgrounds.gap_warning` for a single image).

    References
    ----------
    .. [1] Lundberg and Lee, "A Unified Approach to Interpreting Model
       Predictions", NeurIPS 2017.
    .. [2] Achanta et al., "SLIC Superpixels Compared to State-of-the-Art
       Superpixel Methods", IEEE TPAMI 34(11), 2012.
    .. [3] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
       arXiv:1908.06612.
    """

    name = "kernelshap"
    display_name = "KernelSHAP"
    signed = True
    #: The paper's coalitions per image (docs/protocol.md §9), the default ``nsamples``.
    PAPER_NSAMPLES: ClassVar[int] = 2500
    #: An image takes seconds to minutes, so one per work item balances the workers
    #: and an interrupted precomputation loses at most one image per worker.
    images_per_task = 1
    user_options = {
        "nsamples": f"coalitions per image (default {PAPER_NSAMPLES}, the paper's)",
        "n_segments": "SLIC superpixels per image (default 100, the paper's)",
        "sampler": "coalition sampler: kernel (shap's, the paper's; default) or leverage "
                   "(Leverage SHAP, with an error estimate per map)",
    }
    #: The paper's reference, the default (left out of the cache key).
    PAPER_REFERENCE: ClassVar[str] = "white"
    #: The paper's sampler, the default (left out of the cache key).
    PAPER_SAMPLER: ClassVar[str] = "kernel"

    def __init__(
        self,
        model: Any,
        *,
        n_segments: int = 100,
        compactness: float = 3.0,
        sigma: float = 13.0,
        reference: str = "white",
        background: float = 255,
        nsamples: int = PAPER_NSAMPLES,
        l1_reg: str | float | bool = "aic",
        seed: int | None = 0,
        sampler: str = "kernel",
        batch_size: int = 32,
    ) -> None:
        super().__init__(
            model, n_segments=n_segments, compactness=compactness, sigma=sigma,
            reference=reference, background=background, nsamples=nsamples, l1_reg=l1_reg,
            seed=seed, sampler=sampler, batch_size=batch_size,
        )
        p = self._params
        self.n_segments = p["n_segments"]
        self.compactness = p["compactness"]
        self.sigma = p["sigma"]
        self.reference = p.get("reference", self.PAPER_REFERENCE)
        self.background = p.get("background", 255.0)
        self.nsamples = p["nsamples"]
        self.l1_reg = p.get("l1_reg")
        self.seed = p["seed"]
        self.sampler = p.get("sampler", self.PAPER_SAMPLER)

    @classmethod
    def canonical_params(cls, **given: Any) -> dict[str, Any]:
        """Defaults filled in, validated and type-normalised (so 3 and 3.0 share a key).

        ``reference`` appears only when it is not the paper's ``"white"`` (maps of
        the default keep the key they had before references existed);
        ``background`` only with ``"white"``, the one reference that uses it;
        ``sampler`` only when it is not ``"kernel"``, and ``l1_reg`` only with it.
        """
        params = super().canonical_params(**given)
        n_segments, nsamples = params["n_segments"], params["nsamples"]
        if isinstance(n_segments, bool) or int(n_segments) != n_segments or n_segments < 1:
            raise ValueError(f"n_segments must be an integer >= 1, got {n_segments!r}")
        if isinstance(nsamples, bool) or int(nsamples) != nsamples or nsamples < 1:
            raise ValueError(f"nsamples must be an integer >= 1, got {nsamples!r}")
        if not float(params["compactness"]) > 0:
            raise ValueError(f"compactness must be > 0, got {params['compactness']!r}")
        if not float(params["sigma"]) >= 0:
            raise ValueError(f"sigma must be >= 0, got {params['sigma']!r}")
        if not 0 <= float(params["background"]) <= 255:
            raise ValueError(f"background must lie in [0, 255], got {params['background']!r}")
        reference = params.pop("reference")
        if reference not in BACKGROUNDS:
            raise ValueError(f"reference must be one of {BACKGROUNDS}, got {reference!r}")
        seed = params["seed"]
        if seed is not None and (isinstance(seed, bool) or int(seed) != seed or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        l1_reg = params["l1_reg"]
        if not isinstance(l1_reg, (str, bool, int, float)):
            raise ValueError(f"l1_reg must be a str, float or bool, got {l1_reg!r}")
        params.update(
            n_segments=int(n_segments),
            nsamples=int(nsamples),
            compactness=float(params["compactness"]),
            sigma=float(params["sigma"]),
            background=float(params["background"]),
            seed=None if seed is None else int(seed),
        )
        if reference != cls.PAPER_REFERENCE:
            if params.pop("background") != 255.0:
                raise ValueError(f"background applies to reference='white' only, not to "
                                 f"reference={reference!r}")
            params["reference"] = reference
        sampler = params.pop("sampler")
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if sampler != cls.PAPER_SAMPLER:
            if params.pop("l1_reg") != "aic":
                raise ValueError(f"l1_reg applies to sampler='kernel' only, not to "
                                 f"sampler={sampler!r}")
            params["sampler"] = sampler
        return params

    def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
        """Each image's SHAP values on its superpixels, spread over their pixels."""
        images, targets = batch.images, batch.targets
        n, height, width = images.shape[:3]
        segments = np.zeros((n, height, width), dtype=np.int32)
        values: list[np.ndarray] = []
        base = np.zeros(n, dtype=np.float32)
        f_x = np.zeros(n, dtype=np.float32)
        errors = np.zeros(n, dtype=np.float32)
        half_ssim = np.zeros(n, dtype=np.float32)
        notes: set[str] = set()
        for k in range(n):
            segments[k] = slic_segments(
                images[k], n_segments=self.n_segments, compactness=self.compactness,
                sigma=self.sigma,
            )
            f = self._predictor(images[k], segments[k], int(targets[k]))
            if self.sampler == "leverage":
                estimate = self._leverage(f)
                phi, base[k], f_x[k] = estimate.values, estimate.base_value, estimate.f_x
                errors[k] = estimate.estimated_error
                half_ssim[k] = split_half_ssim(estimate.halves, segments[k])
            else:
                phi, base[k], f_x[k] = self._kernel(f)
            values.append(phi)
            if phi.size and not np.any(phi) and abs(f_x[k] - base[k]) > 1e-6:
                notes.add(
                    f"KernelSHAP: l1_reg={self.l1_reg!r} kept no superpixel on some images; "
                    "their maps are all zero although f(image) differs from f(background). "
                    "Use more samples or l1_reg=False."
                )

        gaps = reference_gap(f_x, base).astype(np.float32)
        notes.update(self._gap_notes(f_x, base, gaps))
        width_k = max([shap_values_width(self.n_segments), *(len(v) for v in values)])
        shap_values = np.full((n, width_k), np.nan, dtype=np.float32)
        maps = np.zeros((n, height, width), dtype=np.float32)
        for k, phi in enumerate(values):
            shap_values[k, : len(phi)] = phi
            maps[k] = phi.astype(np.float32)[segments[k]]
        return ComputedMaps(
            maps=maps,
            extras={
                "segments": segments,
                "shap_values": shap_values,
                "n_segments": np.array([len(v) for v in values], dtype=np.int32),
                "base_value": base,
                "f_x": f_x,
                "reference_gap": gaps,
                **({"estimated_error": errors, "split_half_ssim": half_ssim}
                   if self.sampler == "leverage" else {}),
            },
            warnings=sorted(notes),
        )

    def _gap_notes(self, f_x: np.ndarray, base: np.ndarray, gaps: np.ndarray) -> list[str]:
        """Warnings about degenerate reference gaps: the exact sentence for one image."""
        small = gaps < DEGENERATE_GAP
        if not small.any():
            return []
        if len(gaps) == 1:
            return [gap_warning(float(f_x[0]), float(base[0]))]
        # Batch warnings are shared by every image of the batch: say how many, not which.
        return [f"KernelSHAP: {int(small.sum())} of {len(gaps)} maps have a reference gap "
                f"|f(image) - f(background)| < {DEGENERATE_GAP} (reference "
                f"{self.reference!r}); they distribute almost nothing, so their colours "
                "show noise, not evidence (see the reference_gap extra). "
                "Try another reference."]

    def _predictor(self, image: np.ndarray, labels: np.ndarray, target: int) -> CoalitionPredictor:
        """``f(z)`` of one image: its class probability with hidden superpixels painted."""
        if self.reference == self.PAPER_REFERENCE:
            fill: float | np.ndarray = self.background
        else:
            fill = background_image(image, self.reference)
        return CoalitionPredictor(
            self.model, image, labels, target_class=target, background=fill,
            batch_size=self.batch_size,
        )

    def _kernel(self, f: CoalitionPredictor) -> tuple[np.ndarray, float, float]:
        """shap's KernelExplainer: SHAP values (M,), f(background) and f(image)."""
        import shap  # heavy: imports numba, sklearn and more; only computing pays for it

        m = f.n_segments
        with seeded_global_numpy(self.seed), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # LassoLarsIC divides by a zero noise variance when f is constant.
            warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"sklearn\.")
            explainer = shap.KernelExplainer(f, np.zeros((1, m)))
            phi = explainer.shap_values(
                np.ones((1, m)), nsamples=self.nsamples, l1_reg=self.l1_reg, silent=True
            )
        phi = np.asarray(phi, dtype=np.float64).reshape(-1)[:m]
        base = float(np.ravel(explainer.expected_value)[0])
        fx = float(np.ravel(explainer.fx)[0]) if m > 0 else base
        return phi, base, fx

    def _leverage(self, f: CoalitionPredictor) -> ShapleyEstimate:
        """Leverage SHAP with the same budget, seeded per image like the kernel sampler
        (``seed=None``: fresh entropy). Like shap, it evaluates at most ``2**M - 2``
        coalitions besides the two ends, where the values are exact."""
        m = f.n_segments
        rng = np.random.default_rng(self.seed)
        return leverage_shap(f, m, budget=max(self.nsamples, 2) if m >= 2 else 0, rng=rng)

def split_half_ssim(halves: np.ndarray, segments: np.ndarray) -> float:
    """SSIM between the superpixel maps of two half-sample estimates, on one shared scale.

    Both maps go from ``[-vmax, vmax]`` to [0, 1] with ``vmax`` the larger absolute
    value of the two (0 -> 0.5), then SSIM with ``data_range=1`` (as the sanity
    checks compare signed maps). 1.0 when both halves are identical.
    """
    from skimage.metrics import structural_similarity  # with SLIC's skimage import

    a, b = (np.asarray(h, np.float64)[segments] for h in halves)
    vmax = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)))
    if vmax == 0 or np.array_equal(a, b):
        return 1.0
    a, b = (a / vmax + 1) / 2, (b / vmax + 1) / 2
    return float(structural_similarity(a, b, data_range=1.0))


def error_note(extras: dict[str, np.ndarray], k: int = 0) -> str:
    """A line to show beside map ``k``: its split-half error estimate, or why it has none.

    Parameters
    ----------
    extras : dict of ndarray
        :attr:`SaliencyMaps.extras` of a KernelSHAP batch.
    k : int
        The image's index in the batch.
    """
    if "estimated_error" not in extras:
        return ("No per-map error estimate: shap's estimator (sampler 'kernel') does not "
                "expose one; sampler 'leverage' stores one with each map.")
    error = float(extras["estimated_error"][k])
    values = np.asarray(extras.get("shap_values", np.zeros((k + 1, 0))))[k]
    peak = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    share = f", {error / peak:.0%} of the largest |value|" if peak > 0 else ""
    return (f"Estimated error ±{error:.2g} per superpixel (RMS{share}); run-to-run SSIM "
            f"(split-half) {float(extras['split_half_ssim'][k]):.2f}")
