"""The template every saliency method fills in, and the method registry.

A method is one class in one module: subclass :class:`Explainer`, set ``name`` and
``display_name``, implement :meth:`Explainer._compute_maps`, decorate with
:func:`register`. The base class owns :meth:`Explainer.explain`, the same for every
method (as pytorch-grad-cam's ``BaseCAM.forward`` and Quantus's ``Metric.__call__``):
input checks, p(melanoma), the explained classes, batching and the assembly of the
:class:`SaliencyMaps`; the method computes maps for one batch of checked images
whose targets and probabilities are known (:class:`ExplainBatch`).

The class also owns what callers need to know without running it: its defaults
that depend on a suite (:meth:`Explainer.suite_defaults`), the options users may
set (:attr:`Explainer.user_options`) and how to split precomputation
(:attr:`Explainer.images_per_task`). Explainers are batch-first: ``explain`` takes
``(n, H, W, 3)`` images with values in [0, 255].

Method modules import TensorFlow and friends inside the functions that compute
maps, so listing the registry and reading method metadata stay light.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dermviz.explain.maps import SaliencyMaps
from dermviz.models.precision_choice import model_precision
from dermviz.models.predict import predict_proba

MELANOMA, NAEVUS = 1, 0


@dataclass(frozen=True)
class Prediction:
    """What the pass before the targets are known gives: p(melanoma), and more.

    Attributes
    ----------
    p_melanoma : ndarray, float32, (n,)
        The model's p(melanoma) on each image; decides the predicted class.
    by_products : dict of str to ndarray
        Per-image arrays (leading axis n) computed in the same pass, that the
        method's core reuses instead of a second pass (compiled GradCAM's grids).
    """

    p_melanoma: np.ndarray
    by_products: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplainBatch:
    """The batch a method's core explains: checked images, their targets and probabilities.

    Attributes
    ----------
    images : ndarray, float32, (n, H, W, 3)
        Values in [0, 255].
    targets : ndarray, int64, (n,)
        The class each map explains: 1 melanoma, 0 naevus.
    p_melanoma : ndarray, float32, (n,)
    by_products : dict of str to ndarray
        :attr:`Prediction.by_products` for these images.
    """

    images: np.ndarray
    targets: np.ndarray
    p_melanoma: np.ndarray
    by_products: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def chunks(self, size: int) -> Iterator[tuple[slice, ExplainBatch]]:
        """The batch ``size`` images at a time: each chunk's rows and the chunk.

        Raises
        ------
        ValueError
            ``size`` is below 1.
        """
        if size < 1:
            raise ValueError(f"chunk size must be >= 1, got {size}")
        for start in range(0, len(self), size):
            rows = slice(start, start + size)
            yield rows, ExplainBatch(
                images=self.images[rows],
                targets=self.targets[rows],
                p_melanoma=self.p_melanoma[rows],
                by_products={key: arr[rows] for key, arr in self.by_products.items()},
            )


@dataclass
class ComputedMaps:
    """What a method's core returns for a batch; :meth:`Explainer.explain` adds the rest.

    Attributes
    ----------
    maps : ndarray, float32, (n, H, W)
        One map per image at input size.
    extras : dict of str to ndarray
        Method-specific arrays with a leading batch axis
        (:attr:`SaliencyMaps.extras`).
    warnings : list of str
        Things the user should see next to the maps.
    """

    maps: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Explainer(ABC):
    """Base class of saliency methods: owns :meth:`explain`; methods fill in its core.

    Subclasses set :attr:`name`, :attr:`display_name` and :attr:`signed` and
    implement :meth:`_compute_maps`; they may override :meth:`_predict` (a pass
    that also yields what the core reuses). Constructor keyword arguments are
    the method's parameters and must be JSON-serialisable; :meth:`params`
    returns them for cache keys.

    Parameters
    ----------
    model : keras.Model
        A dermviz model: images in [0, 255], output p(melanoma) as ``(n, 1)``.
    batch_size : int
        Images per forward pass; not part of the cache key.
    **params
        The method's parameters (part of the cache key).
    """

    #: Registry name, also the cache folder: ``"gradcam"``.
    name: ClassVar[str]
    #: Name shown to people: ``"GradCAM"``.
    display_name: ClassVar[str]
    #: True when maps carry signed attributions (SHAP), False for [0, 1] CAMs.
    signed: ClassVar[bool] = False
    #: Constructor options that do not change the maps (left out of cache keys).
    uncached_params: ClassVar[tuple[str, ...]] = ("batch_size",)
    #: Parameters users may set (command-line flags, page widgets): name -> help text.
    user_options: ClassVar[dict[str, str]] = {}
    #: Images per precomputation work item; None: the caller's batch size.
    images_per_task: ClassVar[int | None] = None
    #: Resolution of the maps before upsampling (:attr:`SaliencyMaps.grid`); None: no grid.
    grid: tuple[int, int] | None = None

    def __init__(self, model: Any, *, batch_size: int = 32, **params: Any) -> None:
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.model = model
        self.batch_size = int(batch_size)
        params.pop("precision", None)  # the model's own, below: a lookup's guess never wins
        self._params = type(self).canonical_params(**params)
        precision = model_precision(model)
        if precision != "float32":  # float32 maps keep the keys they had before issue 25
            self._params["precision"] = precision

    @classmethod
    def suite_defaults(cls, suite: Any) -> dict[str, Any]:
        """Parameters whose default comes from a suite's configuration (none by default).

        Parameters
        ----------
        suite : dermviz.models.suite.Suite
        """
        return {}

    @classmethod
    def canonical_params(cls, **given: Any) -> dict[str, Any]:
        """The full parameter set (defaults filled in) that identifies a map.

        Lets callers look maps up in the store without building the explainer.
        """
        sig = inspect.signature(cls.__init__)
        params = {
            name: p.default
            for name, p in sig.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in cls.uncached_params
        }
        given = dict(given)
        precision = given.pop("precision", "float32")  # the arithmetic, see Explainer.params
        unknown = sorted(set(given) - set(params) - set(cls.uncached_params))
        if unknown:
            raise TypeError(f"{cls.name}: unknown parameter(s) {unknown}; known: {sorted(params)}")
        params.update({k: v for k, v in given.items() if k not in cls.uncached_params})
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"{cls.name}: precision must be float32 or bfloat16, "
                             f"got {precision!r}")
        if precision != "float32":
            params["precision"] = precision
        return json.loads(json.dumps(params, sort_keys=True))

    def params(self) -> dict[str, Any]:
        """The method's parameters, JSON-serialisable and sorted.

        A model that computes in bfloat16 (a twin from
        :func:`dermviz.models.precision.precision_twin`) adds ``"precision": "bfloat16"``,
        so that its maps never share a cache key with float32 maps.
        """
        return json.loads(json.dumps(self._params, sort_keys=True))

    def explain(
        self,
        images: np.ndarray,
        *,
        target_class: int | np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> SaliencyMaps:
        """Explain a batch.

        Checks the images, predicts p(melanoma) (:meth:`_predict`), resolves the
        explained classes, runs the method's core (:meth:`_compute_maps`) and
        assembles the result.

        Parameters
        ----------
        images : ndarray, (n, H, W, 3)
            Values in [0, 255] (``uint8`` or float).
        target_class : int or ndarray of int, optional
            1 (melanoma) or 0 (naevus), for all images or one per image.
            Default: the predicted class, ``p(melanoma) >= threshold``.
        threshold : float
            The member's operating threshold, used to decide the predicted class.

        Returns
        -------
        SaliencyMaps
            One map per image, with the method's name, parameters and grid.

        Raises
        ------
        ValueError
            The images are not a batch of RGB images in [0, 255], or a target
            class is neither 0 nor 1.
        """
        images = check_images(images)
        prediction = self._predict(images)
        p_melanoma = np.asarray(prediction.p_melanoma, dtype=np.float32)
        batch = ExplainBatch(
            images=images,
            targets=resolve_targets(target_class, p_melanoma, threshold),
            p_melanoma=p_melanoma,
            by_products=prediction.by_products,
        )
        computed = self._compute_maps(batch)
        _check_computed(computed, images.shape[:3], method=self.name)
        return SaliencyMaps(
            method=self.name,
            maps=computed.maps,
            target_class=batch.targets,
            p_melanoma=p_melanoma,
            grid=self.grid,
            params=self.params(),
            extras=computed.extras,
            warnings=sorted(set(computed.warnings)),
        )

    def _predict(self, images: np.ndarray) -> Prediction:
        """p(melanoma) of checked images, ``batch_size`` at a time.

        Override where one pass gives the probabilities and what the core needs.
        """
        return Prediction(predict_proba(self.model, images, batch_size=self.batch_size))

    def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
        """The method's core: maps of a batch whose targets and probabilities are known.

        Every method implements it (pytorch-grad-cam's ``get_cam_weights``). It is not
        abstract only so that stand-ins which override :meth:`explain` whole still work.

        Parameters
        ----------
        batch : ExplainBatch
            Checked float32 images, with their targets, p(melanoma) and
            by-products of :meth:`_predict`; :meth:`ExplainBatch.chunks` splits it
            where a method computes a few images at a time.

        Returns
        -------
        ComputedMaps
            One map per image at input size, extras with a leading batch axis,
            and warnings.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement _compute_maps")


def _check_computed(computed: ComputedMaps, shape: tuple[int, ...], *, method: str) -> None:
    """Fail loudly where a method's core returned maps or extras of the wrong length."""
    maps_shape = np.shape(computed.maps)
    if maps_shape != tuple(shape):
        raise ValueError(f"{method}: _compute_maps returned maps of shape {maps_shape}, "
                         f"expected {tuple(shape)} (one map per image at input size)")
    short = sorted(key for key, arr in computed.extras.items() if len(arr) != shape[0])
    if short:
        raise ValueError(f"{method}: extras {short} do not have one row per image ({shape[0]})")


_REGISTRY: dict[str, type[Explainer]] = {}


def register(cls: type[Explainer]) -> type[Explainer]:
    """Class decorator adding a method to the registry under ``cls.name``.

    Raises
    ------
    TypeError
        The class lacks a ``display_name``, or offers a user option that is
        not one of its parameters.
    ValueError
        Another class is registered under the same name.
    """
    if not getattr(cls, "display_name", None):
        raise TypeError(f"explainer {cls.__name__} needs a display_name")
    # The constructor's keyword options: a canonical set may leave one out at its default.
    keywords = {name for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(cls.user_options) - keywords)
    if unknown:
        raise TypeError(f"{cls.name}: user options {unknown} are not parameters")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"explainer {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def get_explainer(name: str) -> type[Explainer]:
    """Look up a registered method by name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown saliency method {name!r}; known: {sorted(_REGISTRY)}") from None


def available_methods() -> list[str]:
    """Names of the registered methods."""
    return sorted(_REGISTRY)


def make_explainer(model: Any, method: str, params: dict[str, Any]) -> Explainer:
    """Instantiate the registered method ``method`` on ``model`` with ``params``.

    A ``precision`` in ``params`` (a stored map's) is not passed on: the explainer records
    its model's own (:meth:`Explainer.params`).
    """
    return get_explainer(method)(model, **{k: v for k, v in params.items()
                                           if k != "precision"})


def check_images(images: np.ndarray) -> np.ndarray:
    """Validate a batch of images and return it as float32 in [0, 255]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected a batch of RGB images (n, H, W, 3), got shape {images.shape}")
    if images.dtype != np.uint8:
        lo, hi = float(images.min()), float(images.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"image values must lie in [0, 255], got [{lo:g}, {hi:g}]")
        if hi <= 1.0 and images.size > 0 and hi > 0:
            raise ValueError(
                "images look scaled to [0, 1]; dermviz models take pixel values in [0, 255]"
            )
    return images.astype(np.float32, copy=False)


def resolve_targets(
    target_class: int | np.ndarray | None, p_melanoma: np.ndarray, threshold: float
) -> np.ndarray:
    """Per-image target classes: given ones, or the predicted class."""
    n = len(p_melanoma)
    if target_class is None:
        return (p_melanoma >= threshold).astype(np.int64)
    targets = np.broadcast_to(np.asarray(target_class, dtype=np.int64), (n,)).copy()
    if not np.isin(targets, (NAEVUS, MELANOMA)).all():
        raise ValueError("target_class must be 1 (melanoma) or 0 (naevus)")
    return targets
