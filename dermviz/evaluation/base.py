"""What every evaluation metric shares: one call signature, its parameters, a registry by name.

A metric is a frozen dataclass whose fields are its parameters (:meth:`Metric.params`, a
plain dict: the future cache key). Calling it scores a batch::

    scores = metric(model_fn, images, maps, masks=None, explain_fn=None)   # (n,)

* ``model_fn(images) -> p``: a batch of images ``(n, H, W, 3)``, pixels in [0, 255] (uint8
  or float), to the probability of the explained class, ``(n,)``. Metrics never touch
  Keras: :func:`keras_model_fn` wraps a dermviz model, tests use numpy models.
* ``images`` ``(n, H, W, 3)`` and ``maps`` ``(n, H, W)``: one map per image.
* ``masks``: optional ``(n, H, W)`` booleans (lesion masks), for metrics that read them.
* ``explain_fn(images) -> maps``: the explainer itself, for the robustness metrics.
* ``labels``: optional ``(n, H, W)`` integer features (e.g. superpixels) for the metrics
  that perturb features; by default each metric makes its own (patches, SLIC).

Each class names what it computes (:attr:`Metric.title`), its family and whether a higher
score is better (:attr:`Metric.higher_is_better`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np

ModelFn = Callable[[np.ndarray], np.ndarray]
ExplainFn = Callable[[np.ndarray], np.ndarray]

#: Metric families, as Quantus groups them (those dermviz evaluates here).
FAMILIES = ("faithfulness", "robustness", "complexity")

METRICS: dict[str, type[Metric]] = {}


@dataclasses.dataclass(frozen=True)
class Metric:
    """Base of every metric: parameters as fields, ``__call__`` scores a batch.

    Subclasses set :attr:`name`, :attr:`title`, :attr:`family` and
    :attr:`higher_is_better` and implement :meth:`score`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    family: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    #: Which reference maps the method must beat to pass (see :mod:`.baselines`).
    pass_baselines: ClassVar[tuple[str, ...]] = ("random", "gaussian")
    needs_model: ClassVar[bool] = True
    needs_explainer: ClassVar[bool] = False
    #: Raised by one whenever a change in the code changes the metric's scores for the
    #: same parameters: it enters the key of every saved study that computes the metric,
    #: so a study scored by older code is never read back as current.
    revision: ClassVar[int] = 1

    def params(self) -> dict[str, Any]:
        """The metric's parameters as a plain dict (its name included): a cache key."""
        return {"metric": self.name, **dataclasses.asdict(self)}

    def __call__(
        self,
        model_fn: ModelFn | None,
        images: np.ndarray,
        maps: np.ndarray,
        *,
        masks: np.ndarray | None = None,
        explain_fn: ExplainFn | None = None,
        labels: np.ndarray | None = None,
    ) -> np.ndarray:
        """One score per image, float64 ``(n,)``; see the module docstring."""
        images, maps, masks = check_inputs(images, maps, masks)
        if self.needs_model and model_fn is None:
            raise ValueError(f"metric {self.name!r} needs a model_fn")
        if self.needs_explainer and explain_fn is None:
            raise ValueError(f"metric {self.name!r} needs an explain_fn(images) -> maps")
        scores = np.asarray(
            self.score(model_fn, images, maps, masks=masks, explain_fn=explain_fn,
                       labels=labels),
            dtype=np.float64,
        )
        if scores.shape != (len(images),):
            raise RuntimeError(f"{self.name} returned shape {scores.shape}, not ({len(images)},)")
        return scores

    def score(
        self,
        model_fn: ModelFn | None,
        images: np.ndarray,
        maps: np.ndarray,
        *,
        masks: np.ndarray | None,
        explain_fn: ExplainFn | None,
        labels: np.ndarray | None = None,
    ) -> np.ndarray:
        """The computation, on checked inputs."""
        raise NotImplementedError


def register(cls: type[Metric]) -> type[Metric]:
    """Class decorator: add a metric to :data:`METRICS` under its :attr:`~Metric.name`."""
    if not cls.name or cls.family not in FAMILIES:
        raise ValueError(f"{cls.__name__} needs a name and a family in {FAMILIES}")
    if cls.name in METRICS:
        raise ValueError(f"metric {cls.name!r} is registered twice")
    METRICS[cls.name] = cls
    return cls


def available_metrics(family: str | None = None) -> list[str]:
    """Registered metric names, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return [n for n, c in METRICS.items() if family is None or c.family == family]


def get_metric(name: str, **params: Any) -> Metric:
    """The metric registered as ``name``, built with ``params``."""
    try:
        cls = METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; available: {sorted(METRICS)}") from None
    return cls(**params)


def check_inputs(
    images: np.ndarray, maps: np.ndarray, masks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a batch: ``images`` (n, H, W, 3), ``maps`` (n, H, W) finite, ``masks`` (n, H, W).

    Returns the images (dtype kept), the maps as float64 and the masks as bool.
    """
    images = np.asarray(images)
    maps = np.asarray(maps)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be a batch (n, H, W, 3), got shape {images.shape}")
    if len(images) == 0:
        raise ValueError("images is an empty batch")
    if maps.shape != images.shape[:3]:
        raise ValueError(
            f"maps must be (n, H, W) = {images.shape[:3]} to match the images, got {maps.shape}"
        )
    if not np.issubdtype(maps.dtype, np.number) or not np.isfinite(maps).all():
        raise ValueError("maps must be finite numbers")
    if masks is not None:
        masks = np.asarray(masks)
        if masks.shape != images.shape[:3]:
            raise ValueError(f"masks must be {images.shape[:3]}, got {masks.shape}")
        masks = masks.astype(bool)
    return images, maps.astype(np.float64), masks


def apply_batched(fn: Callable[[np.ndarray], np.ndarray], items: Iterable[np.ndarray], n: int,
                  *, batch_size: int) -> np.ndarray:
    """``fn`` over ``n`` arrays drawn from an iterable, in full batches of ``batch_size``.

    The arrays are built lazily (memory stays at one batch) and every call but the last
    gets exactly ``batch_size`` of them, so a compiled model meets at most two shapes.
    Returns ``fn``'s outputs stacked, ``(n, ...)``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    outputs: list[np.ndarray] = []
    buffer: list[np.ndarray] = []

    def flush() -> None:
        out = np.asarray(fn(np.stack(buffer)))
        if out.ndim == 0 or len(out) != len(buffer):
            raise ValueError(f"{getattr(fn, '__name__', 'fn')} returned shape {out.shape} "
                             f"for {len(buffer)} images")
        outputs.append(out)
        buffer.clear()

    for item in items:
        buffer.append(item)
        if len(buffer) == batch_size:
            flush()
    if buffer:
        flush()
    done = sum(len(o) for o in outputs)
    if done != n:
        raise ValueError(f"expected {n} images, got {done}")
    return np.concatenate(outputs)


def order_random_ties(key: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Indices that sort the 1-D ``key`` ascending, equal keys in a random order drawn from
    ``rng`` (in index order, a stable sort, without one).

    Maps tie a lot (a ReLU'd GradCAM's zeros, a superpixel map's segments): ranking their
    ties by index would take the image's top rows first.
    """
    tie_break = rng.random(key.size) if rng is not None else np.arange(key.size)
    return np.lexsort((tie_break, key))  # the last key sorts first


def predict_batched(model_fn: ModelFn, images: Iterable[np.ndarray], n: int, *,
                    batch_size: int) -> np.ndarray:
    """:func:`apply_batched` for a ``model_fn``: one probability per image, float64 ``(n,)``."""
    p = apply_batched(model_fn, images, n, batch_size=batch_size)
    if p.ndim != 1:
        raise ValueError(f"model_fn must return one score per image (n,), got {p.shape[1:]} "
                         "per image")
    return p.astype(np.float64)


def keras_model_fn(model: Any, *, target_class: int = 1, batch_size: int = 32) -> ModelFn:
    """``model_fn`` of a dermviz classifier (one sigmoid = p(melanoma)): p(target_class)."""
    if target_class not in (0, 1):
        raise ValueError(f"target_class must be 0 or 1, got {target_class}")
    from dermviz.models.predict import predict_proba

    def model_fn(images: np.ndarray) -> np.ndarray:
        p = predict_proba(model, images, batch_size=batch_size).astype(np.float64)
        return p if target_class == 1 else 1.0 - p

    return model_fn
