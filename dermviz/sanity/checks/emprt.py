"""Efficient model-parameter randomization (eMPRT, Hedstroem et al. [1]_).

Instead of a similarity per randomized layer, eMPRT asks one question of two
models, the trained one and the fully randomized one: does randomization make the
explanation more *complex*? Complexity is the discrete entropy of the histogram of
the map's values (:func:`discrete_entropy`, as Quantus' ``discrete_entropy`` [2]_:
``n_bins`` equal-width bins over the map's range, natural logarithm). The score
per image is the ratio

    entropy(map of the randomized model) / entropy(map of the trained model)

(Quantus reports the relative rise, this ratio minus 1). Above 1: the randomized
model's maps are more chaotic, what a method that explains the model shows;
about 1: the map did not notice the randomization. Reference points, scored the
same way against the trained map: a uniform-noise map (close to the highest
entropy, ``log(n_bins)``), the image's edge map and a constant map (entropy 0).
Registered as ``"emprt"``; higher is better.

References
----------
.. [1] Hedstroem, Weber, Lapuschkin and Hoehne, "Sanity Checks Revisited: An
   Exploration to Repair the Model Parameter Randomisation Test", XAI in Action
   workshop, NeurIPS 2023, arXiv:2401.06465.
.. [2] Quantus, ``quantus.metrics.randomisation.efficient_mprt.EfficientMPRT`` and
   ``quantus.functions.complexity_func.discrete_entropy``,
   https://github.com/understandable-machine-intelligence-lab/Quantus.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dermviz.sanity.base import MemberSpec, Progress, register_check
from dermviz.sanity.checks._common import (
    maps_from_saved,
    maps_to_saved,
    member_compute,
    prepare_inputs,
)
from dermviz.sanity.checks.randomization import check_layer_options, select_stages
from dermviz.sanity.scoring import (
    ExplainerFactory,
    Ticker,
    baseline_maps,
    map_warnings,
    predictions_table,
    timed_explain,
)

__all__ = [
    "EfficientRandomizationResult",
    "EfficientRandomizationSpec",
    "discrete_entropy",
    "run_efficient_randomization",
]

#: The map sources of an eMPRT study, beside the baselines.
SOURCES = ("trained", "randomized")


def discrete_entropy(values: np.ndarray, *, n_bins: int = 100) -> float:
    """Shannon entropy (nats) of the histogram of ``values``.

    Parameters
    ----------
    values : ndarray
        Any shape (a map); flattened.
    n_bins : int
        Equal-width bins over ``[min, max]`` of the values (Quantus' default 100).

    Returns
    -------
    float
        In ``[0, log(n_bins)]``: 0 for a constant map, close to ``log(n_bins)``
        for uniform noise.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("values must be non-empty and finite")
    counts, _ = np.histogram(values, bins=int(n_bins))
    p = counts[counts > 0] / values.size
    return float((p * np.log(1 / p)).sum())  # scipy.stats.entropy, without importing scipy


@dataclass(frozen=True, eq=False, kw_only=True)
class EfficientRandomizationSpec(MemberSpec):
    """An eMPRT study: a member's maps before and after randomizing a whole layer set.

    Every field of :class:`~dermviz.sanity.base.MemberSpec` (``member_id``,
    ``image_ids``, ``method``, ``method_params``, ``threshold``; ``seed`` seeds
    the re-initialisation, the same draws as the other tests, and the random
    baseline), plus:

    Attributes
    ----------
    layer_set : {"blocks", "paper"}
        The layers randomized, all at once: ``"blocks"`` (default) is every
        weighted layer of the model, the paper's fully randomized model;
        ``"paper"`` only the classic paper's six layers.
    stages : tuple of str, optional
        Only these stages of the layer set (default all).
    n_bins : int
        Histogram bins of :func:`discrete_entropy`.
    reset_bias, reset_batchnorm : bool
        See :func:`~dermviz.sanity.layer_randomization.randomize`.
    target : {"original", "predicted"}
        Whether the randomized model explains the trained model's predicted class
        (default) or its own.
    """

    kind: ClassVar[str] = "emprt"

    layer_set: str = "blocks"
    stages: tuple[str, ...] | None = None
    n_bins: int = 100
    reset_bias: bool = False
    reset_batchnorm: bool = False
    target: str = "original"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_layer_options(self)
        if isinstance(self.n_bins, bool) or int(self.n_bins) != self.n_bins or self.n_bins < 2:
            raise ValueError(f"n_bins must be an integer >= 2, got {self.n_bins!r}")
        object.__setattr__(self, "n_bins", int(self.n_bins))

    def describe(self) -> str:
        detail = f"eMPRT, {self.layer_set} layers randomized"
        if self.stages is not None:
            detail += f" ({', '.join(self.stages)})"
        return f"{detail}, {self.n_bins} bins"


@dataclass
class EfficientRandomizationResult:
    """An eMPRT study.

    Attributes
    ----------
    spec : EfficientRandomizationSpec
    image_ids : list of str
    layers : list of str
        The layers randomized.
    maps : ndarray, float32, (2, n, H, W)
        The trained model's maps, then the fully randomized model's.
    baselines : dict of str to ndarray, (n, H, W)
        The reference maps (``"random"``, ``"edge"``, ``"constant"``).
    images : ndarray, uint8, (n, H, W, 3)
    table : DataFrame
        Long table ``method, image_id, kind, source, measure, value``: kind
        ``"entropy"`` (measure ``"entropy"``) for every source (``"trained"``,
        ``"randomized"``, ``"baseline:<name>"``), and kind ``"ratio"`` (measure
        ``"entropy_ratio"``): each source's entropy over the trained map's
        (NaN where the trained map is constant).
    predictions : DataFrame
        ``image_id, source, p_melanoma, target_class``.
    method : str
    signed : bool
    warnings : list of str
    timings : dict of str to float
        Seconds per model.
    """

    spec: EfficientRandomizationSpec
    image_ids: list[str]
    layers: list[str]
    maps: np.ndarray
    baselines: dict[str, np.ndarray]
    images: np.ndarray
    table: pd.DataFrame
    predictions: pd.DataFrame
    method: str
    signed: bool
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    kind = "emprt"

    def scores(self) -> pd.DataFrame:
        """Per image: ``image_id, entropy_trained, entropy_randomized, ratio`` (the score)."""
        t = self.table
        ent = t[t["kind"] == "entropy"].pivot_table(
            index="image_id", columns="source", values="value", aggfunc="first")
        ratio = t[(t["kind"] == "ratio") & (t["source"] == "randomized")].set_index("image_id")
        return pd.DataFrame({
            "image_id": self.image_ids,
            "entropy_trained": [float(ent.at[i, "trained"]) for i in self.image_ids],
            "entropy_randomized": [float(ent.at[i, "randomized"]) for i in self.image_ids],
            "ratio": [float(ratio.at[i, "value"]) for i in self.image_ids],
        })

    def summary(self) -> pd.DataFrame:
        """Per source (randomized model, then the baselines): mean entropy, and mean,
        sd and n over images of the ratio to the trained map's entropy."""
        t = self.table
        ent = t[t["kind"] == "entropy"].groupby("source", sort=False)["value"].mean()
        ratios = t[t["kind"] == "ratio"].groupby("source", sort=False)["value"]
        out = ratios.agg(ratio="mean", sd="std", n="count").reset_index()
        out.insert(1, "entropy", [float(ent[s]) for s in out["source"]])
        return out

    @property
    def mean_ratio(self) -> float:
        """The eMPRT score: the mean ratio over images (NaNs left out)."""
        values = self.scores()["ratio"].to_numpy()
        return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan

    def to_saved(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What :mod:`dermviz.sanity.storage` writes beside the tables."""
        return maps_to_saved(self, {"layers": self.layers})

    @classmethod
    def from_saved(cls, spec: EfficientRandomizationSpec, meta: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray], **common: Any) -> EfficientRandomizationResult:
        """The result from what :meth:`to_saved` wrote (``common``: the shared fields)."""
        return cls(spec=spec, layers=list(meta["layers"]), **maps_from_saved(meta, arrays),
                   **common)


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else math.nan


def run_efficient_randomization(
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    spec: EfficientRandomizationSpec,
    *,
    make_explainer: ExplainerFactory | None = None,
    layers: Sequence[Any] | None = None,
    progress: Progress = True,
) -> EfficientRandomizationResult:
    """Explain images with the trained model and its fully randomized copy; score entropies.

    Parameters
    ----------
    model, images, image_ids
        As for :func:`~dermviz.sanity.checks.randomization.run_randomization_study`.
    spec : EfficientRandomizationSpec
    make_explainer : callable, optional
        ``make_explainer(model) -> Explainer`` (default: the registered
        ``spec.method`` with ``spec.method_params``).
    layers : sequence, optional
        Explicit stages (:func:`~dermviz.sanity.layer_randomization.as_stages`), all
        randomized at once, instead of the spec's layer set: for models other
        than InceptionV3.
    progress : bool or callable
        One tick per model.

    Returns
    -------
    EfficientRandomizationResult
    """
    # Keras-heavy: the spec module stays light for listing and loading.
    from dermviz.sanity.layer_randomization import as_stages, randomize

    ids, images_u8, factory = prepare_inputs(images, image_ids, spec, make_explainer)
    stages = (as_stages(layers) if layers is not None
              else select_stages(model, spec.layer_set, stages=spec.stages))
    chosen = list(dict.fromkeys(name for _, names in stages for name in names))
    timings: dict[str, float] = {}
    with Ticker(progress, 2, f"{spec.method} eMPRT") as ticker:
        trained, signed = timed_explain(timings, "trained", factory, model, images,
                                        threshold=spec.threshold)
        ticker("trained")
        fixed = trained.target_class if spec.target == "original" else None
        _, randomized_model = next(randomize(
            model, [("randomized", chosen)], seed=spec.seed, reset_bias=spec.reset_bias,
            reset_batchnorm=spec.reset_batchnorm, copy=False,
        ))
        randomized, _ = timed_explain(timings, "randomized", factory, randomized_model, images,
                                      target_class=fixed, threshold=spec.threshold)
        ticker("randomized")

    runs = dict(zip(SOURCES, (trained, randomized), strict=True))
    maps = np.stack([sm.maps for sm in runs.values()]).astype(np.float32)
    baselines = baseline_maps(images_u8, maps[0], seed=spec.seed, signed=signed)
    baselines["constant"] = np.zeros_like(maps[0])
    sources = {**dict(zip(SOURCES, maps, strict=True)),
               **{f"baseline:{k}": v for k, v in baselines.items()}}
    rows = []
    for i, image_id in enumerate(ids):
        entropies = {s: discrete_entropy(m[i], n_bins=spec.n_bins) for s, m in sources.items()}
        rows += [(image_id, "entropy", s, "entropy", h) for s, h in entropies.items()]
        rows += [(image_id, "ratio", s, "entropy_ratio", _ratio(h, entropies["trained"]))
                 for s, h in entropies.items() if s != "trained"]
    table = pd.DataFrame(rows, columns=["image_id", "kind", "source", "measure", "value"])
    table.insert(0, "method", trained.method)
    return EfficientRandomizationResult(
        spec=spec,
        image_ids=ids,
        layers=chosen,
        maps=maps,
        baselines=baselines,
        images=images_u8,
        table=table,
        predictions=predictions_table(runs, ids),
        method=trained.method,
        signed=signed,
        warnings=map_warnings(runs, dict(zip(SOURCES, maps, strict=True))),
        timings=timings,
    )


register_check(
    EfficientRandomizationSpec,
    compute=member_compute(run_efficient_randomization),
    result_type=EfficientRandomizationResult,
)
