"""Seeds and ids of suite members and their fits (light: NumPy only).

Every random choice of a suite derives from its seed: each member gets its own
seed (the paper reused seeds, docs/protocol.md §14.5), which fixes its split; each fit of
that member (a search trial, or the single fit of ``dermviz train``) gets a seed
derived from the member seed and the trial number.
"""

from __future__ import annotations

import numpy as np


def derived_seed(*parts: int) -> int:
    """A reproducible 31-bit seed from integers (member seed, trial number, ...)."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0]
    return int(state % (2**31 - 1))


def member_seed(suite_seed: int, index: int) -> int:
    """A distinct, reproducible seed per member."""
    return derived_seed(suite_seed, index)


def fit_seed(member_seed: int, number: int) -> int:
    """The seed of fit ``number`` of a member (weights, data order, flips).

    ``dermviz train`` fits each member once, as fit (trial) 0: the same seed as a
    search's first trial, so a fixed point trains the same model either way.
    """
    return derived_seed(member_seed, number, 1)


def member_id(index: int) -> str:
    """The folder name of member ``index``: ``m00``, ``m01``, ..."""
    return f"m{index:02d}"
