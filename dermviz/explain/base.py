"""The tiny base every saliency method implements, and the method registry.

A method is one class in one module: subclass :class:`Explainer`, set ``name`` and
``display_name``, implement :meth:`Explainer.explain`, decorate with :func:`register`.
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
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from dermviz.explain.maps import SaliencyMaps

MELANOMA, NAEVUS = 1, 0


class Explainer(ABC):
    """Base class of saliency methods.

    Subclasses set :attr:`name`, :attr:`display_name` and :attr:`signed` and
    implement :meth:`explain`. Constructor keyword arguments are the method's
    parameters and must be JSON-serialisable; :meth:`params` returns them for
    cache keys.
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

    def __init__(self, model: Any, **params: Any) -> None:
        self.model = model
        self._params = type(self).canonical_params(**params)

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
        unknown = sorted(set(given) - set(params) - set(cls.uncached_params))
        if unknown:
            raise TypeError(f"{cls.name}: unknown parameter(s) {unknown}; known: {sorted(params)}")
        params.update({k: v for k, v in given.items() if k not in cls.uncached_params})
        return json.loads(json.dumps(params, sort_keys=True))

    def params(self) -> dict[str, Any]:
        """The method's parameters, JSON-serialisable and sorted."""
        return json.loads(json.dumps(self._params, sort_keys=True))

    @abstractmethod
    def explain(
        self,
        images: np.ndarray,
        *,
        target_class: int | np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> SaliencyMaps:
        """Explain a batch.

        Parameters
        ----------
        images : ndarray, (n, H, W, 3)
            Values in [0, 255] (``uint8`` or float).
        target_class : int or ndarray of int, optional
            1 (melanoma) or 0 (naevus), for all images or one per image.
            Default: the predicted class, ``p(melanoma) >= threshold``.
        threshold : float
            The member's operating threshold, used to decide the predicted class.
        """


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
    """Instantiate the registered method ``method`` on ``model`` with ``params``."""
    return get_explainer(method)(model, **params)


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
