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

from dermviz.explain.base import ExplainBatch, Prediction, register
from dermviz.explain.cam_base import MIN_MEANINGFUL_GRID, CAMExplainer, coarse_grid_warning
from dermviz.explain.cam_graph import oriented_grids, signed_grids
from dermviz.explain.cams import TfKerasVisGradCAM
from dermviz.models.blocks import DEFAULT_TARGET_LAYER

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
        ``"tf-keras-vis"``: the reference,
        :class:`~dermviz.explain.cams.TfKerasVisGradCAM`, after a separate
        prediction pass. Same maps (to float32 rounding), so not part of the cache key.

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
        # Built once: construction clones the model (~1 s).
        self._reference = (TfKerasVisGradCAM(model, layer=layer, batch_size=batch_size)
                           if backend == "tf-keras-vis" else None)

    def _predict(self, images: np.ndarray) -> Prediction:
        """The compiled pass: p(melanoma) and the melanoma grids from the same pass."""
        if self._reference is not None:
            return super()._predict(images)
        grids, p_melanoma = signed_grids(self.model, self.layer, images,
                                         batch_size=self.batch_size)
        return Prediction(p_melanoma, by_products={"melanoma_grid": grids})

    def _grids(self, batch: ExplainBatch) -> np.ndarray:
        """The melanoma grids, negated for naevus (the reference backend: tf-keras-vis's)."""
        if self._reference is not None:
            return self._reference._grids(batch)
        return oriented_grids(batch.by_products["melanoma_grid"], batch.targets)
