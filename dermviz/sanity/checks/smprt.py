"""Smooth model-parameter randomization (sMPRT, Hedstroem et al. [1]_).

The classic test compares single explanations, and a noisy method (gradients,
sampled attributions) can look "randomized" when it is only noisy. sMPRT denoises
every explanation before comparing: it is the mean of the explanations of
``n_noisy`` copies of the image, the last one noise-free and the others with
Gaussian noise of standard deviation ``noise_level * (max - min)`` of the image
(as Quantus' ``SmoothMPRT`` [2]_). The randomization itself, the scores and the
baselines are the classic test's (:mod:`dermviz.sanity.checks.randomization`);
the default order is bottom-up, as the paper recommends. Registered as
``"smprt"``; higher similarity = the randomized model's map is closer to the
trained one's, so lower is better for the method.

References
----------
.. [1] Hedstroem, Weber, Lapuschkin and Hoehne, "Sanity Checks Revisited: An
   Exploration to Repair the Model Parameter Randomisation Test", XAI in Action
   workshop, NeurIPS 2023, arXiv:2401.06465.
.. [2] Quantus, ``quantus.metrics.randomisation.smooth_mprt.SmoothMPRT``,
   https://github.com/understandable-machine-intelligence-lab/Quantus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from dermviz.sanity.base import Progress, register_check
from dermviz.sanity.checks._common import member_compute
from dermviz.sanity.checks.randomization import (
    RandomizationResult,
    RandomizationSpec,
    run_randomization_study,
)
from dermviz.sanity.scoring import ExplainerFactory, explainer_factory

__all__ = [
    "SMPRT_SIMILARITIES",
    "SmoothedExplainer",
    "SmoothRandomizationSpec",
    "run_smooth_randomization",
    "smoothed_factory",
]

#: sMPRT's default measures: the paper's Spearman, with and without |.|, and SSIM
#: (the overlay SSIMs belong to the classic paper's design).
SMPRT_SIMILARITIES: tuple[str, ...] = ("ssim", "spearman", "spearman_abs")


class SmoothedExplainer:
    """An explainer whose maps are averaged over noisy copies of the images.

    Parameters
    ----------
    explainer : Explainer
        The method explained with (any object with ``explain`` and ``signed``).
    n_noisy : int
        Explanations averaged per image, the noise-free one included (1: no
        smoothing).
    noise_level : float
        Noise standard deviation as a fraction of each image's value range.
    seed : int
        Seeds the noise. Every explainer built with the same seed draws the same
        noise, so the trained and the randomized models explain the same copies
        and a model change is the only difference between their maps.
    """

    def __init__(self, explainer: Any, *, n_noisy: int, noise_level: float, seed: int) -> None:
        _check_smoothing(n_noisy, noise_level)
        self.explainer = explainer
        self.signed = bool(getattr(explainer, "signed", False))
        self.n_noisy = int(n_noisy)
        self.noise_level = float(noise_level)
        self.seed = int(seed)

    def explain(
        self,
        images: np.ndarray,
        *,
        target_class: int | np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> Any:
        """The mean map over the noisy copies (a :class:`~dermviz.explain.maps.SaliencyMaps`).

        The noise-free copy decides the explained class (unless ``target_class``
        is given) and gives ``p_melanoma`` and the extras; the noisy copies
        explain that same class. Noisy images are clipped to [0, 255].
        """
        images = np.asarray(images, dtype=np.float32)
        clean = self.explainer.explain(images, target_class=target_class, threshold=threshold)
        total = clean.maps.astype(np.float64)
        rng = np.random.default_rng(self.seed)
        axes = tuple(range(1, images.ndim))
        sd = self.noise_level * (images.max(axis=axes, keepdims=True)
                                 - images.min(axis=axes, keepdims=True))
        for _ in range(self.n_noisy - 1):
            noisy = np.clip(images + rng.standard_normal(images.shape, dtype=np.float32) * sd,
                            0, 255)
            total += self.explainer.explain(
                noisy, target_class=clean.target_class, threshold=threshold
            ).maps
        params = {**clean.params, "n_noisy": self.n_noisy, "noise_level": self.noise_level}
        return replace(clean, maps=(total / self.n_noisy).astype(np.float32), params=params)


def _check_smoothing(n_noisy: int, noise_level: float) -> None:
    if isinstance(n_noisy, bool) or int(n_noisy) != n_noisy or n_noisy < 1:
        raise ValueError(f"n_noisy must be an integer >= 1, got {n_noisy!r}")
    if not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise_level must be a finite number >= 0, got {noise_level!r}")


def smoothed_factory(
    factory: ExplainerFactory, *, n_noisy: int, noise_level: float, seed: int
) -> ExplainerFactory:
    """``make_explainer(model) -> SmoothedExplainer`` around ``factory``'s explainers."""
    _check_smoothing(n_noisy, noise_level)
    return lambda model: SmoothedExplainer(
        factory(model), n_noisy=n_noisy, noise_level=noise_level, seed=seed
    )


@dataclass(frozen=True, eq=False, kw_only=True)
class SmoothRandomizationSpec(RandomizationSpec):
    """An sMPRT study: a randomization study whose maps are denoised.

    Every field of :class:`~dermviz.sanity.checks.randomization.RandomizationSpec`
    (with bottom-up order and :data:`SMPRT_SIMILARITIES` by default), plus:

    Attributes
    ----------
    n_noisy : int
        Explanations averaged per map, the noise-free one included (the paper's
        and Quantus' default is 50).
    noise_level : float
        Noise standard deviation as a fraction of the image's value range
        (default 0.1). ``seed`` also seeds the noise.
    """

    kind: ClassVar[str] = "smprt"

    order: str = "bottom_up"
    similarities: tuple[str, ...] = SMPRT_SIMILARITIES
    n_noisy: int = 50
    noise_level: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_smoothing(self.n_noisy, self.noise_level)
        object.__setattr__(self, "n_noisy", int(self.n_noisy))
        object.__setattr__(self, "noise_level", float(self.noise_level))

    def describe(self) -> str:
        return f"sMPRT, {super().describe()}, {self.n_noisy} copies at noise {self.noise_level:g}"


def run_smooth_randomization(
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    spec: SmoothRandomizationSpec,
    *,
    make_explainer: ExplainerFactory | None = None,
    layers: Sequence[Any] | None = None,
    progress: Progress = True,
) -> RandomizationResult:
    """The sMPRT study: :func:`~dermviz.sanity.checks.randomization.run_randomization_study`
    with every explainer wrapped in a :class:`SmoothedExplainer`.

    Parameters
    ----------
    model, images, image_ids, layers, progress
        As for :func:`~dermviz.sanity.checks.randomization.run_randomization_study`.
    spec : SmoothRandomizationSpec
    make_explainer : callable, optional
        ``make_explainer(model) -> Explainer``, the method before smoothing
        (default: the registered ``spec.method`` with ``spec.method_params``).

    Returns
    -------
    RandomizationResult
        ``kind == "smprt"``: the smoothed maps per stage, their similarity to the
        trained model's smoothed map, and the baselines scored against it.
    """
    base = make_explainer or explainer_factory(spec.method, spec.method_params)
    smooth = smoothed_factory(
        base, n_noisy=spec.n_noisy, noise_level=spec.noise_level, seed=spec.seed
    )
    return run_randomization_study(
        model, images, image_ids, spec, make_explainer=smooth, layers=layers, progress=progress
    )


register_check(
    SmoothRandomizationSpec,
    compute=member_compute(run_smooth_randomization),
    result_type=RandomizationResult,
)
