"""InceptionV3 classifiers as flat functional Keras models.

Output form (documented choice): one sigmoid unit, ``p(melanoma)``, in a layer
named ``pred``. The paper used two independent sigmoids (docs/protocol.md §5, §14.8);
one unit keeps melanoma the positive class everywhere and gives both classes'
pre-sigmoid scores for free: the melanoma logit is ``z`` and the naevus logit is
``-z`` (``1 - sigmoid(z) == sigmoid(-z)``).

Inputs are RGB images with values in [0, 255] (``uint8`` cast to float); the
model divides by 255 itself (a ``Rescaling`` layer), as the paper did outside the
model (§3), so every caller feeds the same pixels. The backbone is built on the
rescaled tensor, so the graph is flat: tf-keras-vis needs that (a nested
backbone hides its layers from the gradient model).

Keras is imported inside the functions that build or load models, so that
opening a suite (which names this module) does not start TensorFlow.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dermviz.models.blocks import DEFAULT_TARGET_LAYER, INCEPTION_BLOCKS, MIN_IMAGE_SIZE

if TYPE_CHECKING:
    import keras

__all__ = [
    "DEFAULT_TARGET_LAYER", "INCEPTION_BLOCKS", "MIN_IMAGE_SIZE", "KERAS_WEIGHTS_FILE",
    "WeightsUnavailableError", "build_inception", "keras_cache_weights_path", "layer_grid",
    "load_member_model", "resolve_weights", "seed_initializers",
]

KERAS_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights were asked for but are not available offline."""


def keras_cache_weights_path() -> Path:
    """Where Keras looks for the no-top InceptionV3 ImageNet weights."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "models" / KERAS_WEIGHTS_FILE


def resolve_weights(weights: str | Path | None) -> str | None:
    """Turn the user's ``weights`` option into what Keras accepts.

    ``None``/``"none"``: random initialisation. ``"imagenet"``: the Keras cache
    file must already exist (nothing is downloaded here); otherwise
    :class:`WeightsUnavailableError` says where to put it. A path: a local
    ``.h5``/``.weights.h5`` file for the no-top backbone.
    """
    if weights is None or str(weights).lower() == "none":
        return None
    if str(weights).lower() == "imagenet":
        cached = keras_cache_weights_path()
        if not cached.is_file():
            raise WeightsUnavailableError(
                "ImageNet weights for InceptionV3 are not available offline. Download "
                f"{KERAS_WEIGHTS_FILE} on a machine with internet access and copy it to "
                f"{cached} (or pass its path as the weights), or use weights='none'."
            )
        return str(cached)
    path = Path(weights)
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file not found: {path}")
    return str(path)


def build_inception(
    image_size: int,
    *,
    weights: str | Path | None = None,
    dense_units: int = 128,
    dropout: float = 0.5,
    bn_momentum: float | None = None,
    seed: int | None = None,
) -> keras.Model:
    """Build InceptionV3 + the paper's head, flat, melanoma-positive.

    Parameters
    ----------
    image_size : int
        Square input side in pixels (>= 75).
    weights : {None, "none", "imagenet"} or path
        Backbone weights; see :func:`resolve_weights`.
    dense_units, dropout : int, float
        The head: global average pooling, ``Dense(dense_units, relu,
        he_normal)``, ``Dropout(dropout)``, ``Dense(1, sigmoid)`` (computed in float32,
        also under a mixed-precision policy).
    bn_momentum : float, optional
        Momentum of every BatchNormalization layer's moving statistics (Keras'
        default 0.99). From scratch with few steps, 0.99 leaves the inference
        statistics near their initial values and the model predicts a constant;
        0.9 converges within tens of steps.
    seed : int, optional
        Seeds the initial weights (see :func:`seed_initializers`).

    Returns
    -------
    keras.Model
        Input ``image`` (size, size, 3) in [0, 255]; output ``pred`` (n, 1).
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"InceptionV3 needs image_size >= {MIN_IMAGE_SIZE}, got {image_size}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if dense_units < 1:
        raise ValueError(f"dense_units must be >= 1, got {dense_units}")
    import keras  # heavy: only building a model pays for TensorFlow
    weights_arg = resolve_weights(weights)
    if seed is not None:
        seed_initializers(seed)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    scaled = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    base = keras.applications.InceptionV3(
        include_top=False, weights=weights_arg, input_tensor=scaled
    )
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    x = keras.layers.Dense(
        dense_units, activation="relu", kernel_initializer="he_normal", name="head_dense"
    )(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 whatever the global policy: a bfloat16 sigmoid rounds p to 1.0 from a logit of
    # about 6 (8 bits of mantissa; float16's 11 bits: about 8), where its gradient p(1 - p)
    # and the clipped loss's are 0, and a confidently wrong image stops teaching (a HAM10000
    # member trained under mixed_bfloat16 diverged so). Keras's mixed-precision guide agrees.
    outputs = keras.layers.Dense(1, activation="sigmoid", name="pred", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="dermviz_inception_v3")
    if bn_momentum is not None:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    return model


def seed_initializers(seed: int) -> None:
    """Seed what Keras initialisers and dropout seeds draw from.

    Keras 3 draws default initializer seeds from Python's ``random`` (and some
    code from NumPy's). TensorFlow's global seed is deliberately left alone:
    setting it (as ``keras.utils.set_random_seed`` does) invalidates every traced
    ``tf.function``, so a reused training step would be rebuilt (~20 s).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global RNG Keras reads


def layer_grid(model: Any, layer_name: str) -> tuple[int, int]:
    """Spatial grid (rows, cols) of a layer's output, e.g. (5, 5) for mixed10 at 224."""
    shape = model.get_layer(layer_name).output.shape
    if len(shape) != 4:
        raise ValueError(f"layer {layer_name!r} is not a spatial feature map: {shape}")
    return int(shape[1]), int(shape[2])


def load_member_model(path: str | Path, *, trusted: bool = False) -> keras.Model:
    """Load a saved member in Keras safe mode (no arbitrary code); ``trusted``: safe mode
    off, for an imported member whose file the user trusted (its adapter says so)."""
    import keras  # heavy: only loading a model pays for TensorFlow

    if trusted:
        from dermviz.models.external import load_trusted

        return load_trusted(path)
    return keras.models.load_model(path, compile=False, safe_mode=True)
