"""Robustness: does the map stay put when the image barely changes?

Max-sensitivity and average sensitivity (Yeh et al. 2019 [1]_), Quantus's definitions:
the image is perturbed ``n_samples`` times by uniform noise in ``[-radius, radius]``
(a fraction of the pixel range 255), explained again, and each new map is compared
with the given one by ``||e(x') - e(x)|| / ||e(x)||`` (Frobenius norms, both maps
divided by their largest absolute value first). The score is the largest
(:class:`MaxSensitivity`) or the mean (:class:`AvgSensitivity`) ratio over the samples;
lower is better, and a constant explainer scores 0.

All noisy images of all samples go through ``explain_fn`` in batches of ``batch_size``.

References
----------
.. [1] Yeh, Hsieh, Suggala, Inouye & Ravikumar, "On the (In)fidelity and Sensitivity of
   Explanations", NeurIPS 2019.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from dermviz.evaluation.base import ExplainFn, Metric, ModelFn, apply_batched, register


def normalise_by_max(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its largest absolute value (all-zero maps stay zero)."""
    maps = np.asarray(maps, dtype=np.float64)
    peak = np.abs(maps).reshape(len(maps), -1).max(axis=1)
    return maps / np.where(peak > 0, peak, 1.0)[:, None, None]


@dataclasses.dataclass(frozen=True)
class _Sensitivity(Metric):
    family: ClassVar[str] = "robustness"
    higher_is_better: ClassVar[bool] = False
    # A constant map is perfectly robust: the centred Gaussian scores 0, a floor no
    # method can beat, so passing asks only to beat the random map.
    pass_baselines: ClassVar[tuple[str, ...]] = ("random",)
    needs_model: ClassVar[bool] = False
    needs_explainer: ClassVar[bool] = True

    n_samples: int = 10
    radius: float = 0.02
    normalise: bool = True
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {self.n_samples}")
        if not 0 < self.radius <= 1:
            raise ValueError(f"radius must be in (0, 1] of the pixel range, got {self.radius}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def sensitivities(self, images: np.ndarray, maps: np.ndarray,
                      explain_fn: ExplainFn) -> np.ndarray:
        """The ratio of every noisy sample, ``(n, n_samples)``."""
        rng = np.random.default_rng(self.seed)
        images = np.asarray(images, dtype=np.float64)

        def noisy() -> Iterator[np.ndarray]:
            for image in images:
                for _ in range(self.n_samples):
                    noise = rng.uniform(-self.radius, self.radius, image.shape) * 255.0
                    yield np.clip(image + noise, 0.0, 255.0)

        again = apply_batched(explain_fn, noisy(), len(images) * self.n_samples,
                              batch_size=self.batch_size)
        if again.shape[1:] != maps.shape[1:]:
            raise ValueError(f"explain_fn returned maps {again.shape[1:]}, expected "
                             f"{maps.shape[1:]}")
        again = again.reshape(len(images), self.n_samples, *maps.shape[1:])
        if self.normalise:
            maps = normalise_by_max(maps)
            again = normalise_by_max(again.reshape(-1, *maps.shape[1:])).reshape(again.shape)
        num = np.linalg.norm((again - maps[:, None]).reshape(*again.shape[:2], -1), axis=2)
        den = np.linalg.norm(maps.reshape(len(maps), -1), axis=1)[:, None]
        # An all-zero map is only "stable" when its re-explanations are zero too.
        return np.where(num == 0, 0.0, num / np.where(den > 0, den, np.finfo(float).tiny))


@register
@dataclasses.dataclass(frozen=True)
class MaxSensitivity(_Sensitivity):
    """Largest relative change of the map under small uniform input noise (lower is better)."""

    name: ClassVar[str] = "max_sensitivity"
    title: ClassVar[str] = "max-sensitivity"

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return self.sensitivities(images, maps, explain_fn).max(axis=1)


@register
@dataclasses.dataclass(frozen=True)
class AvgSensitivity(_Sensitivity):
    """Mean relative change of the map under small uniform input noise (lower is better)."""

    name: ClassVar[str] = "avg_sensitivity"
    title: ClassVar[str] = "average sensitivity"

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return self.sensitivities(images, maps, explain_fn).mean(axis=1)
