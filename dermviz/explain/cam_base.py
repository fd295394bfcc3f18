"""What every class activation map (CAM) shares: a target layer, its grid, the same finish.

A CAM explainer computes one coarse grid per image on an Inception block's output,
then every CAM is finished alike: ReLU, bicubic upsampling to the input size,
min-max normalisation to [0, 1] (:func:`dermviz.explain.cam_graph.upsample_normalise`),
and a warning when the grid is too coarse to localise anything.

tf-keras-vis (the reference GradCAM, and GradCAM++, LayerCAM, ScoreCAM) is called
the one way that is right for dermviz's flat models (docs/stack.md §2): the layer
by name with ``seek_penultimate_conv_layer=False`` (else ``mixed10`` silently
becomes the conv layer before it), no upsampling and no normalisation inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dermviz.explain.base import Explainer, SaliencyMaps
from dermviz.explain.cam_graph import upsample_normalise
from dermviz.models.blocks import DEFAULT_TARGET_LAYER
from dermviz.models.inception import layer_grid

#: Grids coarser than this (in either direction) get a visible warning.
MIN_MEANINGFUL_GRID = 4


def coarse_grid_warning(
    layer: str, grid: tuple[int, int], image_size: int, *, method: str = "GradCAM"
) -> str | None:
    """The warning shown beside maps whose grid is too coarse to localise anything."""
    if min(grid) >= MIN_MEANINGFUL_GRID:
        return None
    return (
        f"{method} on {layer!r} has a {grid[0]}x{grid[1]} grid at {image_size} px: too coarse "
        f"to localise anything (below {MIN_MEANINGFUL_GRID}x{MIN_MEANINGFUL_GRID}). Use a "
        "larger input or an earlier layer (e.g. mixed7)."
    )


class CAMExplainer(Explainer):
    """Base of the CAMs: maps in [0, 1] on a target layer; higher = more evidence.

    Subclasses implement :meth:`explain` and finish with :meth:`_result`.

    Parameters
    ----------
    model : keras.Model
        A flat functional dermviz model (one sigmoid output named ``pred``).
    layer : str
        Target layer, default ``"mixed10"`` (the paper's); in a suite, the suite's
        configured layer (:meth:`suite_defaults`).
    batch_size : int
        Images (or masked images) per forward pass; not part of the cache key.
    **params
        The subclass's further parameters (part of the cache key).
    """

    signed = False
    user_options = {
        "layer": "target layer, an Inception block (default: the suite's configured layer)",
    }

    @classmethod
    def suite_defaults(cls, suite: Any) -> dict[str, Any]:
        """The suite's configured target layer (``gradcam_layer``), else the paper's."""
        return {"layer": suite.config.get("gradcam_layer", DEFAULT_TARGET_LAYER)}

    def __init__(
        self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, batch_size: int = 32,
        **params: Any,
    ) -> None:
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        super().__init__(model, layer=layer, **params)
        self.layer = layer
        self.grid = layer_grid(model, layer)
        self.batch_size = int(batch_size)

    def _batched(
        self, grids_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
        images: np.ndarray, targets: np.ndarray, *, per_call: int | None = None,
    ) -> np.ndarray:
        """``grids_of(images, targets)`` over ``per_call`` images at a time (default batch_size)."""
        step = per_call or self.batch_size
        grids = np.zeros((len(images), *self.grid), dtype=np.float32)
        for start in range(0, len(images), step):
            stop = start + step
            grids[start:stop] = grids_of(images[start:stop], targets[start:stop])
        return grids

    def _result(
        self, images: np.ndarray, grids: np.ndarray, p_melanoma: np.ndarray,
        targets: np.ndarray,
    ) -> SaliencyMaps:
        """Upsample and normalise ``grids`` (n, h, w) into the method's :class:`SaliencyMaps`."""
        height, width = images.shape[1:3]
        warning = coarse_grid_warning(self.layer, self.grid, height, method=self.display_name)
        return SaliencyMaps(
            method=self.name,
            maps=upsample_normalise(grids, (height, width)),
            target_class=targets,
            p_melanoma=np.asarray(p_melanoma, dtype=np.float32),
            grid=self.grid,
            params=self.params(),
            extras={"grid_cam": np.asarray(grids, dtype=np.float32)},  # before upsampling
            warnings=[warning] if warning else [],
        )


def logit_score(targets: np.ndarray) -> Callable[[Any], Any]:
    """tf-keras-vis score of the explained classes from the pre-sigmoid output ``z``.

    Melanoma's score is ``z``, naevus's ``-z`` (one sigmoid unit), so each image's
    score is ``z`` times its sign; use with ``ReplaceToLinear``.
    """
    import tensorflow as tf  # heavy: only computing maps pays for it

    signs = tf.constant(np.where(np.asarray(targets) == 1, 1.0, -1.0), dtype=tf.float32)

    def score(output: Any) -> Any:
        return output[:, 0] * signs

    return score


def tf_keras_vis_grids(
    visualizer: Any, score: Callable[[Any], Any], images: np.ndarray, *, layer: str,
    grid: tuple[int, int], **options: Any,
) -> np.ndarray:
    """One tf-keras-vis CAM call on the layer named ``layer``: raw grids ``(n, *grid)``.

    ``options`` go to the visualizer's call (e.g. ``activation_modifier``); the
    layer is used as named, and the grid is neither upsampled nor normalised.
    """
    cams = visualizer(
        score, images, penultimate_layer=layer,
        seek_penultimate_conv_layer=False,  # else mixed10 resolves to the conv before it
        expand_cam=False, normalize_cam=False, **options,
    )
    return np.asarray(cams, dtype=np.float32).reshape(len(images), *grid)
