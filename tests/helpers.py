"""Small test helpers shared across test packages."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from dermviz.data.dataset import Dataset


class ArraySource:
    """Pixels from in-memory images: row ``image_id`` ``p<k>`` -> ``images[k]``.

    ``reads`` counts the images read, to tell cache hits from recomputation.
    """

    def __init__(self, images: list[np.ndarray] | np.ndarray) -> None:
        self.images = images
        self.reads = 0

    def read_image(self, row: pd.Series) -> np.ndarray:
        self.reads += 1
        return self.images[int(row["image_id"][1:])]

    def read_mask(self, row: pd.Series) -> None:
        return None

    def describe(self) -> dict:
        return {"kind": "arrays", "n": len(self.images)}


def array_dataset(images: list[np.ndarray] | np.ndarray, name: str = "arrays") -> Dataset:
    """A training-pool-only :class:`Dataset` over in-memory images ``p0, p1, ...``."""
    n = len(images)
    table = pd.DataFrame({"image_id": [f"p{k}" for k in range(n)], "lesion_id": range(n),
                          "dx": "nv", "y": 0, "split": "train", "test_index": -1,
                          "has_mask": False})
    return Dataset(name, table, ArraySource(images))


def write_prediction_suite(path, *, y, members, image_ids=None):
    """A suite folder holding only stored hold-out predictions (no models).

    ``y``: true labels in test-index order; ``members``: ``{id: (threshold, [p, ...])}``.
    """
    from dermviz.models.suite import Suite, write_manifest

    ids = image_ids or [f"t{k}" for k in range(len(y))]
    entries = []
    for mid, (threshold, p) in members.items():
        folder = path / "members" / mid
        folder.mkdir(parents=True)
        pd.DataFrame({"image_id": ids, "test_index": range(len(ids)), "y": y,
                      "p_melanoma": p, "predicted": [int(v >= threshold) for v in p]}).to_csv(
            folder / "holdout_predictions.csv", index=False)
        entries.append({"id": mid, "seed": 0, "threshold": threshold, "holdout": {}})
    write_manifest(path, {"name": path.name, "config": {"image_size": 75}, "dataset": {},
                          "members": entries, "status": "complete"})
    return Suite(path)


def tiny_blocks_image(size: int = 64, *, seed: int = 7) -> np.ndarray:
    """A uint8 RGB image of 3x3 coloured blocks with mild noise: few, clear SLIC segments."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(20, 230, (3, 3, 3)).astype(np.uint8)
    side = -(-size // 3)
    image = np.kron(blocks, np.ones((side, side, 1), np.uint8))[:size, :size]
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def tiny_conv_model(size: int = 64, *, seed: int = 0):
    """A small random conv net, images in [0, 255] -> a sigmoid ``(n, 1)``: non-additive,
    and cheap enough to enumerate every coalition of a dozen superpixels."""
    import keras  # heavy: only the tests that build a model pay for it

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 5, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="tanh")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))


def blob_map() -> np.ndarray:
    """A smooth 48x48 map in [0, 1] peaking at (20, 28), float32."""
    yy, xx = np.mgrid[0:48, 0:48]
    return np.exp(-((yy - 20.0) ** 2 + (xx - 28.0) ** 2) / 60.0).astype(np.float32)


def patch_image() -> np.ndarray:
    """A noisy light 48x48 RGB image (uint8) with a dark patch."""
    rng = np.random.default_rng(0)
    img = rng.integers(120, 200, size=(48, 48, 3)).astype(np.uint8)
    img[10:30, 15:35] = 40
    return img


def tiny_member(image_size: int, *, weights=None, dense_units: int = 128, dropout: float = 0.5,
                bn_momentum: float | None = None, seed: int | None = None):
    """A stand-in for :func:`dermviz.models.inception.build_inception` (same signature, same
    head and names) with two small conv blocks for a backbone: what a fit keeps or resets
    (weights, BatchNorm statistics, dropout seed state) at a fraction of the trace time."""
    import keras

    from dermviz.models.inception import seed_initializers

    assert weights in (None, "none"), weights
    if seed is not None:
        seed_initializers(seed)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for k, filters in enumerate((8, 16)):
        x = keras.layers.Conv2D(filters, 3, strides=2, use_bias=False, name=f"conv{k}")(x)
        x = keras.layers.BatchNormalization(momentum=bn_momentum or 0.99, name=f"bn{k}")(x)
        x = keras.layers.Activation("relu", name=f"relu{k}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer="he_normal",
                           name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="pred")(x)
    return keras.Model(inputs, outputs, name="tiny_member")

def share_suite(src, dst):
    """A suite folder at ``dst`` whose ``members/`` (models, predictions) is ``src``'s,
    linked, not copied: nothing writes there after training. Its maps and caches are a
    copy, so what is written later stays apart; of ``src``'s saved sanity studies only the
    build's report card is kept (``evaluation-*``), as a fresh build has no other."""
    import shutil
    from pathlib import Path

    src, dst = Path(src), Path(dst)

    def ignore(folder: str, names: list[str]) -> list[str]:
        if Path(folder) == src:
            return [n for n in names if n == "members"]
        if Path(folder) == src / "sanity":
            return [n for n in names if not n.startswith("evaluation-")]
        return []

    shutil.copytree(src, dst, ignore=ignore)
    (dst / "members").symlink_to(src / "members", target_is_directory=True)
    return dst


def add_dx_type(dataset):
    """The synthetic data set with HAM10000's ``dx_type``: every melanoma ``histo``; naevi
    ``histo`` and ``follow_up`` in turn, so both classes have histo-confirmed images."""
    table = dataset.table.copy()
    naevi = np.flatnonzero(table["y"].to_numpy() == 0)
    dx_type = np.array(["histo"] * len(table), dtype=object)
    dx_type[naevi[1::2]] = "follow_up"
    table["dx_type"] = dx_type
    return dataclasses.replace(dataset, table=table)


def patch_dx_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every suite opened from now on (in this test) gets :func:`add_dx_type`."""
    import dermviz.models.suite as suite_module

    opened = suite_module.open_dataset
    monkeypatch.setattr(suite_module, "open_dataset",
                        lambda info, **kw: add_dx_type(opened(info, **kw)))
