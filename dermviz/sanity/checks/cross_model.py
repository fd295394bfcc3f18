"""The cross-model check (docs/protocol.md §10.3): members of similar accuracy, same images.

A reference member's maps against the others' (the paper: seed 5 against 8 and
11). Registered as ``"cross_model"``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from dermviz.sanity.base import (
    DEFAULT_SIMILARITIES,
    Loaders,
    MethodSpec,
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

__all__ = ["CrossModelSpec", "run_cross_model"]


@dataclass(frozen=True, eq=False, kw_only=True)
class CrossModelSpec(MethodSpec):
    """A cross-model check: the same images explained by several members.

    Every field of :class:`~dermviz.sanity.base.MethodSpec` (``image_ids``,
    ``method``, ``seed``; a seeded method gets one seed per member from
    ``method_params``, see
    :func:`~dermviz.sanity.checks.comparison.explainer_seeds`), plus:

    Attributes
    ----------
    member_ids : tuple of str
        The members compared (at least two).
    reference : str, optional
        Compare this member with each other one; default: all pairs.
    thresholds : dict of str to float
        Operating threshold per member (missing: 0.5).
    similarities : tuple of str
    """

    kind: ClassVar[str] = "cross_model"

    member_ids: tuple[str, ...]
    reference: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    similarities: tuple[str, ...] = DEFAULT_SIMILARITIES

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        members = tuple(str(m) for m in self.member_ids)
        if len(members) < 2 or len(set(members)) != len(members):
            raise ValueError(f"cross-model needs at least two distinct members, got {members}")
        set_(self, "member_ids", members)
        super().__post_init__()
        set_(self, "similarities", normalise_similarities(self.similarities))
        set_(self, "thresholds", {str(k): float(v) for k, v in self.thresholds.items()})
        if self.reference is not None and self.reference not in members:
            raise ValueError(f"reference {self.reference!r} is not among {list(members)}")

    @property
    def members(self) -> tuple[str, ...]:
        return self.member_ids

    def explainer_seeds(self) -> list[int] | None:
        """The explainer seed of each member (None: the method takes no seed)."""
        return explainer_seeds(self.method_params, len(self.member_ids))

    def describe(self) -> str:
        detail = " vs ".join(self.member_ids)
        return detail + self.sampling_detail()


def run_cross_model(
    models: Mapping[str, Any],
    images: np.ndarray,
    image_ids: Sequence[str],
    *,
    make_explainer: ExplainerFactory,
    reference: str | None = None,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
    target_class: int | np.ndarray | None = None,
    thresholds: float | Mapping[str, float] = 0.5,
    seed: int = 0,
    progress: Progress = True,
) -> ComparisonResult:
    """Pairwise similarity of the same images' maps across members.

    Parameters
    ----------
    models : mapping of str to keras.Model or zero-argument loader
        Member id -> model, or -> a callable returning it: loaders are called
        one at a time and the model dropped after explaining, so only one member
        is in memory.
    images : ndarray, (n, H, W, 3)
    image_ids : sequence of str
    make_explainer : callable
        ``make_explainer(model) -> Explainer``.
    reference : str, optional
        Compare this member with each other one; default: all pairs.
    similarities : sequence of str
    target_class : int or ndarray, optional
        Default: each member explains its own predicted class (as the paper).
    thresholds : float or mapping of str to float
        Operating threshold(s), per member if a mapping.
    seed : int
        Seeds the random baseline.
    progress : bool or callable
        One tick per member.

    Returns
    -------
    ComparisonResult
        ``kind="cross_model"``; maps keyed by member id.
    """
    import keras  # only to tell a model from a loader; the module stays light

    names = list(models)
    if len(names) < 2:
        raise ValueError("cross-model comparison needs at least two models")
    if reference is not None and reference not in models:
        raise ValueError(f"reference {reference!r} is not among {names}")
    ids = check_ids(image_ids, len(images))
    images_u8 = as_uint8(images)
    results, signed = explain_sources(
        names,
        lambda name: models[name] if isinstance(models[name], keras.Model) else models[name](),
        make_explainer, images, target_class=target_class, thresholds=thresholds,
        progress=progress, desc="cross-model",
    )
    if reference is None:
        pairs = list(itertools.combinations(names, 2))
    else:
        pairs = [(reference, n) for n in names if n != reference]
    return compare(
        kind="cross_model",
        runs=results,
        pairs=pairs,
        images_u8=images_u8,
        ids=ids,
        signed=signed,
        similarities=similarities,
        seed=seed,
        params={
            "members": names,
            "reference": reference,
            "seed": seed,
            "thresholds": (
                dict(thresholds) if isinstance(thresholds, Mapping) else float(thresholds)
            ),
            "similarities": list(similarities),
        },
    )


def _compute(spec: CrossModelSpec, loaders: Loaders, *, progress: Progress):
    ids = list(spec.image_ids)
    result = run_cross_model(
        {m: (lambda m=m: loaders.model(m)) for m in spec.member_ids},
        loaders.images(ids), ids,
        make_explainer=explainer_factory(
            spec.method, spec.method_params, seeds=spec.explainer_seeds()
        ),
        reference=spec.reference, similarities=spec.similarities,
        thresholds=spec.thresholds, seed=spec.seed, progress=progress,
    )
    result.spec = spec
    return result


register_check(CrossModelSpec, compute=_compute, result_type=ComparisonResult)
