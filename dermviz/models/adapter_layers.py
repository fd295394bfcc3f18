"""The two Keras layers a model adapter adds around an imported classifier.

:class:`InputPreprocessing` takes dermviz's pixels (RGB in [0, 255]) to what the
imported model was trained on; :class:`MelanomaLogit` turns the model's class
scores (before their sigmoid or softmax) into one melanoma-vs-rest logit. A sigmoid
named ``pred`` on that logit gives the adapted model dermviz's output contract
(:mod:`dermviz.models.adapter`).

Both are registered Keras serialisables without weights, so a model holding them
clones (tf-keras-vis, the randomization checks) and saves without ``Lambda`` code.
"""

from __future__ import annotations

from typing import Any

import keras
from keras.applications import imagenet_utils

__all__ = ["PREPROCESSING_MODES", "InputPreprocessing", "MelanomaLogit"]

#: The preprocessing modes (what each does: :data:`dermviz.models.adapter.PREPROCESSING_TEXT`).
PREPROCESSING_MODES = ("raw", "own", "unit", "tf", "caffe", "torch")


@keras.saving.register_keras_serializable(package="dermviz")
class InputPreprocessing(keras.layers.Layer):
    """Pixels in [0, 255] to what an imported model takes.

    Parameters
    ----------
    mode : str
        One of :data:`PREPROCESSING_MODES`; ``"raw"`` and ``"own"`` leave the pixels as they
        are, ``"unit"`` divides by 255; ``"tf"``, ``"caffe"`` and ``"torch"`` are
        Keras' :func:`keras.applications.imagenet_utils.preprocess_input`.
    """

    def __init__(self, mode: str, **kwargs: Any) -> None:
        if mode not in PREPROCESSING_MODES:
            raise ValueError(f"unknown preprocessing {mode!r}; choose from "
                             f"{list(PREPROCESSING_MODES)}")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        x = keras.ops.cast(inputs, self.compute_dtype)
        if self.mode in ("raw", "own"):
            return x
        if self.mode == "unit":
            return x / 255.0
        return imagenet_utils.preprocess_input(x, data_format="channels_last", mode=self.mode)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="dermviz")
class MelanomaLogit(keras.layers.Layer):
    """The melanoma-vs-rest logit ``(n, 1)`` from class scores ``(n, C)`` before activation.

    Parameters
    ----------
    form : {"sigmoid", "softmax"}
        The activation the scores were trained under.
    melanoma_class : int
        The melanoma column ``K``.
    versus_class : int, optional
        Softmax only: the negative class ``J``; None: every other class.

    Notes
    -----
    Sigmoid: ``z_K`` (one unit, or one-vs-rest units). Softmax against the rest:
    ``z_K - logsumexp(z_j, j != K)``, which is ``log p_K - log(1 - p_K)``; against one
    class ``J``: ``z_K - z_J = log p_K - log p_J``.
    """

    def __init__(self, form: str, melanoma_class: int, versus_class: int | None = None,
                 **kwargs: Any) -> None:
        if form not in ("sigmoid", "softmax"):
            raise ValueError(f"form must be 'sigmoid' or 'softmax', got {form!r}")
        super().__init__(**kwargs)
        self.form = form
        self.melanoma_class = int(melanoma_class)
        self.versus_class = None if versus_class is None else int(versus_class)

    def call(self, scores: Any) -> Any:
        k = self.melanoma_class
        z_k = scores[:, k : k + 1]
        if self.form == "sigmoid":
            return z_k
        if self.versus_class is not None:
            j = self.versus_class
            return z_k - scores[:, j : j + 1]
        rest = [c for c in range(int(scores.shape[-1])) if c != k]
        others = keras.ops.take(scores, rest, axis=1)
        return z_k - keras.ops.logsumexp(others, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "form": self.form,
                "melanoma_class": self.melanoma_class, "versus_class": self.versus_class}
