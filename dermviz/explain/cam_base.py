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

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from dermviz.explain.base import ComputedMaps, ExplainBatch, Explainer
from dermviz.explain.cam_graph import upsample_normalise
from dermviz.models.blocks import DEFAULT_TARGET_LAYER
from dermviz.models.inception import layer_grid
from dermviz.models.precision import with_float32_layers
from dermviz.models.precision_choice import model_precision

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

    Subclasses implement :meth:`_grids`, the raw grids of a batch; every CAM is
    finished alike (:meth:`_compute_maps`).

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
    #: Images per :meth:`_grids` call; None: ``batch_size``.
    images_per_call: ClassVar[int | None] = None

    @classmethod
    def suite_defaults(cls, suite: Any) -> dict[str, Any]:
        """The suite's configured target layer (``gradcam_layer``), else the paper's."""
        return {"layer": suite.config.get("gradcam_layer", DEFAULT_TARGET_LAYER)}

    def __init__(
        self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, batch_size: int = 32,
        **params: Any,
    ) -> None:
        # A bfloat16 model's explained layer computes in float32 (precision_twin's
        # float32_layers): the CAM reads its activations and gradients in float32.
        if model_precision(model) != "float32":
            model = with_float32_layers(model, (layer,))
        super().__init__(model, layer=layer, batch_size=batch_size, **params)
        self.layer = layer
        self.grid: tuple[int, int] = layer_grid(model, layer)

    @abstractmethod
    def _grids(self, batch: ExplainBatch) -> np.ndarray:
        """The method's core: raw grids ``(n, *grid)`` of the explained classes, before ReLU."""

    def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
        """:meth:`_grids` a few images at a time, then ReLU, upsampling and min-max.

        The whole batch is upsampled at once (so a map's low bits do not depend on
        how it was chunked), with the coarse-grid warning.
        """
        height, width = batch.images.shape[1:3]
        grids = np.zeros((len(batch), *self.grid), dtype=np.float32)
        for rows, chunk in batch.chunks(self.images_per_call or self.batch_size):
            grids[rows] = self._grids(chunk)
        warning = coarse_grid_warning(self.layer, self.grid, height, method=self.display_name)
        return ComputedMaps(
            maps=upsample_normalise(grids, (height, width)),
            extras={"grid_cam": grids},  # before upsampling
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
