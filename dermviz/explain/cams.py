"""More class activation maps, through tf-keras-vis: GradCAM++, LayerCAM and ScoreCAM.

Each is one registered method on a target layer, finished like GradCAM (ReLU,
bicubic upsampling, min-max to [0, 1]; :mod:`dermviz.explain.cam_base`) and
called as docs/stack.md §2 requires (the block by name,
``seek_penultimate_conv_layer=False``). Each method keeps tf-keras-vis's own
defaults for its gradient and activation modifiers: they are part of its
definition (GradCAM++ weights positive gradients, LayerCAM weights each position
by its positive gradient). Each says only how to build its visualizer and score the
explained class; :class:`TfKerasVisCAM` calls it. GradCAM's reference backend,
:class:`TfKerasVisGradCAM`, is one of them too.

The explained class's score, with one sigmoid output ``z``:

- GradCAM++ and LayerCAM use the pre-sigmoid score, ``z`` for melanoma and ``-z``
  for naevus (``ReplaceToLinear`` on a clone, as for GradCAM; GradCAM++ takes its
  exponential itself).
- ScoreCAM weights each channel by the explained class's *probability* on the
  image masked by that channel. tf-keras-vis applies a softmax to the model's
  outputs first, which turns one sigmoid unit into a constant 1; so ScoreCAM runs
  on a two-logit view of the model, ``(0, z)``, whose softmax is exactly
  ``(p(naevus), p(melanoma))``. Its ``max_n`` keeps the channels with the largest
  spatial standard deviation (Faster-ScoreCAM): every channel costs one forward
  pass per image (all 2,048 of mixed10 took 29 s per image at 128 px on 2 CPUs,
  docs/stack.md §4c).

References
----------
.. [1] Chattopadhay et al., "Grad-CAM++: Generalized Gradient-Based Visual
   Explanations for Deep Convolutional Networks", WACV 2018.
.. [2] Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for
   Localization", IEEE TIP 30, 2021.
.. [3] Wang et al., "Score-CAM: Score-Weighted Visual Explanations for
   Convolutional Neural Networks", CVPR Workshops 2020.
"""

from __future__ import annotations

import functools
import importlib
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from dermviz.explain.base import ExplainBatch, register
from dermviz.explain.cam_base import CAMExplainer, logit_score, tf_keras_vis_grids
from dermviz.models.adapter import logit_tensor
from dermviz.models.blocks import DEFAULT_TARGET_LAYER

__all__ = [
    "GradCAMPlusPlus",
    "LayerCAM",
    "ScoreCAM",
    "TfKerasVisCAM",
    "TfKerasVisGradCAM",
    "two_logit_model",
]


class TfKerasVisCAM(CAMExplainer):
    """A CAM computed by a tf-keras-vis visualizer; subclasses say which and how.

    :meth:`_grids` calls the visualizer on :attr:`images_per_call` images at a
    time (default ``batch_size``) with the score of the explained classes.
    """

    def __init__(
        self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, batch_size: int = 32,
        **params: Any,
    ) -> None:
        super().__init__(model, layer=layer, batch_size=batch_size, **params)
        # Built once: tf-keras-vis clones the model for its modifiers (~1 s).
        self._visualizer = self._make_visualizer(self.model)  # its explained layer float32

    @abstractmethod
    def _make_visualizer(self, model: Any) -> Any:
        """The tf-keras-vis visualizer object (imports tf-keras-vis: heavy)."""

    @abstractmethod
    def _score(self, targets: np.ndarray) -> Callable[[Any], Any]:
        """The tf-keras-vis score function explaining ``targets`` (1 melanoma, 0 naevus)."""

    def _call_options(self) -> dict[str, Any]:
        """Further keyword arguments of the visualizer call."""
        return {}

    def _grids(self, batch: ExplainBatch) -> np.ndarray:
        return tf_keras_vis_grids(
            self._visualizer, self._score(batch.targets), batch.images, layer=self.layer,
            grid=self.grid, **self._call_options(),
        )


class _LogitCAM(TfKerasVisCAM):
    """A gradient CAM of the pre-sigmoid score (``ReplaceToLinear`` on a clone)."""

    #: The tf-keras-vis class, as ``"module:Class"`` (imported when built).
    visualizer_class: ClassVar[str]

    def _make_visualizer(self, model: Any) -> Any:
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear  # heavy

        module, _, cls = self.visualizer_class.partition(":")
        visualizer = getattr(importlib.import_module(module), cls)
        # ReplaceToLinear acts on the clone, so `model` keeps its sigmoid.
        return visualizer(model, model_modifier=ReplaceToLinear(), clone=True)

    def _score(self, targets: np.ndarray) -> Callable[[Any], Any]:
        return logit_score(targets)


class TfKerasVisGradCAM(_LogitCAM):
    """GradCAM by tf-keras-vis (``tf_keras_vis.gradcam.Gradcam``): the reference.

    Not registered: :class:`~dermviz.explain.gradcam.GradCAM` computes the same maps
    (its default, compiled backend) and uses this one for ``backend="tf-keras-vis"``.
    """

    name = "gradcam"
    display_name = "GradCAM"
    visualizer_class = "tf_keras_vis.gradcam:Gradcam"

    def _call_options(self) -> dict[str, Any]:
        return {"activation_modifier": None}  # keep the signed grid; ReLU comes in upsampling


@register
class GradCAMPlusPlus(_LogitCAM):
    """GradCAM++ maps in [0, 1] (``tf_keras_vis.gradcam_plus_plus.GradcamPlusPlus``).

    Channel weights are positive gradients weighted per position by the closed-form
    ``alpha`` of [1]_ (from the exponential of the class score), so several
    separate regions of evidence show up, not only the strongest.

    Parameters
    ----------
    model : keras.Model
        A flat functional dermviz model.
    layer : str
        Target layer (default ``"mixed10"``; in a suite, its configured layer).
    batch_size : int
        Images per gradient computation (not part of the cache key).

    References
    ----------
    .. [1] Chattopadhay et al., "Grad-CAM++", WACV 2018.
    """

    name = "gradcam_pp"
    display_name = "GradCAM++"
    visualizer_class = "tf_keras_vis.gradcam_plus_plus:GradcamPlusPlus"


@register
class LayerCAM(_LogitCAM):
    """LayerCAM maps in [0, 1] (``tf_keras_vis.layercam.Layercam``).

    Each position's activations are weighted by that position's positive gradients
    (not their spatial mean, as in GradCAM), which keeps fine detail on earlier
    blocks such as ``mixed2``-``mixed5``.

    Parameters
    ----------
    model : keras.Model
        A flat functional dermviz model.
    layer : str
        Target layer (default ``"mixed10"``; in a suite, its configured layer).
    batch_size : int
        Images per gradient computation (not part of the cache key).

    References
    ----------
    .. [1] Jiang et al., "LayerCAM", IEEE TIP 30, 2021.
    """

    name = "layercam"
    display_name = "LayerCAM"
    visualizer_class = "tf_keras_vis.layercam:Layercam"


def two_logit_model(model: Any) -> Any:
    """A view of a one-sigmoid dermviz model with outputs ``(0, z)``, ``z`` its logit.

    Its softmax is ``(1 - sigmoid(z), sigmoid(z)) = (p(naevus), p(melanoma))``: what
    a softmax-based method (tf-keras-vis's ScoreCAM) needs. It shares the model's
    layers and weights (no copy).
    """
    import keras  # heavy; only computing maps needs it

    z = logit_tensor(model)  # a dermviz member's or an adapted model's melanoma logit
    # A named layer: the op keras.ops.concatenate would be auto-named "concatenate",
    # which a loaded InceptionV3 may already use, and functional models need unique names.
    concat = keras.layers.Concatenate(axis=-1, name=f"{model.name}_two_logits")
    return keras.Model(model.inputs, concat([keras.ops.zeros_like(z), z]),
                       name=f"{model.name}_two_logits")


@register
class ScoreCAM(TfKerasVisCAM):
    """ScoreCAM maps in [0, 1] (``tf_keras_vis.scorecam.Scorecam``), gradient-free.

    Each of the ``max_n`` channels of the target layer with the largest spatial
    standard deviation is upsampled, min-max scaled to [0, 1] and multiplies the
    image; the explained class's probability on that masked image is the channel's
    weight. Costs ``max_n`` forward passes per image. Images are explained one at a
    time, since tf-keras-vis picks the channels of a whole call together (and a map
    must not depend on the other images in the batch).

    Parameters
    ----------
    model : keras.Model
        A flat functional dermviz model.
    layer : str
        Target layer (default ``"mixed10"``; in a suite, its configured layer).
    max_n : int
        Channels used, 1 to the layer's channel count (16 by default: fast on a
        CPU; the layer's channel count gives the original ScoreCAM).
    batch_size : int
        Masked images per forward pass (not part of the cache key).

    References
    ----------
    .. [1] Wang et al., "Score-CAM", CVPR Workshops 2020.
    """

    name = "scorecam"
    display_name = "ScoreCAM"
    user_options = {
        **CAMExplainer.user_options,
        "max_n": "channels used (those with the largest spatial spread); each costs one "
        "forward pass per image",
    }
    images_per_task = 4  # max_n forward passes per image
    images_per_call = 1  # channels are chosen per call: a map must not depend on the batch

    def __init__(
        self, model: Any, *, layer: str = DEFAULT_TARGET_LAYER, max_n: int = 16,
        batch_size: int = 32,
    ) -> None:
        channels = int(model.get_layer(layer).output.shape[-1])
        if isinstance(max_n, bool) or int(max_n) != max_n or not 1 <= max_n <= channels:
            raise ValueError(f"max_n must be an integer from 1 to {channels} (the channels of "
                             f"{layer!r}), got {max_n!r}")
        super().__init__(model, layer=layer, max_n=int(max_n), batch_size=batch_size)
        self.max_n = int(max_n)

    def _make_visualizer(self, model: Any) -> Any:
        from tf_keras_vis.scorecam import Scorecam  # heavy

        logits = two_logit_model(model)
        # Scorecam calls `predict` once per image; Keras would draw a progress bar each time.
        logits.predict = functools.partial(type(logits).predict, logits, verbose=0)
        return Scorecam(logits, model_modifier=None)

    def _score(self, targets: np.ndarray) -> Callable[[Any], Any]:
        columns = np.asarray(targets, dtype=np.int64)  # column 1: p(melanoma)

        def score(probabilities: Any) -> Any:
            return probabilities.numpy()[np.arange(len(columns)), columns]

        return score

    def _call_options(self) -> dict[str, Any]:
        return {"max_N": self.max_n, "batch_size": self.batch_size}
