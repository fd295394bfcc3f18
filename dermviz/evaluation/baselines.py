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
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from dermviz.evaluation.base import ExplainFn, Metric, ModelFn, check_inputs
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


@dataclasses.dataclass(frozen=True)
class BaselineComparison:
    """A metric's scores for a method and for the baselines, and whether the method passes.

    ``improvement`` holds, per baseline, ``(mean, ci_low, ci_high)`` of the per-image
    improvement over it, positive = the method is better.
    """

    metric: dict[str, Any]
    higher_is_better: bool
    scores: np.ndarray
    baselines: dict[str, np.ndarray]
    improvement: dict[str, tuple[float, float, float]]
    pass_baselines: tuple[str, ...]
    passes: bool

    def table(self) -> pd.DataFrame:
        """One row per map (the method, then each baseline): mean score, its CI, and the
        improvement over each baseline with its CI (NaN on the baselines' rows)."""
        rows = []
        for name, scores in {"method": self.scores, **self.baselines}.items():
            mean, low, high = bootstrap_ci(scores)
            rows.append({"map": name, "mean": mean, "ci_low": low, "ci_high": high})
        frame = pd.DataFrame(rows)
        for name, (mean, low, high) in self.improvement.items():
            frame.loc[0, [f"gain_vs_{name}", f"gain_vs_{name}_low",
                          f"gain_vs_{name}_high"]] = (mean, low, high)
        frame["passes"] = [self.passes] + [np.nan] * len(self.baselines)
        return frame


def compare_to_baselines(
    metric: Metric,
    model_fn: ModelFn | None,
    images: np.ndarray,
    maps: np.ndarray,
    *,
    masks: np.ndarray | None = None,
    explain_fn: ExplainFn | None = None,
    labels: np.ndarray | None = None,
    signed: bool = False,
    seed: int = 0,
    n_bootstrap: int = 2000,
    level: float = 0.95,
) -> BaselineComparison:
    """Score ``maps`` and both baseline maps with ``metric``; decide whether the method passes.

    Parameters
    ----------
    metric : Metric
        Any registered metric instance.
    model_fn, images, maps, masks, explain_fn, labels
        As for the metric's call (:mod:`dermviz.evaluation.base`).
    signed : bool
        The method's maps are signed (KernelSHAP): the random baseline is drawn in [-1, 1).
    seed : int
        Seed of the random baseline and of the bootstrap.
    n_bootstrap, level : int, float
        Bootstrap resamples over images and the interval's level.
    """
    images, maps, masks = check_inputs(images, maps, masks)
    kwargs = {"masks": masks, "labels": labels}
    scores = metric(model_fn, images, maps, explain_fn=explain_fn, **kwargs)
    sign = 1.0 if metric.higher_is_better else -1.0
    baselines, improvement = {}, {}
    for name in BASELINE_MAPS:
        base_explain = (baseline_explainer(name, seed=seed + 1, signed=signed)
                        if metric.needs_explainer else None)
        baselines[name] = metric(model_fn, images,
                                 baseline_maps(name, images, seed=seed, signed=signed),
                                 explain_fn=base_explain, **kwargs)
        improvement[name] = bootstrap_ci(sign * (scores - baselines[name]),
                                         n_bootstrap=n_bootstrap, level=level, seed=seed)
    passes = all(improvement[name][1] > 0 for name in metric.pass_baselines)
    return BaselineComparison(metric.params(), metric.higher_is_better, scores, baselines,
                              improvement, metric.pass_baselines, passes)
