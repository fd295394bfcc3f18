"""A suite's training inputs on disk: member splits as rows of decoded image caches.

Both ``dermviz train`` and ``dermviz search`` decode the images once per suite::

    models/<suite>/cache/images-<size>/   pool.npy, holdout.npy (+ .ids.json)
                                          pool-masks.npy (GradMask training only)
    models/<suite>/members/<id>/split.json

``split.json`` holds the member's split (image ids, cache rows, labels,
augmentations, class weights, flips): what a fit reads, in this process or in a
trial process (:class:`dermviz.models.fit.SplitRows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dermviz.data.splits import MemberSplit, make_split
from dermviz.models.config import TrainConfig
from dermviz.models.image_cache import build_cache
from dermviz.store import write_json

SPLIT_FILE = "split.json"


@dataclass(frozen=True)
class Caches:
    """The suite's decoded pool and hold-out, and each pool image's row; the pool's
    lesion masks (same rows) when asked for."""

    pool: Path
    holdout: Path
    row_of: dict[str, int]
    pool_masks: Path | None = None


def member_splits(config: TrainConfig, pool: pd.DataFrame, seeds: Sequence[int]
                  ) -> list[MemberSplit]:
    """Each member's split of the training pool, from its own seed."""
    return [make_split(pool, recipe=config.recipe, seed=seed, val_fraction=config.val_fraction,
                       max_train=config.max_train, leak_twins=config.leak_twins)
            for seed in seeds]


def build_caches(out: Path, dataset: Any, splits: Sequence[MemberSplit], *, size: int,
                 progress: bool = False, masks: bool = False) -> Caches:
    """Decode the pool images the splits use (in pool order) and the hold-out, once;
    with ``masks``, the pool's lesion masks too (GradMask)."""
    folder = Path(out) / "cache" / f"images-{size}"
    pool = dataset.pool
    used = {i for split in splits for f in (split.train, split.val) for i in f["image_id"]}
    ids = [i for i in pool["image_id"].tolist() if i in used]
    pool_path = build_cache(dataset, ids, folder, "pool", size=size, progress=progress)
    holdout_path = build_cache(dataset, dataset.holdout["image_id"].tolist(), folder, "holdout",
                               size=size, progress=progress)
    masks_path = (build_cache(dataset, ids, folder, "pool-masks", size=size, progress=progress,
                              masks=True) if masks else None)
    return Caches(pool_path, holdout_path, {image_id: k for k, image_id in enumerate(ids)},
                  masks_path)


def split_record(split: MemberSplit, row_of: dict[str, int]) -> dict[str, Any]:
    """The JSON form of a split, as rows of the pool cache."""

    def part(frame: pd.DataFrame) -> dict[str, list]:
        return {"ids": frame["image_id"].tolist(),
                "rows": [row_of[i] for i in frame["image_id"]],
                "y": frame["y"].astype(int).tolist(),
                "aug": [a if isinstance(a, str) else None for a in frame["aug"]]}

    return {
        "seed": split.seed, "summary": split.summary(), "train": part(split.train),
        "val": part(split.val), "random_flips": split.random_flips,
        "class_weight": ({str(k): v for k, v in split.class_weight.items()}
                         if split.class_weight else None),
    }


def write_split(member_dir: Path, split: MemberSplit, row_of: dict[str, int]) -> dict[str, Any]:
    """Write ``member_dir/split.json``; returns the record."""
    record = split_record(split, row_of)
    Path(member_dir).mkdir(parents=True, exist_ok=True)
    write_json(Path(member_dir) / SPLIT_FILE, record)
    return record
