"""Batched forward passes: p(melanoma) for arrays of images."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

_FORWARD: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
#: The attribute a model carries when its passes should be XLA-compiled
#: (:func:`dermviz.models.precision_choice.twin_for` sets it).
JIT_ATTRIBUTE = "_dermviz_jit_compile"


def is_jit(model: Any) -> bool:
    """Whether ``model``'s passes should be XLA-compiled (``jit_compile``)."""
    return bool(getattr(model, JIT_ATTRIBUTE, False))


def forward_fn(model: Any) -> Any:
    """A ``tf.function`` inference pass for ``model``, traced once per input shape;
    XLA-compiled where the model is marked for it
    (:func:`is_jit`)."""
    fn = _FORWARD.get(model)
    if fn is None:
        import tensorflow as tf  # heavy: only a forward pass pays for it

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                         jit_compile=is_jit(model))
        _FORWARD[model] = fn
    return fn


def predict_proba(model: Any, images: np.ndarray, *, batch_size: int = 32) -> np.ndarray:
    """p(melanoma), float32 (n,), for images with values in [0, 255].

    The array is fed batch by batch as float32, so memory stays at one batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images)
    out = np.empty(len(images), dtype=np.float32)
    fn = forward_fn(model)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32, copy=False)
        out[start : start + len(batch)] = np.asarray(fn(batch))[:, 0]
    return out
