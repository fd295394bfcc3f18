"""Per-member train/validation splits of the training pool (indices only).

Two recipes:

``"full"`` (default)
    The whole pool, stratified train/validation split, balanced class weights
    and random flips on the fly. The sensible default without ImageNet weights:
    from scratch the paper's small split collapses (docs/stack.md §6).
``"paper"``
    The paper's (docs/protocol.md §4): every pool melanoma gets one augmented copy (a
    random flip plus gamma in U(0.5, 2.5)); as many naevi as melanomas-with-copies
    are drawn; each class is split 50/50. Fixed here by default: a copy stays on
    the same side of the split as its original (the paper split them
    independently, leaking augmented twins into validation, §14.3), and the
    augmentation is seeded. ``leak_twins=True`` restores the paper's behaviour.

Every split is a pure function of the pool and a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_class_weight

Recipe = Literal["full", "paper"]
FLIPS = ("updown", "leftright", "both")


@dataclass(frozen=True)
class MemberSplit:
    """Train and validation rows for one member.

    ``train``/``val`` have columns ``image_id``, ``y`` and ``aug``; ``aug`` is
    None for an original image or a deterministic augmentation
    ``"flip=<updown|leftright|both>;gamma=<g>"`` for a paper-style copy.
    """

    recipe: str
    seed: int
    train: pd.DataFrame
    val: pd.DataFrame
    class_weight: dict[int, float] | None
    random_flips: bool

    def summary(self) -> dict[str, int | str | None]:
        return {
            "recipe": self.recipe,
            "seed": self.seed,
            "n_train": len(self.train),
            "n_train_mel": int(self.train["y"].sum()),
            "n_val": len(self.val),
            "n_val_mel": int(self.val["y"].sum()),
            "n_augmented": int(self.train["aug"].notna().sum() + self.val["aug"].notna().sum()),
        }


def make_split(
    pool: pd.DataFrame,
    *,
    recipe: Recipe = "full",
    seed: int,
    val_fraction: float = 0.15,
    max_train: int | None = None,
    leak_twins: bool = False,
) -> MemberSplit:
    """Split the training pool for one member.

    Parameters
    ----------
    pool : DataFrame
        Rows with ``image_id`` and ``y`` (1 = melanoma).
    recipe : {"full", "paper"}
    seed : int
        Seeds every random choice of the split and its augmentation.
    val_fraction : float
        Validation share for the ``"full"`` recipe.
    max_train : int, optional
        Cap on training rows (stratified), for smoke runs.
    leak_twins : bool
        ``"paper"`` only: split augmented copies independently of their
        originals, as the paper did (a bug, kept for comparison).
    """
    if pool.empty:
        raise ValueError("the training pool is empty")
    if pool["y"].nunique() < 2:
        raise ValueError("the training pool needs both melanomas and naevi")
    if recipe == "full":
        split = _full_split(pool, seed=seed, val_fraction=val_fraction)
    elif recipe == "paper":
        split = _paper_split(pool, seed=seed, leak_twins=leak_twins)
    else:
        raise ValueError(f"unknown split recipe {recipe!r}; choose 'full' or 'paper'")
    if max_train is not None and len(split.train) > max_train:
        train, _ = train_test_split(
            split.train, train_size=max_train, stratify=split.train["y"], random_state=seed
        )
        split = MemberSplit(
            split.recipe, seed, train, split.val.iloc[: max(max_train // 2, 8)],
            split.class_weight, split.random_flips,
        )
    return split


def _frame(ids: pd.Series, y: pd.Series, aug: list[str | None] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"image_id": ids.to_numpy(), "y": y.to_numpy().astype(int),
         "aug": aug if aug is not None else [None] * len(ids)}
    )


def _full_split(pool: pd.DataFrame, *, seed: int, val_fraction: float) -> MemberSplit:
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = train_test_split(
        pool[["image_id", "y"]], test_size=val_fraction, stratify=pool["y"], random_state=seed
    )
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=train["y"].to_numpy())
    return MemberSplit(
        "full", seed, _frame(train["image_id"], train["y"]), _frame(val["image_id"], val["y"]),
        {0: float(weights[0]), 1: float(weights[1])}, True,
    )


def _paper_split(pool: pd.DataFrame, *, seed: int, leak_twins: bool) -> MemberSplit:
    rng = np.random.default_rng(seed)
    mel = pool[pool["y"] == 1]["image_id"].to_numpy()
    nv = pool[pool["y"] == 0]["image_id"].to_numpy()
    n_mel_total = 2 * len(mel)  # originals + one augmented copy each
    if len(nv) < n_mel_total:
        raise ValueError(
            f"the paper recipe needs {n_mel_total} naevi (2 x {len(mel)} melanomas), "
            f"the pool has {len(nv)}"
        )
    augs = [
        f"flip={FLIPS[rng.integers(3)]};gamma={rng.uniform(0.5, 2.5):.4f}" for _ in mel
    ]
    nv_draw = rng.choice(nv, size=n_mel_total, replace=False)
    half_nv = n_mel_total // 2
    nv_train, nv_val = nv_draw[:half_nv], nv_draw[half_nv:]

    originals = pd.DataFrame({"image_id": mel, "y": 1, "aug": [None] * len(mel)})
    twins = pd.DataFrame({"image_id": mel, "y": 1, "aug": augs})
    if leak_twins:
        # The paper: permute all 2 * n_mel rows and cut, twins land anywhere.
        both = pd.concat([originals, twins], ignore_index=True)
        order = rng.permutation(len(both))
        mel_train, mel_val = both.iloc[order[: len(mel)]], both.iloc[order[len(mel) :]]
    else:
        order = rng.permutation(len(mel))
        cut = len(mel) // 2
        tr, va = order[:cut], order[cut:]
        mel_train = pd.concat([originals.iloc[tr], twins.iloc[tr]])
        mel_val = pd.concat([originals.iloc[va], twins.iloc[va]])

    def assemble(mel_part: pd.DataFrame, nv_ids: np.ndarray) -> pd.DataFrame:
        nv_part = pd.DataFrame({"image_id": nv_ids, "y": 0, "aug": [None] * len(nv_ids)})
        both = pd.concat([mel_part, nv_part], ignore_index=True)
        return both.iloc[rng.permutation(len(both))].reset_index(drop=True)

    return MemberSplit(
        "paper", seed, assemble(mel_train, nv_train), assemble(mel_val, nv_val), None, False
    )


def apply_augmentation(image: np.ndarray, aug: str | None) -> np.ndarray:
    """Apply a paper-style augmentation string to a ``uint8`` image."""
    if not aug:
        return image
    from skimage.exposure import adjust_gamma

    parts = _parse_augmentation(aug)
    out = _flip(image, parts["flip"])
    gamma = float(parts["gamma"])
    out = adjust_gamma(out.astype(np.float32) / 255.0, gamma, gain=1)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def augment_mask(mask: np.ndarray, aug: str | None) -> np.ndarray:
    """The geometric part (the flip) of a paper-style augmentation string, applied to a
    lesion mask so that it stays on the augmented image's lesion."""
    return _flip(mask, _parse_augmentation(aug)["flip"]) if aug else mask


def _parse_augmentation(aug: str) -> dict[str, str]:
    return dict(item.split("=") for item in aug.split(";"))


def _flip(image: np.ndarray, flip: str) -> np.ndarray:
    if flip in ("updown", "both"):
        image = image[::-1]
    if flip in ("leftright", "both"):
        image = image[:, ::-1]
    return image
