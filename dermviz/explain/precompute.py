"""Compute saliency maps for a suite and cache them in its store.

Maps already in the store are never recomputed; each work item (a member and a
chunk of image ids) is written as soon as it is done, so an interrupted run
loses at most the items in flight. Work runs in this process, in a process pool
or on Ray (:mod:`dermviz.explain.parallel`). Every function here takes its
method knowledge (defaults, chunking) from the method's registered class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from dermviz.explain import parallel
from dermviz.explain.base import get_explainer, make_explainer
from dermviz.explain.cache import MapCache
from dermviz.explain.maps import SaliencyMaps
from dermviz.models.suite import Suite
from dermviz.store.status import report


def default_params(suite: Suite, method: str, **overrides: Any) -> dict[str, Any]:
    """The full parameter set of ``method`` for this suite (the store key).

    The method's class supplies its defaults (:meth:`Explainer.suite_defaults`,
    e.g. GradCAM's layer from the suite's configuration); ``overrides`` win.

    Raises
    ------
    KeyError
        Unknown method.
    TypeError, ValueError
        Unknown or invalid parameters.
    """
    cls = get_explainer(method)
    return cls.canonical_params(**{**cls.suite_defaults(suite), **overrides})


def images_per_task(method: str, batch_size: int) -> int:
    """Default image ids per work item: the method's own, else ``batch_size``."""
    return get_explainer(method).images_per_task or batch_size


#: Where :func:`explain_suite` can run its work items.
BACKENDS = ("local", "ray")


def explain_suite(
    suite: Suite,
    *,
    method: str = "gradcam",
    params: dict[str, Any] | None = None,
    members: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    batch_size: int = 32,
    progress: bool = True,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    chunk_size: int | None = None,
    keep_models: bool = False,
) -> dict[str, int]:
    """Fill the suite's map store for ``members`` x ``image_ids``.

    Resumable: maps already in the store are skipped, and every work item
    (a member and a chunk of image ids) is written to the store as soon as it
    is done, so an interrupted run loses at most the items in flight.

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
    progress : bool
        Show a progress bar over images, with ETA (tqdm, on stderr).
    workers : int
        1: compute in this process. More: that many worker processes
        (``backend="local"``: a spawn-context process pool; each loads a member's
        model once and gets ``cores // workers`` TensorFlow threads), or that many
        Ray CPUs when Ray is started locally.
    backend : {"local", "ray"}
        ``"ray"`` runs the same work items as Ray tasks; needs
        ``pip install "ray[default]"``.
    ray_address : str, optional
        Ray cluster to connect to (``backend="ray"`` only); default: start Ray here.
    chunk_size : int, optional
        Image ids per work item; default :func:`images_per_task`.
    keep_models : bool
        ``workers=1`` only: take the members' models from ``suite`` itself
        (:meth:`Suite.model`), which keeps them loaded for what the caller does next with
        the same object (the demo's build goes on to its pages). Default: each is loaded
        for the run and dropped when the next member starts.

    Returns
    -------
    dict
        ``{"computed": n, "cached": n}``.

    Raises
    ------
    ValueError
        Bad ``workers``, ``backend``, ``chunk_size`` or parameters.
    KeyError
        Unknown member or image id.
    dermviz.explain.parallel.MissingDependencyError
        ``backend="ray"`` without Ray installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {list(BACKENDS)}")
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    if ray_address and backend != "ray":
        raise ValueError("ray_address is only used with backend='ray'")
    if keep_models and (workers > 1 or backend == "ray"):
        raise ValueError("keep_models needs a serial run (workers=1, backend='local'): "
                         "models loaded in worker processes cannot be kept on the suite")
    if backend == "ray":
        parallel.import_ray()  # fail before any work
    params = default_params(suite, method, **(params or {}))
    members = list(members) if members is not None else suite.member_ids
    for mid in members:
        suite.member(mid)  # KeyError naming the known members
    dataset = suite.dataset()
    ids = list(image_ids) if image_ids is not None else dataset.holdout["image_id"].tolist()
    dataset.rows(ids)  # KeyError naming unknown ids
    cache = MapCache.of(suite)
    todo = {mid: [i for i in ids if cache.get(mid, i, method, params) is None]
            for mid in members}
    n_todo = sum(len(v) for v in todo.values())
    cached = len(ids) * len(members) - n_todo
    chunk = chunk_size if chunk_size is not None else images_per_task(method, batch_size)
    threads = parallel.thread_split(workers) if (workers > 1 or backend == "ray") else None
    tasks = parallel.make_tasks(
        suite, {m: v for m, v in todo.items() if v}, method=method, params=params,
        chunk_size=chunk, batch_size=batch_size, threads=threads,
    )
    if backend == "ray":
        results = parallel.run_ray(tasks, workers, address=ray_address)
    elif workers > 1:
        results = parallel.run_local_pool(tasks, workers)
    else:
        worker = parallel.WorkerCache(max_models=1, suite_models=keep_models)
        worker.add_dataset(suite, dataset)
        results = parallel.run_serial(tasks, worker)
    computed = 0
    with tqdm(total=n_todo, desc=method, unit="img", disable=not progress or not n_todo,
              dynamic_ncols=True) as bar:
        if cached:
            bar.set_postfix_str(f"{cached} cached")
        report(force=True, phase="explain", detail=f"computing {n_todo} {method} maps",
               explain_fraction=0.0)
        for res in results:
            computed += res.n_images
            bar.update(res.n_images)
            report(explain_fraction=computed / max(n_todo, 1))
    return {"computed": computed, "cached": cached}


def cached_maps(
    suite: Suite,
    members: Sequence[str],
    image_id: str,
    *,
    method: str,
    params: dict[str, Any] | None = None,
) -> dict[str, SaliencyMaps | None]:
    """One image's stored maps for several members; None where not computed yet.

    Never computes anything: what a page shows before the user asks for more.
    """
    params = default_params(suite, method, **(params or {}))
    cache = MapCache.of(suite)
    return {m: cache.get(m, image_id, method, params) for m in members}


def load_or_compute_batch(
    suite: Suite,
    member: str,
    image_ids: Sequence[str],
    *,
    method: str,
    params: dict[str, Any] | None = None,
    model: Any = None,
    dataset: Any = None,
    batch_size: int = 32,
) -> SaliencyMaps:
    """Maps of several images, in order: read from the store, the missing ones computed
    (in batches) and stored first, so a second call computes nothing.

    ``model`` is only loaded (by default) when something is missing.
    """
    if not image_ids:
        raise ValueError("no image ids given")
    params = default_params(suite, method, **(params or {}))
    cache = MapCache.of(suite)
    found = cache.get_many(member, list(image_ids), method, params)
    missing = [i for i in dict.fromkeys(image_ids) if i not in found]
    if missing:
        model = model if model is not None else suite.load_model(member)
        dataset = dataset if dataset is not None else suite.dataset()
        explainer = make_explainer(model, method, params)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            images = dataset.load_images(chunk, size=suite.image_size)
            maps = explainer.explain(images, threshold=suite.threshold(member))
            cache.put(member, chunk, maps)
            found.update({i: maps.item(k) for k, i in enumerate(chunk)})
    return SaliencyMaps.concat([found[i] for i in image_ids])


def load_or_compute(
    suite: Suite,
    member: str,
    image_id: str,
    *,
    method: str,
    params: dict[str, Any] | None = None,
    model: Any = None,
    model_loader: Any = None,
    dataset: Any = None,
) -> SaliencyMaps:
    """One image's map from the store, computing and storing it on a miss.

    ``model`` (or ``model_loader``, a zero-argument callable, for callers that cache
    models themselves) is only used on a miss; by default the member is loaded.
    """
    params = default_params(suite, method, **(params or {}))
    cache = MapCache.of(suite)
    hit = cache.get(member, image_id, method, params)
    if hit is not None:
        return hit
    if model is None:
        model = model_loader() if model_loader is not None else suite.load_model(member)
    dataset = dataset if dataset is not None else suite.dataset()
    image = dataset.load_images([image_id], size=suite.image_size)
    maps = make_explainer(model, method, params).explain(image, threshold=suite.threshold(member))
    cache.put(member, [image_id], maps)
    return maps
