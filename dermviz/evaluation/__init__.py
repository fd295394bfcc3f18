"""Evaluation metrics for saliency maps: faithfulness, robustness, complexity.

One call signature for every metric (:mod:`dermviz.evaluation.base`)::

    metric = get_metric("deletion", n_steps=20)
    scores = metric(model_fn, images, maps)      # one score per image
    metric.params()                               # its parameters, a plain dict

beside two uninformed baselines, with a bootstrap rule for passing
(:func:`score_images`, :func:`summarize_scores`). Families, one module each: :mod:`.faithfulness`
(deletion, insertion, ROAD, IROF, faithfulness correlation), :mod:`.robustness`
(max- and average sensitivity), :mod:`.complexity` (sparseness, entropy). The
definitions and their differences from Quantus: docs/evaluation.md.
"""

from dermviz.evaluation.base import (
    FAMILIES,
    METRICS,
    Metric,
    available_metrics,
    get_metric,
    keras_model_fn,
)
from dermviz.evaluation.baselines import (
    BASELINE_MAPS,
    baseline_explainer,
    baseline_maps,
    bootstrap_ci,
    score_images,
    summarize_scores,
)
from dermviz.evaluation.complexity import Complexity, Sparseness
from dermviz.evaluation.faithfulness import (
    IROF,
    ROAD,
    Deletion,
    FaithfulnessCorrelation,
    Insertion,
    noisy_linear_impute,
)
from dermviz.evaluation.robustness import AvgSensitivity, MaxSensitivity

__all__ = [
    "BASELINE_MAPS",
    "FAMILIES",
    "IROF",
    "METRICS",
    "ROAD",
    "AvgSensitivity",
    "Complexity",
    "Deletion",
    "FaithfulnessCorrelation",
    "Insertion",
    "MaxSensitivity",
    "Metric",
    "Sparseness",
    "available_metrics",
    "baseline_explainer",
    "baseline_maps",
    "bootstrap_ci",
    "get_metric",
    "keras_model_fn",
    "noisy_linear_impute",
    "score_images",
    "summarize_scores",
]
