"""The dataset interface shared by HAM10000 and the synthetic generator.

A :class:`Dataset` is a table (one row per image) plus an :class:`ImageSource`
that turns a row into pixels. Pixels are produced on demand, batch by batch,
as ``uint8``; the whole set is never held in memory as floats.

Table columns (every dataset has them):

``image_id``   unique string id (``ISIC_0027419``, ``syn_000123``)
``lesion_id``  lesion the image shows (one image per lesion after loading)
``dx``         ``"mel"`` or ``"nv"``
``y``          1 for melanoma, 0 for naevus (melanoma is the positive class)
``split``      ``"test"`` for the balanced hold-out, ``"train"`` for the pool
``test_index`` 0..n_test-1 in the paper's order (melanomas first), -1 in the pool
``has_mask``   whether a lesion mask exists for the image

Sources add their own columns (``path``/``mask_path`` for files, ``seed`` and
artefact flags for the generator, HAM10000's metadata).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from dermviz.data.images import resize_image, resize_mask

REQUIRED_COLUMNS = ("image_id", "lesion_id", "dx", "y", "split", "test_index", "has_mask")
LABELS = {"nv": 0, "mel": 1}
CLASS_NAMES = ("naevus", "melanoma")  # index = y


class ImageSource(Protocol):
    """Produces native-resolution pixels for a table row."""

    def read_image(self, row: pd.Series) -> np.ndarray:
        """RGB ``uint8`` array of shape (H, W, 3)."""
        ...

    def read_mask(self, row: pd.Series) -> np.ndarray | None:
        """Boolean lesion mask of shape (H', W'), or None when there is none."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description, enough to rebuild the source."""
        ...


@dataclass(frozen=True)
class Dataset:
    """A labelled image table with lazy pixel access.

    Parameters
    ----------
    name : str
        ``"ham10000"`` or ``"synthetic"``.
    table : pandas.DataFrame
        One row per image, with at least :data:`REQUIRED_COLUMNS`; indexed by
        ``image_id``.
    source : ImageSource
        Reads or renders the pixels of a row.
    info : dict
        Free-form, JSON-serialisable provenance (root folder, generator
        parameters, skipped images...).
    """

    name: str
    table: pd.DataFrame
    source: ImageSource
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.table.columns]
        if missing:
            raise ValueError(f"dataset table lacks required columns: {missing}")
        if not self.table["image_id"].is_unique:
            raise ValueError("dataset table has duplicate image_id values")
        if self.table.index.name != "image_id":
            # Index by id so rows are looked up without scanning.
            object.__setattr__(
                self, "table", self.table.set_index("image_id", drop=False)
            )

    def __len__(self) -> int:
        return len(self.table)

    @property
    def holdout(self) -> pd.DataFrame:
        """The hold-out rows, ordered by ``test_index`` (melanomas first)."""
        t = self.table[self.table["split"] == "test"]
        return t.sort_values("test_index")

    @property
    def pool(self) -> pd.DataFrame:
        """The training pool (everything not held out), in table order."""
        return self.table[self.table["split"] == "train"]

    def rows(self, ids: Sequence[str]) -> pd.DataFrame:
        """Rows for ``ids`` in the given order; unknown ids raise ``KeyError``."""
        ids = list(ids)
        unknown = [i for i in ids if i not in self.table.index]
        if unknown:
            shown = ", ".join(map(str, unknown[:5]))
            raise KeyError(f"{len(unknown)} image id(s) not in dataset {self.name!r}: {shown}")
        return self.table.loc[ids]

    def load_images(self, ids: Sequence[str], *, size: int) -> np.ndarray:
        """Images for ``ids`` as ``uint8`` (n, size, size, 3), resized by
        :func:`dermviz.data.images.resize_image`."""
        _check_size(size)
        rows = self.rows(ids)
        out = np.empty((len(rows), size, size, 3), dtype=np.uint8)
        for k, (_, row) in enumerate(rows.iterrows()):
            out[k] = resize_image(self.source.read_image(row), size)
        return out

    def load_masks(self, ids: Sequence[str], *, size: int, missing: str = "raise") -> np.ndarray:
        """Lesion masks for ``ids`` as ``bool`` (n, size, size).

        ``missing="raise"`` (default) raises ``ValueError`` naming the images that have no
        mask; ``missing="ones"`` gives them an all-True mask (the whole image counts as
        lesion: what GradMask training needs, where such an image pays no penalty).
        """
        _check_size(size)
        if missing not in ("raise", "ones"):
            raise ValueError(f"missing must be 'raise' or 'ones', got {missing!r}")
        rows = self.rows(ids)
        out = np.zeros((len(rows), size, size), dtype=bool)
        absent = []
        for k, (image_id, row) in enumerate(rows.iterrows()):
            mask = self.source.read_mask(row) if row["has_mask"] else None
            if mask is None:
                absent.append(image_id)
                out[k] = True
                continue
            out[k] = resize_mask(mask, size)
        if absent and missing == "raise":
            raise ValueError(f"no lesion mask for {len(absent)} image(s): {absent[:5]}")
        return out

    def iter_batches(
        self, ids: Sequence[str], *, size: int, batch_size: int = 32
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield ``(ids, uint8 images)`` batches in order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ids = list(ids)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            yield chunk, self.load_images(chunk, size=size)

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable summary saved with every suite trained on it."""
        counts = self.table.groupby(["split", "dx"]).size()
        return {
            "name": self.name,
            "n_images": int(len(self.table)),
            "counts": {f"{s}/{d}": int(n) for (s, d), n in counts.items()},
            "source": self.source.describe(),
            **self.info,
        }


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"size must be an integer >= 8 pixels, got {size!r}")
