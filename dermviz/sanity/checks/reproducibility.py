"""The reproducibility check (docs/protocol.md §10.1): the same member explained twice.

The method's own run-to-run noise: GradCAM should give identical maps; a
sampling method (KernelSHAP) varies with its seed. Registered as
``"reproducibility"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from dermviz.sanity.base import (
    DEFAULT_SIMILARITIES,
    Loaders,
    MemberSpec,
    Progress,
    normalise_similarities,
    register_check,
)
from dermviz.sanity.checks.comparison import (
    ComparisonResult,
    compare,
    explain_sources,
    explainer_seeds,
)
from dermviz.sanity.scoring import ExplainerFactory, as_uint8, check_ids, explainer_factory

__all__ = ["ReproducibilitySpec", "run_reproducibility"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ReproducibilitySpec(MemberSpec):
    """A reproducibility check: one member, ``runs`` explanations of the same images.

    Every field of :class:`~dermviz.sanity.base.MemberSpec` (``member_id``,
    ``image_ids``, ``method``, ``threshold``, ``seed``; a seeded method gets one
    seed per run from ``method_params``, see
    :func:`~dermviz.sanity.checks.comparison.explainer_seeds`), plus:

    Attributes
    ----------
    runs : int
        Number of runs (>= 2); all pairs are compared.
    similarities : tuple of str
    """

    kind: ClassVar[str] = "reproducibility"

    runs: int = 2
    similarities: tuple[str, ...] = DEFAULT_SIMILARITIES

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "similarities", normalise_similarities(self.similarities))
        if int(self.runs) < 2:
            raise ValueError(f"runs must be >= 2, got {self.runs}")
        object.__setattr__(self, "runs", int(self.runs))

    def explainer_seeds(self) -> list[int] | None:
        """The explainer seed of each run (None: the method takes no seed)."""
        return explainer_seeds(self.method_params, self.runs)

    def describe(self) -> str:
        detail = f"{self.member_id} x {self.runs}"
        return detail + self.sampling_detail()


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
    results, signed = explain_sources(
        [f"run{r}" for r in range(1, runs + 1)], lambda _: model, make_explainer, images,
        target_class=target_class, thresholds=threshold, progress=progress,
        desc="reproducibility",
    )
    return compare(
        kind="reproducibility",
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
