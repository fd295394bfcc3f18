"""Every metric beside two maps that know nothing of the model, and when a method passes.

A score means little alone: a deletion AUC of 0.3 is good only if an uninformed map
does worse. Each metric is therefore also run on

* ``"random"``: uniform noise (:func:`dermviz.explain.reference_maps.random_map`), one
  map per image, seeded by the image's position;
* ``"gaussian"``: the centred Gaussian (:func:`dermviz.explain.reference_maps.centre_prior`),
  which never looks at the image but sits where dermoscopy lesions sit.

For the robustness metrics the baselines are explainers: the random one draws a fresh
map for every image it is given, the Gaussian one always returns the same map.

A method **passes** a metric when, for every baseline in the metric's
:attr:`~dermviz.evaluation.base.Metric.pass_baselines`, the mean per-image improvement
over that baseline (oriented so that positive is better) has a bootstrap confidence
interval over images entirely above 0 (:func:`bootstrap_ci`).

:func:`score_images` gives one row per image and metric, with the baselines' scores beside
the method's; :func:`summarize_scores` turns such rows (of any number of members, methods,
images) into means, intervals and the passing verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.evaluation.base import METRICS, ExplainFn, Metric, ModelFn, check_inputs, get_metric
from dermviz.evaluation.faithfulness import area_under
from dermviz.explain.reference_maps import centre_prior, random_map

BASELINE_MAPS = ("random", "gaussian")


def baseline_maps(name: str, images: np.ndarray, *, seed: int = 0,
                  signed: bool = False) -> np.ndarray:
    """The ``name`` baseline map of every image, float64 ``(n, H, W)``.

    ``signed`` draws the random maps in [-1, 1) (a reference for signed maps such as
    KernelSHAP's); the Gaussian is non-negative either way.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (n, H, W, 3), got shape {images.shape}")
    shape = images.shape[1:3]
    if name == "random":
        return np.stack([random_map(shape, seed + k, signed=signed)
                         for k in range(len(images))]).astype(np.float64)
    if name == "gaussian":
        return np.broadcast_to(centre_prior(shape), images.shape[:3]).copy()
    raise ValueError(f"unknown baseline {name!r}; expected one of {BASELINE_MAPS}")


def baseline_explainer(name: str, *, seed: int = 0, signed: bool = False) -> ExplainFn:
    """An ``explain_fn`` that returns the ``name`` baseline (fresh noise per image for
    ``"random"``), for the robustness metrics."""
    if name not in BASELINE_MAPS:
        raise ValueError(f"unknown baseline {name!r}; expected one of {BASELINE_MAPS}")
    calls = iter(range(seed, 2**62, 1_000_003))

    def explain_fn(images: np.ndarray) -> np.ndarray:
        return baseline_maps(name, images, seed=next(calls), signed=signed)

    return explain_fn


def bootstrap_ci(values: np.ndarray, *, n_bootstrap: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap interval, resampling the values.

    NaNs are left out; with fewer than 2 values the interval is (NaN, NaN).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    if len(v) < 2:
        return float(v.mean()), np.nan, np.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_bootstrap, len(v)))].mean(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(v.mean()), float(low), float(high)


def score_images(
    metrics: Sequence[Metric | str],
    model_fn: ModelFn | None,
    images: np.ndarray,
    maps: np.ndarray,
    *,
    explain_fn: ExplainFn | None = None,
    masks: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    image_ids: Sequence[Any] | None = None,
    signed: bool = False,
    seed: int = 0,
    reference: pd.DataFrame | None = None,
    curves: dict[tuple[str, str], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Every metric on the method's maps and on both baselines, one row per image and metric.

    Parameters
    ----------
    metrics : sequence of Metric or str
        Metric instances, or registered names (built with their defaults).
    model_fn, images, maps, explain_fn, masks, labels
        As for a metric's call (:mod:`dermviz.evaluation.base`).
    image_ids : sequence, optional
        One id per image (default ``0..n-1``).
    signed : bool
        The method's maps are signed (KernelSHAP): the random baseline is drawn in [-1, 1).
    seed : int
        Seed of the random baseline maps and explainer.
    reference : pandas.DataFrame, optional
        The rows of an earlier call on the same images (same ``image_ids``, ``signed`` and
        ``seed``) with every metric of this one: its baseline scores are reused instead of
        recomputed, so a study of several methods scores the baselines once.
    curves : dict, optional
        Filled with the perturbation curves of the metrics that have them (deletion,
        insertion): ``curves[(metric name, source)]``, ``(n, n_steps + 1)``, ``source``
        being ``"method"`` or a baseline (not recomputed, so not filled, with
        ``reference``). The scores are the curves' areas, as the metric's own call gives.

    Returns
    -------
    pandas.DataFrame
        Columns ``image_id``, ``metric``, ``family``, ``higher_is_better``, ``score`` and
        ``score_<baseline>`` for each of :data:`BASELINE_MAPS`. Rows are independent, so a
        study can store them image by image and :func:`summarize_scores` them later.
    """
    images, maps, masks = check_inputs(images, maps, masks)
    ids = list(range(len(images))) if image_ids is None else list(image_ids)
    if len(ids) != len(images):
        raise ValueError(f"{len(ids)} image_ids for {len(images)} images")
    references = {name: baseline_maps(name, images, seed=seed, signed=signed)
                  for name in BASELINE_MAPS} if reference is None else {}
    frames = []
    for metric in metrics:
        metric = get_metric(metric) if isinstance(metric, str) else metric
        kwargs = {"masks": masks, "labels": labels}
        frame = pd.DataFrame({
            "image_id": ids, "metric": metric.name, "family": metric.family,
            "higher_is_better": metric.higher_is_better,
            "score": _score(metric, model_fn, images, maps, explain_fn, kwargs, curves,
                            "method"),
        })
        if reference is not None:
            for name, values in _reused_scores(reference, metric.name, ids).items():
                frame[f"score_{name}"] = values
        for name, ref_maps in references.items():
            base_explain = (baseline_explainer(name, seed=seed + 1, signed=signed)
                            if metric.needs_explainer else None)
            frame[f"score_{name}"] = _score(metric, model_fn, images, ref_maps, base_explain,
                                            kwargs, curves, name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _score(metric: Metric, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray,
           explain_fn: ExplainFn | None, kwargs: dict[str, Any],
           curves: dict[tuple[str, str], np.ndarray] | None, source: str) -> np.ndarray:
    """The metric's scores; for a curve metric with ``curves`` given, its curves kept too."""
    if curves is None or not hasattr(metric, "curves") or not hasattr(metric, "fractions"):
        return metric(model_fn, images, maps, explain_fn=explain_fn, **kwargs)
    if model_fn is None:
        raise ValueError(f"metric {metric.name!r} needs a model_fn")
    curve = metric.curves(model_fn, images, maps, labels=kwargs["labels"])
    curves[(metric.name, source)] = curve
    return area_under(curve, metric.fractions)


def _reused_scores(reference: pd.DataFrame, metric: str,
                   ids: Sequence[Any]) -> dict[str, np.ndarray]:
    """The baseline scores of ``metric`` in ``reference``, in the order of ``ids``."""
    rows = reference[reference["metric"] == metric]
    if list(rows["image_id"]) != list(ids):
        raise ValueError(f"reference has no rows of metric {metric!r} for these image_ids")
    return {name: rows[f"score_{name}"].to_numpy() for name in BASELINE_MAPS}


def summarize_scores(frame: pd.DataFrame, *, by: Sequence[str] = (), n_bootstrap: int = 2000,
                     level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per metric (and ``by`` columns, e.g. member and method): means, intervals, passing.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of :func:`score_images`, possibly concatenated with extra ``by`` columns.
    by : sequence of str
        Columns to group by besides ``metric``.
    n_bootstrap, level, seed
        The bootstrap over images (:func:`bootstrap_ci`).

    Returns
    -------
    pandas.DataFrame
        One row per group: ``family``, ``higher_is_better``, ``images``, ``score`` with
        ``score_low``/``score_high``, ``score_<baseline>`` means, ``gain_vs_<baseline>``
        with ``_low``/``_high`` (the mean per-image improvement over the baseline,
        positive = better) and ``passes``: every gain in the metric's
        :attr:`~dermviz.evaluation.base.Metric.pass_baselines` has its interval above 0.
    """
    missing = {"metric", "higher_is_better", "score", *by} - set(frame.columns)
    missing |= {f"score_{b}" for b in BASELINE_MAPS} - set(frame.columns)
    if missing:
        raise ValueError(f"frame lacks the column(s) {sorted(missing)}")
    rows = []
    for key, group in frame.groupby([*by, "metric"], sort=False):
        key = key if isinstance(key, tuple) else (key,)
        name = key[-1]
        higher = bool(group["higher_is_better"].iloc[0])
        sign = 1.0 if higher else -1.0
        mean, low, high = bootstrap_ci(group["score"], n_bootstrap=n_bootstrap, level=level,
                                       seed=seed)
        row: dict[str, Any] = {**dict(zip([*by, "metric"], key, strict=True)),
                               "family": METRICS[name].family if name in METRICS else None,
                               "higher_is_better": higher, "images": len(group),
                               "score": mean, "score_low": low, "score_high": high}
        for b in BASELINE_MAPS:
            row[f"score_{b}"] = float(group[f"score_{b}"].mean())
        for b in BASELINE_MAPS:
            gain = sign * (group["score"].to_numpy() - group[f"score_{b}"].to_numpy())
            (row[f"gain_vs_{b}"], row[f"gain_vs_{b}_low"],
             row[f"gain_vs_{b}_high"]) = bootstrap_ci(gain, n_bootstrap=n_bootstrap,
                                                      level=level, seed=seed)
        needed = METRICS[name].pass_baselines if name in METRICS else BASELINE_MAPS
        row["passes"] = all(row[f"gain_vs_{b}_low"] > 0 for b in needed)
        rows.append(row)
    return pd.DataFrame(rows)
