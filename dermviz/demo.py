"""The built-in demo: a synthetic data set, a small suite and its GradCAM maps.

Two profiles (:mod:`dermviz.models.profiles`): ``smoke`` (seconds; what the tests
use) and ``default`` (what the README's first command builds; a few minutes).
"""

from __future__ import annotations

from pathlib import Path

from dermviz.data.synthetic import make_synthetic
from dermviz.explain.precompute import explain_suite
from dermviz.models.profiles import PROFILES
from dermviz.models.suite import Suite

__all__ = ["PROFILES", "run_demo"]


def run_demo(
    *,
    profile: str = "default",
    out_dir: str | Path,
    overwrite: bool = False,
    explain: bool = True,
    progress: bool = True,
) -> Suite:
    """Build (or resume) the demo suite and precompute its GradCAM maps."""
    # The training engine imports scikit-learn and TensorFlow: importing dermviz.demo
    # (as the CLI does for its help) must not.
    from dermviz.models.training import train_suite

    if profile not in PROFILES:
        raise ValueError(f"unknown demo profile {profile!r}; choose from {sorted(PROFILES)}")
    spec = PROFILES[profile]
    dataset = make_synthetic(spec.data)
    suite = train_suite(
        dataset, spec.train, out_dir=out_dir, overwrite=overwrite, progress=progress
    )
    if explain:
        explain_suite(suite, method="gradcam", progress=progress)
    return suite
