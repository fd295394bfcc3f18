"""GradMask wired into training: the config option, masks travelling with their images
through the cache, flips and augmentation, and a real (tiny) fit through ``dermviz train``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermviz.data.splits import apply_augmentation, augment_mask
from dermviz.data.synthetic import make_synthetic
from dermviz.models.config import TrainConfig
from dermviz.models.image_cache import ImageCache, build_cache, iter_batches


def test_config_takes_a_positive_weight_or_none() -> None:
    assert TrainConfig().gradmask is None
    assert TrainConfig(gradmask=0.5).gradmask == 0.5
    assert TrainConfig.from_dict({"gradmask": 2}).gradmask == 2
    for bad in (0, -1.0, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError, match="gradmask"):
            TrainConfig(gradmask=bad)


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImageCache, ImageCache, object]:
    data = make_synthetic(n_train=12, n_test=2, seed=4)
    ids = list(data.pool["image_id"])
    folder = tmp_path_factory.mktemp("caches")
    images = ImageCache(build_cache(data, ids, folder, "pool", size=32))
    masks = ImageCache(build_cache(data, ids, folder, "pool-masks", size=32, masks=True))
    return images, masks, data


def test_mask_cache_holds_the_datasets_masks_and_ones_where_there_is_none(caches) -> None:
    images, masks, data = caches
    ids = list(data.pool["image_id"])
    assert masks.shape == (12, 32, 32)
    np.testing.assert_array_equal(masks.read(range(12)), data.load_masks(ids, size=32))
    assert 0 < masks.read(range(12)).mean() < 1
    # An image without a mask: all ones (no GradMask penalty), where the default raises.
    table = data.table.copy()
    table.loc[ids[0], "has_mask"] = False
    no_mask = type(data)(data.name, table, data.source)
    with pytest.raises(ValueError, match="no lesion mask"):
        no_mask.load_masks(ids[:2], size=32)
    ones = no_mask.load_masks(ids[:2], size=32, missing="ones")
    assert ones[0].all() and not ones[1].all()


def test_masks_follow_their_images_through_order_and_flips(caches) -> None:
    images, masks, _ = caches
    rows = np.arange(12)
    originals, original_masks = images.read(rows), masks.read(rows)
    seen = 0
    flipped = 0
    for (x, m), yb, _ in iter_batches(images, rows, rows.astype(np.float32), batch_size=5,
                                      shuffle_seed=7, flips=True, masks=masks):
        for k, row in enumerate(yb.astype(int)):  # y carries the row here
            variants = [(lambda a: a), (lambda a: a[:, ::-1]), (lambda a: a[::-1]),
                        (lambda a: a[::-1, ::-1])]
            which = [i for i, f in enumerate(variants) if np.array_equal(f(originals[row]), x[k])]
            assert which, "an image is not a flip of its original"
            f = variants[which[0]]
            np.testing.assert_array_equal(m[k], f(original_masks[row]))
            seen += 1
            flipped += which[0] != 0
    assert seen == 12 and flipped > 0
    # mismatched caches are refused
    with pytest.raises(ValueError, match="does not match"):
        next(iter_batches(images, rows[:2], rows[:2], batch_size=2,
                          masks=ImageCache(images.path)))


def test_paper_style_augmentation_flips_the_mask_but_leaves_its_values() -> None:
    mask = np.zeros((6, 6), np.uint8)
    mask[0, :3] = 1
    image = np.repeat(mask[..., None] * 200, 3, axis=-1).astype(np.uint8)
    aug = "flip=both;gamma=1.3"
    moved = augment_mask(mask, aug)
    np.testing.assert_array_equal(moved, mask[::-1, ::-1])
    np.testing.assert_array_equal(apply_augmentation(image, aug)[..., 0] > 0, moved > 0)
    assert augment_mask(mask, None) is mask


def test_geometric_augmentation_moves_the_mask_colour_jitter_does_not_touch_it() -> None:
    pytest.importorskip("keras")
    from dermviz.models.augment import AugmentConfig, augment_with_masks, build_augmenter

    rng = np.random.default_rng(0)
    masks = (rng.random((8, 24, 24)) < 0.3).astype(np.float32)
    # Channel 0 shows the mask; the others are noise, so any move of the image is visible.
    images = np.stack([masks * 255, rng.uniform(0, 255, (8, 24, 24)),
                       rng.uniform(0, 255, (8, 24, 24))], axis=-1).astype(np.float32)
    augmenter = build_augmenter(AugmentConfig(flip=True, rot90=True, brightness=0.2, hue=0.05),
                                seed=3)
    x, m = augment_with_masks(augmenter, images, masks)
    x, m = np.asarray(x), np.asarray(m)
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert not np.array_equal(m, masks)  # something moved
    np.testing.assert_array_equal(x[..., 0] > 127.5, m > 0.5)  # ...and moved together
    assert not np.allclose(x[..., 1:], images[..., 1:])


@pytest.mark.timeout(600)
def test_dermviz_train_with_gradmask_fits_and_reports_the_term(tmp_path) -> None:
    from dermviz.cli import main
    from dermviz.models.inception import build_inception
    from dermviz.models.suite import Suite

    config = tmp_path / "gradmask.toml"
    config.write_text("[train]\nimage_size = 75\nn_members = 1\nepochs = 1\nbatch_size = 8\n"
                      "dense_units = 8\nbn_momentum = 0.9\nrun_eagerly = true\n"
                      "gradcam_layer = \"mixed2\"\ngradmask = 10.0\n")
    rc = main(["--models-dir", str(tmp_path), "train", "--config", str(config), "--name", "gm",
               "--synthetic-train", "16", "--synthetic-test", "4", "--no-prepare"])  # two steps
    assert rc == 0
    suite = Suite(tmp_path / "gm")
    assert not (suite.path / "safety").exists()  # --no-prepare: no pages' data
    assert suite.config["gradmask"] == 10.0
    history = suite.history(suite.member_ids[0])
    assert "gradmask" in history and (history["gradmask"] > 0).all()
    assert {"loss", "auc", "val_auc", "val_loss"} <= set(history)
    masks = tmp_path / "gm" / "cache" / "images-75" / "pool-masks.npy"
    meta = json.loads(masks.with_name("pool-masks.ids.json").read_text())
    assert meta["kind"] == "masks"
    # the saved member is the plain InceptionV3 (no wrapper), with finite outputs
    model = suite.load_model(suite.member_ids[0])
    plain = build_inception(75, weights=None, dense_units=8)
    assert len(model.layers) == len(plain.layers)
    assert np.isfinite(suite.predictions(suite.member_ids[0])["p_melanoma"]).all()
