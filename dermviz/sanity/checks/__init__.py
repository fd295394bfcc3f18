"""The built-in sanity checks; importing this package registers them.

One module per check: its spec type, its computation and its registration
(:func:`dermviz.sanity.base.register_check`). Keras is imported only when a
check computes.
"""

from dermviz.sanity.checks import cross_model, randomization, reproducibility
from dermviz.sanity.checks.comparison import ComparisonResult
from dermviz.sanity.checks.cross_model import CrossModelSpec, run_cross_model
from dermviz.sanity.checks.randomization import (
    RandomizationResult,
    RandomizationSpec,
    resolve_stages,
    run_randomization_study,
)
from dermviz.sanity.checks.reproducibility import ReproducibilitySpec, run_reproducibility

__all__ = [
    "ComparisonResult",
    "CrossModelSpec",
    "RandomizationResult",
    "RandomizationSpec",
    "ReproducibilitySpec",
    "cross_model",
    "randomization",
    "reproducibility",
    "resolve_stages",
    "run_cross_model",
    "run_randomization_study",
    "run_reproducibility",
]
