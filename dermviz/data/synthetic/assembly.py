"""The synthetic data set: splits, labels, artefact flags and the pixel source.

The table is tiny: every image is a pure function of a few numbers stored in its
row (``seed``, ``dx``, ``difficulty`` and the artefact flags), and
:class:`SyntheticSource` renders the pixels on demand.

Determinism
-----------
Per-image seeds come from :class:`numpy.random.SeedSequence` keyed by
``(config.seed, split, position)``, so a hold-out image is the same whatever
``n_train`` is, and the first ``k`` pool images only depend on ``n_train`` through
the label shuffle. Labels are shuffled and artefact flags drawn from their own
streams of ``config.seed``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd

from dermviz.data.dataset import LABELS, Dataset
from dermviz.data.synthetic.config import (
    ARTEFACT_NAMES,
    SPLIT_KEYS,
    ArtefactSpec,
    SyntheticConfig,
)
from dermviz.data.synthetic.renderer import evidence_structures, lesion_atypia, render_cached


class SyntheticSource:
    """Renders the pixels of a synthetic table row (an :class:`ImageSource`).

    A row needs ``seed``, ``dx``, ``difficulty`` and one boolean column per
    artefact in :data:`ARTEFACT_NAMES` (missing flags count as False); an
    ``evidence`` column (else the config's) selects the evidence mode. The last
    few renders are cached, so reading a row's image and then its mask renders
    once.

    Parameters
    ----------
    config : SyntheticConfig
        The generator parameters (for the image size and :meth:`describe`).
    """

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def _render_row(
        self, row: pd.Series, *, counterfactual: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        width, height = self.config.native_size
        difficulty = float(row["difficulty"]) if "difficulty" in row else self.config.difficulty
        drawn = frozenset(name for name in ARTEFACT_NAMES if name in row and bool(row[name]))
        mode = "off"
        if self.evidence_mode(row):
            mode = "removed" if counterfactual else "on"
        elif counterfactual:
            raise ValueError(f"row {row.get('image_id', '?')!r} is not an evidence-mode image: "
                             "it has no counterfactual")
        return render_cached(int(row["seed"]), str(row["dx"]), difficulty, width, height, drawn,
                             mode, self.config.evidence_families)

    def evidence_mode(self, row: pd.Series) -> bool:
        """Whether ``row`` is drawn in the evidence mode (its column, else the config)."""
        return bool(row["evidence"]) if "evidence" in row else self.config.evidence

    def read_image(self, row: pd.Series) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3) image of ``row``."""
        return self._render_row(row)[0].copy()

    def read_mask(self, row: pd.Series) -> np.ndarray:
        """Boolean (H, W) lesion mask of ``row``."""
        return self._render_row(row)[1].copy()

    def read_structure_masks(self, row: pd.Series) -> np.ndarray:
        """Boolean (S, H, W) structure masks of an evidence-mode ``row``, one per name in
        ``STRUCTURE_NAMES`` (their union is the evidence mask)."""
        if not self.evidence_mode(row):
            raise ValueError(f"row {row.get('image_id', '?')!r} is not an evidence-mode image: "
                             "it has no evidence mask")
        return self._render_row(row)[2].copy()

    def read_counterfactual(self, row: pd.Series) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3) image of an evidence-mode ``row`` without its evidence."""
        return self._render_row(row, counterfactual=True)[0].copy()

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (the config) to rebuild the source."""
        return {"kind": "synthetic", "config": self.config.to_dict()}


def _image_seed(master: int, split: str, position: int) -> int:
    state = np.random.SeedSequence(master, spawn_key=(SPLIT_KEYS[split], position))
    lo, hi = (int(v) for v in state.generate_state(2, np.uint32))
    return ((hi & 0x1FFFFF) << 32) | lo  # 53 bits: exact in int64 and float64


def make_synthetic(config: SyntheticConfig | None = None, **overrides: Any) -> Dataset:
    """Build the synthetic data set.

    Parameters
    ----------
    config : SyntheticConfig, optional
        Generator parameters; defaults to ``SyntheticConfig()``.
    **overrides
        Fields of :class:`SyntheticConfig` replacing those of ``config``
        (``make_synthetic(n_train=100, seed=3)``).

    Returns
    -------
    Dataset
        ``name="synthetic"``. Rows: the hold-out first (``syn_000000`` ... in
        ``test_index`` order, melanomas then naevi), then the training pool with
        its labels shuffled. Besides the required columns the table has
        ``seed``, ``difficulty``, ``atypia`` (latent melanoma-likeness, see
        :func:`lesion_atypia`) and one boolean column per artefact name. In the
        evidence mode it also has ``evidence`` (True) and ``structures`` (the names
        drawn, joined by ``"+"``, see :func:`evidence_structures`).
        ``has_mask`` is True everywhere; one image per lesion.

    Raises
    ------
    ValueError
        For invalid parameters.
    TypeError
        For an override that is not a config field.
    """
    config = config if config is not None else SyntheticConfig()
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    if overrides:
        known = {f.name for f in fields(SyntheticConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown SyntheticConfig field(s): {unknown}; known: {sorted(known)}")
        config = replace(config, **overrides)

    half = config.n_test // 2
    n_mel_train = int(round(config.n_train * config.mel_fraction))
    train_dx = np.array(["mel"] * n_mel_train + ["nv"] * (config.n_train - n_mel_train))
    shuffle_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(2,)))
    train_dx = train_dx[shuffle_rng.permutation(config.n_train)]

    parts = []
    for split, dx in (("test", np.array(["mel"] * half + ["nv"] * half)), ("train", train_dx)):
        n = len(dx)
        seeds = [_image_seed(config.seed, split, k) for k in range(n)]
        flag_rng = np.random.default_rng(
            np.random.SeedSequence(config.seed, spawn_key=(3, SPLIT_KEYS[split]))
        )
        draws = flag_rng.random((n, len(ARTEFACT_NAMES)))
        specs = config.artefact_specs(split)
        part = {
            "split": [split] * n,
            "dx": dx.astype(object),
            "test_index": np.arange(n) if split == "test" else np.full(n, -1),
            "seed": np.array(seeds, dtype=np.int64),
        }
        for j, name in enumerate(ARTEFACT_NAMES):
            spec = specs.get(name, ArtefactSpec())
            probs = np.where(dx == "mel", spec.p_mel, spec.p_nv)
            part[name] = draws[:, j] < probs
        parts.append(pd.DataFrame(part))

    table = pd.concat(parts, ignore_index=True)
    n_total = len(table)
    table.insert(0, "image_id", [f"syn_{i:06d}" for i in range(n_total)])
    table.insert(1, "lesion_id", [f"synles_{i:06d}" for i in range(n_total)])
    table["y"] = table["dx"].map(LABELS).astype(np.int64)
    table["test_index"] = table["test_index"].astype(np.int64)
    table["has_mask"] = True
    table["difficulty"] = config.difficulty
    table["atypia"] = [
        lesion_atypia(seed=int(s), label=str(d), difficulty=config.difficulty,
                      evidence=config.evidence)
        for s, d in zip(table["seed"], table["dx"], strict=True)
    ]
    for name in ARTEFACT_NAMES:
        table[name] = table[name].astype(bool)
    columns = [
        "image_id",
        "lesion_id",
        "dx",
        "y",
        "split",
        "test_index",
        "has_mask",
        "seed",
        "difficulty",
        "atypia",
        *ARTEFACT_NAMES,
    ]
    if config.evidence:
        table["evidence"] = True
        table["structures"] = [
            "+".join(evidence_structures(seed=int(s), label=str(d),
                                         families=config.evidence_families))
            for s, d in zip(table["seed"], table["dx"], strict=True)
        ]
        columns += ["evidence", "structures"]
    table = table[columns]

    counts = {
        f"{split}/{dx}/{name}": int(
            table.loc[(table["split"] == split) & (table["dx"] == dx), name].sum()
        )
        for split in ("train", "test")
        for dx in ("mel", "nv")
        for name in ARTEFACT_NAMES
    }
    info = {"generator": "dermviz.data.synthetic", "artefact_counts": counts}
    return Dataset(name="synthetic", table=table, source=SyntheticSource(config), info=info)
