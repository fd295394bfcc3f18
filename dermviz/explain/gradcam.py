"""GradCAM on an Inception block, through tf-keras-vis.

Follows the paper (docs/protocol.md §8): the gradient of the *pre-sigmoid* score of the
explained class with respect to the output of the target layer (``mixed10`` by
default, the concatenated block output, not the conv before it), channel
weights = spatial mean of the gradients, ReLU of the weighted sum, bicubic
upsampling to the input size, min-max normalisation to [0, 1]. With one
sigmoid output ``z``, the melanoma score is ``z`` and the naevus score ``-z``.

References
----------
.. [1] Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
   Gradient-based Localization", ICCV 2017.
.. [2] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
   arXiv:1908.06612.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from dermviz.explain.base import (
    Explainer,
    SaliencyMaps,
    check_images,
    register,
    resolve_targets,
)
from dermviz.models.blocks import DEFAULT_TARGET_LAYER
from dermviz.models.inception import layer_grid
from dermviz.models.predict import predict_proba

#: Grids coarser than this (in either direction) get a visible warning.
MIN_MEANINGFUL_GRID = 4


def coarse_grid_warning(layer: str, grid: tuple[int, int], image_size: int) -> str | None:
    """The warning shown beside maps whose grid is too coarse to localise anything."""
    if min(grid) >= MIN_MEANINGFUL_GRID:
        return None
    return (
        f"GradCAM on {layer!r} has a {grid[0]}x{grid[1]} grid at {image_size} px: too coarse "
        f"to localise anything (below {MIN_MEANINGFUL_GRID}x{MIN_MEANINGFUL_GRID}). Use a "
        "larger input or an earlier layer (e.g. mixed7)."
    )


@register
class GradCAM(Explainer):
    """GradCAM maps in [0, 1]; higher = more evidence for the explained class.

    Parameters
    ----------
    model : keras.Model
        A flat functional dermviz model (one sigmoid output named ``pred``).
    layer : str
        Target layer, default ``"mixed10"`` (the paper's); in a suite, the suite's
        configured layer (:meth:`suite_defaults`).
    batch_size : int
        Images per gradient computation (not part of the cache key).
    """

    name = "gradcam"
    display_name = "GradCAM"
    signed = False
    user_options = {
        "layer": "target layer, an Inception block (default: the suite's configured layer)",
    }

    @classmethod
    def suite_defaults(cls, suite: Any) -> dict[str, Any]:
        """The suite's configured target layer (``gradcam_layer``), else the paper's."""
        return {"layer": suite.config.get("gradcam_layer", DEFAULT_TARGET_LAYER)}

    def __init__(self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, batch_size: int = 32):
        super().__init__(model, layer=layer)
        # Heavy: tf-keras-vis imports TensorFlow, so only building a GradCAM pays for it.
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

        self.layer = layer
        self.grid = layer_grid(model, layer)
        self.batch_size = int(batch_size)
        # Built once: construction clones the model (~1 s); ReplaceToLinear acts on
        # the clone, so `model` keeps its sigmoid.
        self._gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)

    def explain(
        self,
        images: np.ndarray,
        *,
        target_class: int | np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> SaliencyMaps:
        images = check_images(images)
        n, height, width = images.shape[:3]
        p_mel = predict_proba(self.model, images, batch_size=self.batch_size)
        targets = resolve_targets(target_class, p_mel, threshold)
        grids = np.zeros((n, *self.grid), dtype=np.float32)
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            grids[start:stop] = self._raw_cams(images[start:stop], targets[start:stop])
        maps = np.stack([_upsample_normalise(g, (height, width)) for g in grids]) if n else (
            np.zeros((0, height, width), np.float32)
        )
        warning = coarse_grid_warning(self.layer, self.grid, height)
        return SaliencyMaps(
            method=self.name,
            maps=maps,
            target_class=targets,
            p_melanoma=p_mel,
            grid=self.grid,
            params=self.params(),
            extras={"grid_cam": grids},  # signed, before ReLU
            warnings=[warning] if warning else [],
        )

    def _raw_cams(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        import tensorflow as tf  # heavy: only computing maps pays for it

        signs = tf.constant(np.where(targets == 1, 1.0, -1.0), dtype=tf.float32)

        def score(output: Any) -> Any:
            return output[:, 0] * signs

        cams = self._gradcam(
            score,
            images,
            penultimate_layer=self.layer,
            seek_penultimate_conv_layer=False,  # else mixed10 resolves to conv2d_93
            activation_modifier=None,  # keep the signed grid; ReLU comes in upsampling
            expand_cam=False,
            normalize_cam=False,
        )
        return np.asarray(cams, dtype=np.float32).reshape(len(images), *self.grid)


def _upsample_normalise(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU, bicubic upsampling to ``size``, min-max to [0, 1] (all-zero stays zero)."""
    cam = cv2.resize(np.maximum(grid, 0), (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    cam = np.maximum(cam, 0)  # bicubic overshoots below zero
    lo, hi = float(cam.min()), float(cam.max())
    if hi - lo <= 1e-12:
        return np.zeros(size, dtype=np.float32)
    return ((cam - lo) / (hi - lo)).astype(np.float32)
