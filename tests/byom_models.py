"""Three small classifiers "trained elsewhere", built in-process for the import tests.

Each stands for a kind of model a researcher brings (issue 29), at 64 px with few
filters so the tests stay cheap; weights are random (seeded), the architectures and the
output and preprocessing conventions are the real ones:

- :func:`mobilenet_style`: MobileNetV2-style blocks (``block_1_...``), a two-class
  softmax, inputs in [-1, 1] scaled outside the model (``--preprocessing tf``);
- :func:`efficientnet_style`: EfficientNet-style blocks (``block1a_...``), a 7-class
  softmax over HAM10000's classes with melanoma at index 4 (``--melanoma-class 4``),
  ImageNet ("torch") normalisation outside the model;
- :func:`rescaling_cnn`: a plain CNN with its own ``Rescaling`` layer and one sigmoid.

:data:`SPECS` says, per model, the import options and how to feed the model itself (the
declared preprocessing) and read its p(melanoma), which the tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 64
#: HAM10000's seven classes in the order ISIC 2018's task 3 lists them.
HAM_CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")
_IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _seeded(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


def mobilenet_style(seed: int = 1) -> Any:
    """Inverted-residual blocks named as MobileNetV2's; 2-class softmax; [-1, 1] outside."""
    import keras
    from keras import layers

    _seeded(seed)
    inp = keras.Input((SIZE, SIZE, 3), name="input_1")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inp)
    x = layers.BatchNormalization(name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for b, stride in ((1, 2), (2, 1), (3, 2)):
        y = layers.Conv2D(24, 1, use_bias=False, name=f"block_{b}_expand")(x)
        y = layers.BatchNormalization(name=f"block_{b}_expand_BN")(y)
        y = layers.ReLU(6.0, name=f"block_{b}_expand_relu")(y)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                   name=f"block_{b}_depthwise")(y)
        y = layers.BatchNormalization(name=f"block_{b}_depthwise_BN")(y)
        y = layers.ReLU(6.0, name=f"block_{b}_depthwise_relu")(y)
        y = layers.Conv2D(8, 1, use_bias=False, name=f"block_{b}_project")(y)
        y = layers.BatchNormalization(name=f"block_{b}_project_BN")(y)
        x = layers.Add(name=f"block_{b}_add")([x, y]) if stride == 1 else y
    x = layers.Conv2D(32, 1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
    out = layers.Dense(2, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name="mobilenetv2_style")


def efficientnet_style(seed: int = 2) -> Any:
    """MBConv blocks named as EfficientNet's, a nested backbone; 7-class softmax,
    melanoma at 4; ImageNet normalisation outside (the backbone has no rescaling)."""
    import keras
    from keras import layers

    _seeded(seed)
    inp = keras.Input((SIZE, SIZE, 3), name="input_2")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("swish", name="stem_activation")(x)
    for name, stride in (("block1a", 1), ("block2a", 2), ("block2b", 1), ("block3a", 2)):
        y = layers.Conv2D(16, 1, use_bias=False, name=f"{name}_expand_conv")(x)
        y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = layers.Activation("swish", name=f"{name}_expand_activation")(y)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False,
                                   name=f"{name}_dwconv")(y)
        y = layers.BatchNormalization(name=f"{name}_bn")(y)
        y = layers.Activation("swish", name=f"{name}_activation")(y)
        se = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(y)
        se = layers.Conv2D(4, 1, activation="swish", name=f"{name}_se_reduce")(se)
        se = layers.Conv2D(16, 1, activation="sigmoid", name=f"{name}_se_expand")(se)
        y = layers.Multiply(name=f"{name}_se_excite")([y, se])
        y = layers.Conv2D(8, 1, use_bias=False, name=f"{name}_project_conv")(y)
        y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
        x = layers.Add(name=f"{name}_add")([x, y]) if stride == 1 else y
    x = layers.Conv2D(32, 1, use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    x = layers.Activation("swish", name="top_activation")(x)
    backbone = keras.Model(inp, x, name="efficientnet_style_backbone")
    outer = keras.Input((SIZE, SIZE, 3), name="image_in")
    y = backbone(outer)
    y = layers.GlobalAveragePooling2D(name="avg_pool")(y)
    y = layers.Dropout(0.2, name="top_dropout")(y)
    out = layers.Dense(len(HAM_CLASSES), activation="softmax", name="predictions")(y)
    return keras.Model(outer, out, name="efficientnet_style")


def rescaling_cnn(seed: int = 3) -> Any:
    """A plain CNN (no named blocks) with its own Rescaling layer and one sigmoid unit."""
    import keras
    from keras import layers

    _seeded(seed)
    return keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        layers.Rescaling(1.0 / 255, name="rescaling"),
        layers.Conv2D(8, 3, strides=2, activation="relu", name="conv_a"),
        layers.Conv2D(16, 3, strides=2, activation="relu", name="conv_b"),
        layers.Conv2D(16, 3, activation="relu", name="conv_c"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(8, activation="relu", name="hidden"),
        layers.Dense(1, activation="sigmoid", name="melanoma"),
    ], name="rescaling_cnn")


@dataclass(frozen=True)
class ModelSpec:
    """One test model: how it is built and imported, and what p(melanoma) it gives.

    ``own_inputs(pixels)`` is the declared preprocessing of pixels in [0, 255];
    ``own_p(outputs)`` reads p(melanoma) from the model's own outputs.
    """

    name: str
    build: Callable[[], Any]
    options: dict[str, Any]
    own_inputs: Callable[[np.ndarray], np.ndarray]
    own_p: Callable[[np.ndarray], np.ndarray]
    layer: str
    stage_kind: str
    block_stages: tuple[str, ...] = field(default=())


SPECS = {
    "mobilenet": ModelSpec(
        "mobilenet", mobilenet_style, {"preprocessing": "tf"},
        own_inputs=lambda x: x / 127.5 - 1.0, own_p=lambda out: out[:, 1],
        layer="out_relu", stage_kind="blocks", block_stages=("head", "block_3", "block_2",
                                                             "block_1", "stem"),
    ),
    "efficientnet": ModelSpec(
        "efficientnet", efficientnet_style, {"preprocessing": "torch", "melanoma_class": 4},
        own_inputs=lambda x: (x / 255.0 - _IMAGENET_MEAN) / _IMAGENET_STD,
        own_p=lambda out: out[:, 4], layer="top_activation", stage_kind="blocks",
        block_stages=("head", "block3a", "block2b", "block2a", "block1a", "stem"),
    ),
    "cnn": ModelSpec(
        "cnn", rescaling_cnn, {}, own_inputs=lambda x: x, own_p=lambda out: out[:, 0],
        layer="conv_c", stage_kind="every",
    ),
}


def save_model(spec: ModelSpec, folder: Path) -> Path:
    """Build the model and save it as ``<folder>/<name>.keras``."""
    path = Path(folder) / f"{spec.name}.keras"
    spec.build().save(path)
    return path
