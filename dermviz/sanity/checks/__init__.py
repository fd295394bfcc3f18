"""The built-in sanity checks; importing this package registers them.

One module per check: its spec type, its computation and its registration
(:func:`dermviz.sanity.base.register_check`). Keras is imported only when a
check computes.
"""

from dermviz.sanity.checks import (
    cross_model,
    emprt,
    evaluation,
    randomization,
    reproducibility,
    smprt,
)
from dermviz.sanity.checks.comparison import ComparisonResult
from dermviz.sanity.checks.cross_model import CrossModelSpec, run_cross_model
from dermviz.sanity.checks.emprt import (
    EfficientRandomizationResult,
    EfficientRandomizationSpec,
    discrete_entropy,
    run_efficient_randomization,
)
from dermviz.sanity.checks.evaluation import EvaluationResult, EvaluationSpec
from dermviz.sanity.checks.randomization import (
    RandomizationResult,
    RandomizationSpec,
    resolve_stages,
    run_randomization_study,
    select_stages,
)
from dermviz.sanity.checks.reproducibility import ReproducibilitySpec, run_reproducibility
from dermviz.sanity.checks.smprt import (
    SmoothedExplainer,
    SmoothRandomizationSpec,
    run_smooth_randomization,
    smoothed_factory,
)

__all__ = [
    "ComparisonResult",
    "CrossModelSpec",
    "EfficientRandomizationResult",
    "EfficientRandomizationSpec",
    "EvaluationResult",
    "EvaluationSpec",
    "RandomizationResult",
    "RandomizationSpec",
    "ReproducibilitySpec",
    "SmoothRandomizationSpec",
    "SmoothedExplainer",
    "cross_model",
    "discrete_entropy",
    "emprt",
    "evaluation",
    "randomization",
    "reproducibility",
    "resolve_stages",
    "run_cross_model",
    "run_efficient_randomization",
    "run_randomization_study",
    "run_reproducibility",
    "run_smooth_randomization",
    "select_stages",
    "smoothed_factory",
    "smprt",
]
