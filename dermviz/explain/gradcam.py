"""GradCAM on an Inception block: one compiled forward and backward pass per batch.

Follows the paper (docs/protocol.md §8): the gradient of the *pre-sigmoid* score of the
explained class with respect to the output of the target layer (``mixed10`` by
default, the concatenated block output, not the conv before it), channel
weights = spatial mean of the gradients, ReLU of the weighted sum, bicubic
upsampling to the input size, min-max normalisation to [0, 1]. With one
sigmoid output ``z``, the melanoma score is ``z`` and the naevus score ``-z``.

The maps come from :mod:`dermviz.explain.cam_graph`: one ``tf.function`` gives the
melanoma grids and p(melanoma) from the same pass; the explained class is then
known, and naevus grids are the negated melanoma grids. tf-keras-vis computes the
same maps (``backend="tf-keras-vis"``, the reference; not part of the cache key)
at several times the cost: a separate prediction pass, and a gradient model
rebuilt per call.

References
----------
.. [1] Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
   Gradient-based Localization", ICCV 2017.
.. [2] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019,
   arXiv:1908.06612.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dermviz.explain.base import SaliencyMaps, check_images, register, resolve_targets
from dermviz.explain.cam_base import (
    MIN_MEANINGFUL_GRID,
    CAMExplainer,
    coarse_grid_warning,
    logit_score,
    tf_keras_vis_grids,
)
from dermviz.explain.cam_graph import signed_grids
from dermviz.models.blocks import DEFAULT_TARGET_LAYER
from dermviz.models.predict import predict_proba

__all__ = ["BACKENDS", "MIN_MEANINGFUL_GRID", "GradCAM", "coarse_grid_warning"]

#: How GradCAM can be computed; both give the same maps.
BACKENDS = ("compiled", "tf-keras-vis")


@register
class GradCAM(CAMExplainer):
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
    backend : {"compiled", "tf-keras-vis"}
        ``"compiled"``: one compiled pass gives grids and p(melanoma).
        ``"tf-keras-vis"``: the reference, ``tf_keras_vis.gradcam.Gradcam`` after a
        separate prediction pass. Same maps (to float32 rounding), so not part of
        the cache key.

    Notes
    -----
    ``explain`` returns extras ``grid_cam`` (n, h, w) float32: the explained class's
    signed grid, before ReLU and upsampling.
    """

    name = "gradcam"
    display_name = "GradCAM"
    uncached_params = ("batch_size", "backend")

    def __init__(
        self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, batch_size: int = 32,
        backend: str = "compiled",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown GradCAM backend {backend!r}; choose from {list(BACKENDS)}")
        super().__init__(model, layer=layer, batch_size=batch_size)
        self.backend = backend
        self._reference = None
        if backend == "tf-keras-vis":
            # Heavy: tf-keras-vis imports TensorFlow, so only this backend pays for it.
            from tf_keras_vis.gradcam import Gradcam
            from tf_keras_vis.utils.model_modifiers import ReplaceToLinear

            # Built once: construction clones the model (~1 s); ReplaceToLinear acts
            # on the clone, so `model` keeps its sigmoid.
            self._reference = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)

    def explain(
        self,
        images: np.ndarray,
        *,
        target_class: int | np.ndarray | None = None,
        threshold: float = 0.5,
    ) -> SaliencyMaps:
        images = check_images(images)
        if self._reference is None:
            # Melanoma grids and p(melanoma) from one pass; naevus grids are their negation.
            grids, p_mel = signed_grids(self.model, self.layer, images,
                                        batch_size=self.batch_size)
            targets = resolve_targets(target_class, p_mel, threshold)
            grids *= np.where(targets == 1, 1.0, -1.0).astype(np.float32)[:, None, None]
        else:
            p_mel = predict_proba(self.model, images, batch_size=self.batch_size)
            targets = resolve_targets(target_class, p_mel, threshold)
            grids = self._batched(self._reference_grids, images, targets)
        return self._result(images, grids, p_mel, targets)

    def _reference_grids(self, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return tf_keras_vis_grids(
            self._reference, logit_score(targets), images, layer=self.layer, grid=self.grid,
            activation_modifier=None,  # keep the signed grid; ReLU comes in upsampling
        )
