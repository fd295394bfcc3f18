"""The built-in demo: a synthetic data set, a small suite and its GradCAM maps.

Two profiles:

``smoke``
    Seconds, not minutes: tiny images and data, two members, one epoch. What the
    tests use; its numbers mean nothing.
``default``
    What the README's first command builds: 128 px images, where GradCAM on
    ``mixed7`` has a 6x6 grid (``mixed10`` would be 2x2, too coarse to mean
    anything), three members, 600 training images, six epochs. BatchNorm
    momentum 0.9: from scratch with ~100 steps, Keras' 0.99 leaves the inference
    statistics unconverged. A few minutes on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dermviz.data.synthetic import SyntheticConfig, make_synthetic
from dermviz.explain.precompute import explain_suite
from dermviz.models.config import TrainConfig
from dermviz.models.suite import Suite


@dataclass(frozen=True)
class DemoProfile:
    data: SyntheticConfig
    train: TrainConfig


PROFILES: dict[str, DemoProfile] = {
    "smoke": DemoProfile(
        data=SyntheticConfig(n_train=48, n_test=16, seed=0),
        train=TrainConfig(
            image_size=75, n_members=2, epochs=1, batch_size=16, bn_momentum=0.9,
            gradcam_layer="mixed2",
        ),
    ),
    "default": DemoProfile(
        data=SyntheticConfig(n_train=600, n_test=200, seed=0),
        train=TrainConfig(
            image_size=128, n_members=3, epochs=6, batch_size=32, bn_momentum=0.9,
            gradcam_layer="mixed7",
        ),
    ),
}


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
