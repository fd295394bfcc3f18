"""The reproducibility check (docs/protocol.md §10.1): the same member explained twice.

The method's own run-to-run noise: GradCAM should give identical maps; a
sampling method (KernelSHAP) varies with its seed. Registered as
``"reproducibility"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dermviz.sanity.base import (
    DEFAULT_SIMILARITIES,
    Loaders,
    Progress,
    SanitySpec,
    normalise_ids,
    normalise_params,
    normalise_similarities,
    register_check,
)
from dermviz.sanity.checks.comparison import ComparisonResult, compare, explainer_seeds
from dermviz.sanity.scoring import (
    ExplainerFactory,
    Ticker,
    as_uint8,
    check_ids,
    explain,
    explainer_factory,
)

__all__ = ["ReproducibilitySpec", "run_reproducibility"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ReproducibilitySpec(SanitySpec):
    """A reproducibility check: one member, ``runs`` explanations of the same images.

    Attributes
    ----------
    member_id : str
    image_ids : tuple of str
    method : str
        Registry name of the saliency method.
    method_params : dict
        Explainer parameters. A seeded method gets one seed per run
        (:func:`~dermviz.sanity.checks.comparison.explainer_seeds`).
    runs : int
        Number of runs (>= 2); all pairs are compared.
    similarities : tuple of str
    threshold : float
        The member's operating threshold.
    seed : int
        Seeds the random baseline map.
    """

    kind: ClassVar[str] = "reproducibility"

    member_id: str
    image_ids: tuple[str, ...]
    method: str = "gradcam"
    method_params: dict[str, Any] = field(default_factory=dict)
    runs: int = 2
    similarities: tuple[str, ...] = DEFAULT_SIMILARITIES
    threshold: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "member_id", str(self.member_id))
        set_(self, "image_ids", normalise_ids(self.image_ids))
        set_(self, "similarities", normalise_similarities(self.similarities))
        set_(self, "method_params", normalise_params(self.method_params))
        set_(self, "seed", int(self.seed))
        set_(self, "threshold", float(self.threshold))
        if int(self.runs) < 2:
            raise ValueError(f"runs must be >= 2, got {self.runs}")
        set_(self, "runs", int(self.runs))

    @property
    def members(self) -> tuple[str, ...]:
        return (self.member_id,)

    def explainer_seeds(self) -> list[int] | None:
        """The explainer seed of each run (None: the method takes no seed)."""
        return explainer_seeds(self.method_params, self.runs)

    def describe(self) -> str:
        detail = f"{self.member_id} x {self.runs}"
        if "nsamples" in self.method_params:
            detail += f", nsamples {self.method_params['nsamples']}"
        return detail


def run_reproducibility(
    make_explainer: ExplainerFactory,
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    *,
    runs: int = 2,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
    target_class: int | np.ndarray | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    progress: Progress = True,
) -> ComparisonResult:
    """Explain the same images with the same member several times and compare.

    ``make_explainer`` is called once per run, so a factory that seeds each
    explainer differently measures the sampling noise.

    Parameters
    ----------
    make_explainer : callable
        ``make_explainer(model) -> Explainer``.
    model : keras.Model
    images : ndarray, (n, H, W, 3)
    image_ids : sequence of str
    runs : int
        Number of runs (>= 2); all pairs are compared.
    similarities : sequence of str
        :data:`~dermviz.sanity.similarity.SIMILARITIES` names.
    target_class : int or ndarray, optional
        Default: the predicted class.
    threshold : float
        The member's operating threshold.
    seed : int
        Seeds the random baseline.
    progress : bool or callable
        One tick per run.

    Returns
    -------
    ComparisonResult
        ``kind="reproducibility"``; maps under ``"run1"``, ``"run2"``, ...
    """
    if runs < 2:
        raise ValueError(f"runs must be >= 2, got {runs}")
    ids = check_ids(image_ids, len(images))
    images_u8 = as_uint8(images)
    ticker = Ticker(progress, runs, "reproducibility")
    results: dict[str, Any] = {}
    signed = False
    try:
        for r in range(1, runs + 1):
            results[f"run{r}"], signed = explain(
                make_explainer, model, images, target_class=target_class, threshold=threshold
            )
            ticker(f"run{r}")
    finally:
        ticker.close()
    return compare(
        kind="reproducibility",
        maps={k: sm.maps.astype(np.float32) for k, sm in results.items()},
        runs=results,
        pairs=list(itertools.combinations(results, 2)),
        images_u8=images_u8,
        ids=ids,
        signed=signed,
        similarities=similarities,
        seed=seed,
        params={
            "runs": runs,
            "threshold": threshold,
            "seed": seed,
            "similarities": list(similarities),
        },
    )


def _compute(spec: ReproducibilitySpec, loaders: Loaders, *, progress: Progress):
    ids = list(spec.image_ids)
    result = run_reproducibility(
        explainer_factory(spec.method, spec.method_params, seeds=spec.explainer_seeds()),
        loaders.model(spec.member_id), loaders.images(ids), ids,
        runs=spec.runs, similarities=spec.similarities, threshold=spec.threshold,
        seed=spec.seed, progress=progress,
    )
    result.spec = spec
    return result


register_check(ReproducibilitySpec, compute=_compute, result_type=ComparisonResult)
