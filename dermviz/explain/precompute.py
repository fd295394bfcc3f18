"""Compute saliency maps for a suite and cache them in its store.

Maps already in the store are never recomputed; each batch is written as soon
as it is done, so an interrupted run loses at most one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from dermviz.explain.base import Explainer, SaliencyMaps, get_explainer
from dermviz.models.suite import Suite


def default_params(suite: Suite, method: str, **overrides: Any) -> dict[str, Any]:
    """The full parameter set of ``method`` for this suite (the store key).

    GradCAM's target layer defaults to the suite's configured layer.
    """
    given: dict[str, Any] = {}
    if method == "gradcam":
        given["layer"] = suite.config.get("gradcam_layer", "mixed10")
    given.update(overrides)
    return get_explainer(method).canonical_params(**given)


def make_explainer(model: Any, method: str, params: dict[str, Any]) -> Explainer:
    """Instantiate a registered method on a model."""
    return get_explainer(method)(model, **params)


def explain_suite(
    suite: Suite,
    *,
    method: str = "gradcam",
    params: dict[str, Any] | None = None,
    members: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, int]:
    """Fill the suite's map store for ``members`` x ``image_ids``.

    Parameters
    ----------
    suite : Suite
    method : str
        A registered method name.
    params : dict, optional
        Method parameters; default :func:`default_params`.
    members : list of str, optional
        Default: every member.
    image_ids : list of str, optional
        Default: the whole hold-out.
    batch_size : int
        Images per explainer call (and per store write).

    Returns
    -------
    dict
        ``{"computed": n, "cached": n}``.
    """
    params = default_params(suite, method, **(params or {}))
    members = list(members) if members is not None else suite.member_ids
    dataset = suite.dataset()
    ids = list(image_ids) if image_ids is not None else dataset.holdout["image_id"].tolist()
    computed = cached = 0
    for mid in tqdm(members, desc=f"{method} members", unit="member", disable=not progress):
        todo = [i for i in ids if suite.maps.get(mid, i, method, params) is None]
        cached += len(ids) - len(todo)
        if not todo:
            continue
        explainer = make_explainer(suite.load_model(mid), method, params)
        threshold = suite.threshold(mid)
        bar = tqdm(total=len(todo), desc=f"{mid}", unit="img", leave=False, disable=not progress)
        for chunk, images in dataset.iter_batches(todo, size=suite.image_size,
                                                  batch_size=batch_size):
            maps = explainer.explain(images, threshold=threshold)
            suite.maps.put(mid, chunk, maps)
            computed += len(chunk)
            bar.update(len(chunk))
        bar.close()
    return {"computed": computed, "cached": cached}


def load_or_compute(
    suite: Suite,
    member: str,
    image_id: str,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    model: Any = None,
    dataset: Any = None,
) -> SaliencyMaps:
    """One image's map from the store, computing and storing it on a miss."""
    params = default_params(suite, method, **(params or {}))
    hit = suite.maps.get(member, image_id, method, params)
    if hit is not None:
        return hit
    model = model if model is not None else suite.load_model(member)
    dataset = dataset if dataset is not None else suite.dataset()
    image = dataset.load_images([image_id], size=suite.image_size)
    maps = make_explainer(model, method, params).explain(image, threshold=suite.threshold(member))
    suite.maps.put(member, [image_id], maps)
    return maps
