"""What the pairwise checks (reproducibility, cross-model) share: the result type
and the scoring of map pairs against each other and the baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dermviz.sanity import tables
from dermviz.sanity.base import Progress, SanitySpec, normalise_similarities
from dermviz.sanity.scoring import (
    ExplainerFactory,
    Ticker,
    baseline_maps,
    explain,
    map_warnings,
    predictions_table,
    score,
)

__all__ = ["ComparisonResult", "compare", "explain_sources", "explainer_seeds"]


@dataclass
class ComparisonResult:
    """A reproducibility or cross-model check.

    Attributes
    ----------
    kind : {"reproducibility", "cross_model"}
    method : str
    signed : bool
    image_ids : list of str
    images : ndarray, uint8, (n, H, W, 3)
    maps : dict of str to ndarray, (n, H, W)
        Per run (``"run1"``, ``"run2"``) or per member id.
    table : DataFrame
        ``method, image_id, kind ("pair" | "baseline"), a, b, measure, value``;
        baseline rows compare ``a``'s map with ``b = "baseline:<name>"``.
    predictions : DataFrame
        ``image_id, source, p_melanoma, target_class``.
    params : dict
        The options of the run.
    warnings : list of str
    spec : SanitySpec, optional
        The spec it was computed for (None when run on arrays directly).
    """

    kind: str
    method: str
    signed: bool
    image_ids: list[str]
    images: np.ndarray
    maps: dict[str, np.ndarray]
    table: pd.DataFrame
    predictions: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    spec: SanitySpec | None = None

    def summary(self, measure: str = "ssim") -> pd.DataFrame:
        """Mean, sd and n per pair (and baseline) for one measure."""
        return tables.pair_summary(self.table, measure=measure)

    def comparison_table(self, measures: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`~dermviz.sanity.tables.comparison_table`."""
        return tables.comparison_table(self, measures)

    def baseline_table(self, measures: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`~dermviz.sanity.tables.baseline_table`."""
        return tables.baseline_table(self, measures)

    def to_saved(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What :mod:`dermviz.sanity.storage` writes beside the tables."""
        meta = {"params": self.params, "sources": list(self.maps)}
        return meta, {f"map__{k}": v for k, v in self.maps.items()}

    @classmethod
    def from_saved(cls, spec: SanitySpec | None, meta: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray], **common: Any) -> ComparisonResult:
        """The result from what :meth:`to_saved` wrote (``common``: the shared fields)."""
        return cls(
            kind=meta["kind"],
            maps={s: arrays[f"map__{s}"] for s in meta["sources"]},
            params=dict(meta.get("params", {})),
            spec=spec,
            **common,
        )


def explainer_seeds(method_params: Mapping[str, Any], n: int) -> list[int] | None:
    """One explainer seed per run or member, ``seed + r``, for seeded methods.

    The paper's runs were unseeded (docs/protocol.md §10.1, §10.3); different seeds
    emulate that noise while keeping results reproducible. None when the method
    takes no seed (GradCAM).
    """
    seed = method_params.get("seed")
    return None if seed is None else [int(seed) + r for r in range(n)]


def explain_sources(
    names: Sequence[str],
    load: Callable[[str], Any],
    make_explainer: ExplainerFactory,
    images: np.ndarray,
    *,
    target_class: int | np.ndarray | None,
    thresholds: float | Mapping[str, float],
    progress: Progress,
    desc: str,
) -> tuple[dict[str, Any], bool]:
    """``({name: SaliencyMaps}, signed)``: the images explained with ``load(name)``'s
    model for each name, one model at a time (dropped after explaining), at its
    threshold (per name if a mapping, missing: 0.5); one tick per name."""
    results: dict[str, Any] = {}
    signed = False
    with Ticker(progress, len(names), desc) as ticker:
        for name in names:
            model = load(name)
            thr = thresholds.get(name, 0.5) if isinstance(thresholds, Mapping) else thresholds
            results[name], signed = explain(
                make_explainer, model, images, target_class=target_class, threshold=float(thr)
            )
            del model
            ticker(name)
    return results, signed


def compare(
    *,
    kind: str,
    runs: dict[str, Any],
    pairs: list[tuple[str, str]],
    images_u8: np.ndarray,
    ids: list[str],
    signed: bool,
    similarities: Sequence[str],
    seed: int,
    params: dict[str, Any],
) -> ComparisonResult:
    """Score ``pairs`` of map sets (``runs``' maps, as float32), and every map set
    against the baselines."""
    maps = {k: sm.maps.astype(np.float32) for k, sm in runs.items()}
    similarities = normalise_similarities(similarities)
    method = next(iter(runs.values())).method
    rows = []
    for a, b in pairs:
        for i, image_id in enumerate(ids):
            for measure in similarities:
                value = score(
                    maps[a][i], maps[b][i], image=images_u8[i], signed=signed, measure=measure
                )
                rows.append((image_id, "pair", a, b, measure, value))
    for source, smaps in maps.items():
        for bname, bmaps in baseline_maps(images_u8, smaps, seed=seed, signed=signed).items():
            for i, image_id in enumerate(ids):
                for measure in similarities:
                    value = score(
                        smaps[i], bmaps[i], image=images_u8[i], signed=signed, measure=measure
                    )
                    rows.append((image_id, "baseline", source, f"baseline:{bname}", measure, value))
    table = pd.DataFrame(rows, columns=["image_id", "kind", "a", "b", "measure", "value"])
    table.insert(0, "method", method)
    return ComparisonResult(
        kind=kind,
        method=method,
        signed=signed,
        image_ids=ids,
        images=images_u8,
        maps=maps,
        table=table,
        predictions=predictions_table(runs, ids),
        params=params,
        warnings=map_warnings(runs, maps),
    )
