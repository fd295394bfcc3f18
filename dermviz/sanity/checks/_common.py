"""What the single-member map checks (randomization, sMPRT, eMPRT) share: checking
their inputs, the compute function the runner calls, and saving their maps,
baselines and timings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dermviz.sanity.base import Loaders, Progress
from dermviz.sanity.scoring import ExplainerFactory, as_uint8, check_ids, explainer_factory

__all__ = ["maps_from_saved", "maps_to_saved", "member_compute", "prepare_inputs"]


def prepare_inputs(
    images: np.ndarray,
    image_ids: Sequence[str],
    spec: Any,
    make_explainer: ExplainerFactory | None,
) -> tuple[list[str], np.ndarray, ExplainerFactory]:
    """``(ids, images as uint8, factory)`` of a run: ``make_explainer``, or by default
    the registered ``spec.method`` with ``spec.method_params``.

    Raises ValueError when the ids do not fit the images, or differ from the
    spec's when it lists images.
    """
    ids = check_ids(image_ids, len(images))
    if spec.image_ids and tuple(ids) != spec.image_ids:
        raise ValueError("image_ids differ from spec.image_ids")
    images_u8 = as_uint8(images)
    return ids, images_u8, make_explainer or explainer_factory(spec.method, spec.method_params)


def member_compute(run: Callable[..., Any]) -> Callable[..., Any]:
    """The compute function of a check whose spec names one member and its images:
    ``run(model, images, image_ids, spec, progress=...)`` on what the loaders give."""

    def compute(spec: Any, loaders: Loaders, *, progress: Progress) -> Any:
        if not spec.image_ids:
            raise ValueError("the spec lists no images")
        ids = list(spec.image_ids)
        return run(loaders.model(spec.member_id), loaders.images(ids), ids, spec,
                   progress=progress)

    return compute


def maps_to_saved(
    result: Any, meta: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``to_saved()`` of a result with ``maps``, ``baselines`` and ``timings``:
    ``meta`` plus the timings, and the arrays (baselines as ``baseline__<name>``)."""
    arrays = {"maps": result.maps, **{f"baseline__{k}": v for k, v in result.baselines.items()}}
    return {**meta, "timings": result.timings}, arrays


def maps_from_saved(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The ``maps``, ``baselines`` and ``timings`` fields from what
    :func:`maps_to_saved` wrote."""
    return {
        "maps": arrays["maps"],
        "baselines": {
            k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("baseline__")
        },
        "timings": dict(meta.get("timings", {})),
    }
