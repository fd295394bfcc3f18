"""Complexity: how concentrated is the map? Quantus's definitions, on the absolute map.

* :class:`Sparseness` (Chalasani et al. 2020 [1]_): the Gini index of the map's absolute
  values, ``sum_k (2k - n - 1) a_(k) / (n sum a)`` over the ``n`` pixels sorted
  ascending. 0 for a constant map; its maximum, for a map with a single non-zero pixel,
  is ``(n - 1) / n`` (not 1). Higher is better (a sparser map is easier to read).
* :class:`Complexity` (Bhatt et al. 2020 [2]_): the Shannon entropy (nats) of the
  absolute map normalised to sum 1; 0 for a single non-zero pixel, ``log(n)`` (its
  maximum) for a uniform map. Lower is better.

An all-zero map ranks nothing: its sparseness is 0 and its complexity ``log(n)``, as
for a uniform map.

References
----------
.. [1] Chalasani, Chen, Chowdhury, Wu & Jha, "Concise Explanations of Neural Networks
   using Adversarial Training", ICML 2020.
.. [2] Bhatt, Weller & Moura, "Evaluating and Aggregating Feature-based Model
   Explanations", IJCAI 2020.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from dermviz.evaluation.base import ExplainFn, Metric, ModelFn, register


def gini(maps: np.ndarray) -> np.ndarray:
    """Gini index of each map's absolute values, ``(n,)``."""
    a = np.sort(np.abs(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1), axis=1)
    n = a.shape[1]
    total = a.sum(axis=1)
    weights = 2.0 * np.arange(1, n + 1) - n - 1
    return np.where(total > 0, (a @ weights) / (n * np.where(total > 0, total, 1.0)), 0.0)


def entropy(maps: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of each absolute map normalised to sum 1, ``(n,)``."""
    a = np.abs(np.asarray(maps, dtype=np.float64)).reshape(len(maps), -1)
    total = a.sum(axis=1, keepdims=True)
    p = np.where(total > 0, a / np.where(total > 0, total, 1.0), 1.0 / a.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class _MapOnly(Metric):
    family: ClassVar[str] = "complexity"
    needs_model: ClassVar[bool] = False


@register
@dataclasses.dataclass(frozen=True)
class Sparseness(_MapOnly):
    """Gini index of the absolute map (higher is better)."""

    name: ClassVar[str] = "sparseness"
    title: ClassVar[str] = "sparseness (Gini)"
    higher_is_better: ClassVar[bool] = True

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return gini(maps)


@register
@dataclasses.dataclass(frozen=True)
class Complexity(_MapOnly):
    """Entropy of the normalised absolute map (lower is better)."""

    name: ClassVar[str] = "complexity"
    title: ClassVar[str] = "complexity (entropy)"
    higher_is_better: ClassVar[bool] = False

    def score(self, model_fn: ModelFn | None, images: np.ndarray, maps: np.ndarray, *,
              masks: np.ndarray | None, explain_fn: ExplainFn | None,
              labels: np.ndarray | None = None) -> np.ndarray:
        return entropy(maps)
