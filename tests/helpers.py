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
