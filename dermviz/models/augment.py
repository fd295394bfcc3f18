"""On-line augmentation of training images: Keras preprocessing layers, seeded, switchable.

Dermoscopy has no canonical orientation, and colour and exposure vary between cameras and
clinics: flips and 90-degree turns are free symmetries, small rotations and zoom mimic the
framing, and brightness, contrast, saturation and hue jitter mimic the optics. Each part is
switched on and sized in the suite config (``[augment]``), applied to training batches only
(never to validation, hold-out or the images being explained), and seeded per member.

The paper's own scheme, one flipped and gamma-adjusted copy of every training melanoma,
made before the split, is the ``"paper"`` split recipe (``dermviz.data.splits``), not this.

Images are float32 in [0, 255] throughout, as the models take them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

VALUE_RANGE = (0.0, 255.0)


@dataclass(frozen=True)
class AugmentConfig:
    """Which augmentations to apply, and how strongly. Off by default, except flips.

    Attributes
    ----------
    flip : bool
        Random horizontal and vertical flips.
    rot90 : bool
        Random turns by 0, 90, 180 or 270 degrees (square images).
    rotation : float
        Small rotations up to ``rotation`` of a full turn either way (0.05 = +-18 degrees),
        reflecting at the borders.
    zoom : float
        Zoom in or out by up to this fraction.
    brightness, contrast, saturation, hue : float
        Jitter strengths (Keras' ``factor``), 0 for off. Brightness shifts by up to
        this fraction of the value range; contrast and saturation scale by up to this
        fraction; hue turns by up to this fraction of the colour wheel.
    """

    flip: bool = True
    rot90: bool = False
    rotation: float = 0.0
    zoom: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "zoom", "brightness", "contrast", "saturation", "hue"):
            value = getattr(self, name)
            if isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"augment.{name} must be a number in [0, 1], got {value!r}")

    @property
    def active(self) -> bool:
        """Whether any augmentation is switched on."""
        return any(getattr(self, f.name) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AugmentConfig:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown augmentation option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def build_augmenter(config: AugmentConfig, *, seed: int) -> Any:
    """A ``keras.Sequential`` that augments a batch when called with ``training=True``.

    Returns None when nothing is switched on. Each layer draws from its own seed derived
    from ``seed``, so a member's augmentation is reproducible and independent of the
    others'. With ``training=False`` every layer is the identity.
    """
    if not config.active:
        return None
    import keras  # heavy; only training needs it

    layers: list[Any] = []

    def next_seed() -> int:
        return (int(seed) * 1_000_003 + 7919 * len(layers)) % (2**31 - 1)

    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=next_seed()))
    if config.rot90:
        layers.append(RandomRot90(seed=next_seed()))
    if config.rotation:
        layers.append(keras.layers.RandomRotation(config.rotation, fill_mode="reflect",
                                                  seed=next_seed()))
    if config.zoom:
        layers.append(keras.layers.RandomZoom(config.zoom, fill_mode="reflect",
                                              seed=next_seed()))
    if config.brightness:
        layers.append(keras.layers.RandomBrightness(config.brightness, value_range=VALUE_RANGE,
                                                    seed=next_seed()))
    if config.contrast:
        layers.append(keras.layers.RandomContrast(config.contrast, value_range=VALUE_RANGE,
                                                  seed=next_seed()))
    if config.saturation:
        layers.append(keras.layers.RandomSaturation(config.saturation, value_range=VALUE_RANGE,
                                                    seed=next_seed()))
    if config.hue:
        layers.append(keras.layers.RandomHue(config.hue, value_range=VALUE_RANGE,
                                             seed=next_seed()))
    return keras.Sequential(layers, name="augment")


def _rot90_layer_class() -> type:
    import keras

    class _RandomRot90(keras.layers.Layer):
        """Turn each image by a random multiple of 90 degrees (square images)."""

        def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images: Any, training: bool = True) -> Any:
            if not training:
                return images
            ops = keras.ops
            n = ops.shape(images)[0]
            k = keras.random.randint((n,), 0, 4, seed=self.seed_generator)
            turns = [ops.rot90(images, k=i, axes=(1, 2)) for i in range(4)]
            chosen = ops.reshape(k, (-1, 1, 1, 1))
            out = turns[0]
            for i in range(1, 4):
                out = ops.where(ops.equal(chosen, i), turns[i], out)
            return out

    return _RandomRot90


def RandomRot90(*, seed: int | None = None) -> Any:  # noqa: N802 - reads as a layer class
    """A Keras layer turning each image of a square batch by 0, 90, 180 or 270 degrees."""
    return _rot90_layer_class()(seed=seed, name="random_rot90")


#: Layers that move pixels (and so must move a lesion mask with its image).
_GEOMETRIC = ("RandomFlip", "RandomRotation", "RandomZoom", "_RandomRot90")


def augment_with_masks(augmenter: Any, images: Any, masks: Any) -> tuple[Any, Any]:
    """Augment a batch of images and their lesion masks together (training mode).

    Geometric layers (flips, turns, rotation, zoom) see the mask as a fourth channel,
    so it moves exactly as its image does; colour layers see the image only. The
    layers and their seeds are ``augmenter``'s, in its order.

    Parameters
    ----------
    augmenter : keras.Sequential
        From :func:`build_augmenter`.
    images : tensor, float32, (n, H, W, 3)
    masks : tensor, float32, (n, H, W)

    Returns
    -------
    images, masks : tensors
        Masks interpolated by rotation or zoom are thresholded back to {0, 1}.
    """
    import keras  # heavy; only training needs it

    ops = keras.ops
    x = ops.concatenate([images, ops.expand_dims(ops.cast(masks, images.dtype), -1)], axis=-1)
    for layer in augmenter.layers:
        if type(layer).__name__ in _GEOMETRIC:
            x = layer(x, training=True)
        else:
            x = ops.concatenate([layer(x[..., :3], training=True), x[..., 3:]], axis=-1)
    mask = ops.cast(x[..., 3] > 0.5, images.dtype)
    return x[..., :3], mask
