"""Lesion-blind baselines: what colour statistics alone score on the hold-out.

- :mod:`~dermviz.analysis.blind.features`: named colour statistics of an image region
  (the whole image, the skin outside the grown lesion mask, the lesion alone);
- :mod:`~dermviz.analysis.blind.baselines`: logistic regressions on them, fitted on the
  training pool and scored on the hold-out with bootstrap intervals, and the acquisition
  check (how well the skin predicts a metadata column such as ``dx_type``);
- :mod:`~dermviz.analysis.blind.dataset`: both, read from a :class:`~dermviz.data.Dataset`.

See docs/confounders.md.
"""

from dermviz.analysis.blind.baselines import acquisition_check, blind_baselines, fit_baseline
from dermviz.analysis.blind.dataset import dataset_blind_features, dataset_blind_report
from dermviz.analysis.blind.features import (
    FEATURE_NAMES,
    REGIONS,
    colour_statistics,
    region_features,
)

__all__ = [
    "FEATURE_NAMES",
    "REGIONS",
    "acquisition_check",
    "blind_baselines",
    "colour_statistics",
    "dataset_blind_features",
    "dataset_blind_report",
    "fit_baseline",
    "region_features",
]
