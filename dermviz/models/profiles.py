"""Ready-made data and training settings shared by ``dermviz demo`` and ``dermviz search``.

``smoke``
    Seconds, not minutes: 75 px, 48 synthetic training images, two members, one
    epoch. What the tests use; its numbers mean nothing.
``default``
    128 px, where GradCAM on ``mixed7`` has a 6x6 grid (``mixed10`` would be 2x2,
    too coarse to mean anything), three members, 600 training images, six epochs.
    BatchNorm momentum 0.9: from scratch with ~100 steps, Keras' 0.99 leaves the
    inference statistics unconverged. A few minutes on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from dermviz.data.synthetic import SyntheticConfig
from dermviz.models.config import TrainConfig


@dataclass(frozen=True)
class TrainProfile:
    """Synthetic data and the training config of a ready-made suite."""

    data: SyntheticConfig
    train: TrainConfig


PROFILES: dict[str, TrainProfile] = {
    "smoke": TrainProfile(
        data=SyntheticConfig(n_train=48, n_test=16, seed=0),
        train=TrainConfig(
            image_size=75, n_members=2, epochs=1, batch_size=16, bn_momentum=0.9,
            gradcam_layer="mixed2",
        ),
    ),
    "default": TrainProfile(
        data=SyntheticConfig(n_train=600, n_test=200, seed=0),
        train=TrainConfig(
            image_size=128, n_members=3, epochs=6, batch_size=32, bn_momentum=0.9,
            gradcam_layer="mixed7",
        ),
    ),
}
