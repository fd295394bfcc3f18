"""On-line augmentation: each part does what it says, only in training, and is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.models.augment import AugmentConfig, build_augmenter

OFF = dict(flip=False)


def batch(n: int = 6, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(20, 230, (n, size, size, 3)).astype(np.float32)


def run(config: AugmentConfig, x: np.ndarray, *, seed: int = 1, training: bool = True):
    aug = build_augmenter(config, seed=seed)
    return np.asarray(aug(x, training=training))


def test_nothing_on_means_no_augmenter_and_config_checks() -> None:
    assert build_augmenter(AugmentConfig(**OFF), seed=0) is None
    assert AugmentConfig.from_dict({"hue": 0.1}).hue == 0.1
    with pytest.raises(ValueError, match="unknown augmentation"):
        AugmentConfig.from_dict({"shear": 0.1})
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        AugmentConfig(zoom=1.5)


@pytest.mark.parametrize("part", ["flip", "rot90"])
def test_geometric_parts_only_move_pixels(part: str) -> None:
    x = batch()
    out = run(AugmentConfig(**{**OFF, part: True}), x)
    for img, src in zip(out, x, strict=True):
        if part == "flip":
            candidates = [src, src[::-1], src[:, ::-1], src[::-1, ::-1]]
        else:
            candidates = [np.rot90(src, k) for k in range(4)]
        assert any(np.array_equal(img, c) for c in candidates)
    assert not np.array_equal(out, x)  # 6 images: some were moved


@pytest.mark.parametrize("part, value", [("rotation", 0.1), ("zoom", 0.2),
                                         ("brightness", 0.3), ("contrast", 0.5),
                                         ("saturation", 0.5), ("hue", 0.3)])
def test_each_part_changes_training_images_and_nothing_at_inference(part: str,
                                                                   value: float) -> None:
    x = batch()
    config = AugmentConfig(**{**OFF, part: value})
    out = run(config, x)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0 + 1e-3
    assert np.abs(out - x).mean() > 0.5
    np.testing.assert_array_equal(run(config, x, training=False), x)


def test_seeded() -> None:
    x = batch()
    config = AugmentConfig(rot90=True, rotation=0.05, zoom=0.1, brightness=0.2, contrast=0.2,
                           saturation=0.2, hue=0.05)
    np.testing.assert_allclose(run(config, x, seed=3), run(config, x, seed=3), atol=1e-3)
    assert np.abs(run(config, x, seed=3) - run(config, x, seed=4)).mean() > 0.5


def test_training_batches_go_through_the_augmenter_labels_untouched() -> None:
    import tensorflow as tf

    from dermviz.models.config import TrainConfig
    from dermviz.models.pipeline import augment_dataset

    x = batch()
    y = np.arange(len(x), dtype=np.float32)
    ds = tf.data.Dataset.from_tensors((x, y, np.ones_like(y)))
    assert augment_dataset(ds, None) is ds
    aug = build_augmenter(AugmentConfig(**{**OFF, "rot90": True}), seed=5)
    xb, yb, wb = next(iter(augment_dataset(ds, aug)))
    assert not np.array_equal(xb.numpy(), x)
    np.testing.assert_array_equal(yb.numpy(), y)
    np.testing.assert_array_equal(wb.numpy(), 1.0)
    # the suite config carries the options, checked when the config is made
    assert TrainConfig(augment={"rot90": True, "hue": 0.05}).augment["hue"] == 0.05
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig(augment={"shear": 0.1})
    with pytest.raises(ValueError, match="unknown augmentation"):
        TrainConfig.from_dict({"augment": {"twist": 1}})
