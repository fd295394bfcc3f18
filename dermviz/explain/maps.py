"""A batch of saliency maps and how they were made: the explain layer's data type.

Keras-free on purpose: the map cache, the pages and the sanity studies read maps
without importing any saliency method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SaliencyMaps:
    """A batch of saliency maps and how they were made.

    Attributes
    ----------
    method : str
        Registry name of the method (``"gradcam"``).
    maps : ndarray, float32, (n, H, W)
        One map per image at input size. Non-negative methods (CAMs) are
        normalised to [0, 1]; signed methods (SHAP) keep their sign and units.
    target_class : ndarray, int, (n,)
        The class each map explains: 1 melanoma, 0 naevus.
    p_melanoma : ndarray, float32, (n,)
        The model's p(melanoma) on each image.
    grid : tuple of int or None
        Resolution of the map before upsampling (rows, cols), e.g. (5, 5) for
        ``mixed10`` at 224 px; None where the notion does not apply.
    params : dict
        JSON-serialisable parameters; part of the cache key.
    extras : dict of str to ndarray
        Method-specific arrays with a leading batch axis (raw grids,
        superpixel values, segmentations).
    warnings : list of str
        Things the user should see next to the maps (e.g. a too-coarse grid).
    """

    method: str
    maps: np.ndarray
    target_class: np.ndarray
    p_melanoma: np.ndarray
    grid: tuple[int, int] | None
    params: dict[str, Any]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.maps.shape[0])

    def item(self, k: int) -> SaliencyMaps:
        """The k-th map as a batch of one."""
        return SaliencyMaps(
            method=self.method,
            maps=self.maps[k : k + 1],
            target_class=self.target_class[k : k + 1],
            p_melanoma=self.p_melanoma[k : k + 1],
            grid=self.grid,
            params=self.params,
            extras={name: arr[k : k + 1] for name, arr in self.extras.items()},
            warnings=list(self.warnings),
        )

    @staticmethod
    def concat(parts: list[SaliencyMaps]) -> SaliencyMaps:
        """Join batches of the same method and parameters."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        return SaliencyMaps(
            method=first.method,
            maps=np.concatenate([p.maps for p in parts]),
            target_class=np.concatenate([p.target_class for p in parts]),
            p_melanoma=np.concatenate([p.p_melanoma for p in parts]),
            grid=first.grid,
            params=first.params,
            extras={k: np.concatenate([p.extras[k] for p in parts]) for k in first.extras},
            warnings=sorted({w for p in parts for w in p.warnings}),
        )
