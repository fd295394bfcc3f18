"""Small test helpers shared across test packages."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
