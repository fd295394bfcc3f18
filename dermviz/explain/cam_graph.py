"""GradCAM as one compiled TensorFlow function per (model, layer): the fast path.

tf-keras-vis computes the same map (it stays the reference, and provides the other CAMs),
but per call it clones the model, rebuilds its gradient graph and runs a separate forward
pass for the predictions: 9-10x the cost of one forward and backward pass. Here one
``tf.function`` per model and layer returns, for a batch,

- the signed GradCAM grid of the melanoma logit ``z``: ``sum_c A_c * mean_hw(dz/dA_c)``
  with ``A`` the layer's output (the naevus score is ``-z``, so its grid is the negation:
  no second pass), and
- p(melanoma) = sigmoid(z) from the same forward pass.

The logit is read before the final sigmoid (its Dense layer's input times its kernel plus
its bias, as tf-keras-vis's ``ReplaceToLinear`` does on a clone; an imported model's
melanoma-vs-rest logit: :func:`dermviz.models.adapter.logit_tensor`).

References
----------
.. [1] Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
   Gradient-based Localization", ICCV 2017.
"""

from __future__ import annotations

import weakref
from typing import Any

import cv2
import numpy as np

from dermviz.models.adapter import logit_tensor

_FUNCTIONS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

#: cv2.resize handles at most this many channels at once.
_CV_MAX_CHANNELS = 512


def gradcam_function(model: Any, layer: str) -> Any:
    """The compiled ``f(images) -> (melanoma grids (n, h, w), p_melanoma (n,))``.

    Built once per model and layer (a weak cache: it goes with the model) and traced once
    per batch shape.
    """
    per_model = _FUNCTIONS.setdefault(model, {})
    fn = per_model.get(layer)
    if fn is None:
        fn = per_model[layer] = _build(model, layer)
    return fn


def _build(model: Any, layer: str) -> Any:
    import keras  # heavy; only computing maps needs it
    import tensorflow as tf

    from dermviz.models.predict import is_jit

    target = model.get_layer(layer).output
    if len(target.shape) != 4:
        raise ValueError(f"layer {layer!r} is not a spatial feature map: {target.shape}")
    logit = logit_tensor(model)  # a dermviz member's or an adapted model's
    graph = keras.Model(model.inputs, [target, logit], name=f"gradcam_{layer}")

    @tf.function(reduce_retracing=True, jit_compile=is_jit(model))
    def run(images: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            features, z = graph(images, training=False)
            score = tf.reduce_sum(z[:, 0])  # each image's score depends on its own input only
        grads = tape.gradient(score, features)
        weights = tf.reduce_mean(grads, axis=(1, 2))  # (n, c)
        grid = tf.einsum("nhwc,nc->nhw", features, weights)
        return grid, tf.sigmoid(z[:, 0])

    return run


def signed_grids(
    model: Any, layer: str, images: np.ndarray, targets: np.ndarray | None = None,
    *, batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """GradCAM grids of the explained classes, and p(melanoma), batch by batch.

    Parameters
    ----------
    images : ndarray, float32, (n, H, W, 3)
        Values in [0, 255].
    targets : ndarray of int, (n,), optional
        1 explains melanoma, 0 naevus (the grid is negated). None: melanoma for all;
        callers that explain the predicted class flip with ``p_melanoma`` afterwards.

    Returns
    -------
    grids : ndarray, float32, (n, h, w)
        Signed, before ReLU.
    p_melanoma : ndarray, float32, (n,)
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    fn = gradcam_function(model, layer)
    grids, probs = [], []
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start : start + batch_size], dtype=np.float32)
        g, p = fn(batch)
        grids.append(np.asarray(g, dtype=np.float32))
        probs.append(np.asarray(p, dtype=np.float32))
    grid_shape = tuple(model.get_layer(layer).output.shape[1:3])
    grids_out = np.concatenate(grids) if grids else np.zeros((0, *grid_shape), np.float32)
    p_out = np.concatenate(probs) if probs else np.zeros(0, np.float32)
    if targets is not None:
        grids_out = oriented_grids(grids_out, targets)
    return grids_out.astype(np.float32), p_out


def oriented_grids(melanoma_grids: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The grids of the explained classes from the melanoma grids ``(n, h, w)``.

    With one sigmoid output the naevus score is ``-z``, so its grid is the negated
    melanoma grid (GradCAM is linear in the score); ``targets``: 1 melanoma, 0 naevus.
    """
    signs = np.where(np.asarray(targets) == 1, 1.0, -1.0).astype(np.float32)
    return np.asarray(melanoma_grids, dtype=np.float32) * signs[:, None, None]


def _upsample(grids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic upsampling of ``(n, h, w)`` grids to ``(n, *size)`` float32, the whole batch
    through ``cv2.resize`` as channels of one image."""
    grids = np.asarray(grids, dtype=np.float32)
    n = len(grids)
    out = np.empty((n, *size), dtype=np.float32)
    for start in range(0, n, _CV_MAX_CHANNELS):
        chunk = np.moveaxis(grids[start : start + _CV_MAX_CHANNELS], 0, -1)
        up = cv2.resize(chunk, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
        out[start : start + chunk.shape[-1]] = np.moveaxis(up.reshape(*size, -1), -1, 0)
    return out


def upsample_signed(grids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Signed CAMs: bicubic upsampling to ``size`` **without** the ReLU, each map divided by
    its largest absolute value, so it lies in [-1, 1] with 0 kept at 0 (paint it with a
    diverging colour map centred on zero); an all-zero grid stays zero.

    Where GradCAM's ReLU keeps only the regions that raise the explained class's score, the
    signed map also shows those that lower it (Selvaraju et al. [1]_ drop them by design).

    Parameters
    ----------
    grids : ndarray, (n, h, w)
        Signed grids (a GradCAM's extras ``grid_cam``).
    size : tuple of int
        ``(H, W)`` of the maps.

    Returns
    -------
    ndarray, float32, (n, H, W)
    """
    grids = np.asarray(grids, dtype=np.float32)
    if grids.ndim != 3:
        raise ValueError(f"grids must be (n, h, w), got shape {grids.shape}")
    if not np.isfinite(grids).all():
        raise ValueError("grids hold NaN or infinite values")
    out = _upsample(grids, size)
    scale = np.abs(out).max(axis=(1, 2), keepdims=True)
    return np.divide(out, scale, out=np.zeros_like(out), where=scale > 1e-12)


def upsample_normalise(grids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU, bicubic upsampling to ``size``, min-max to [0, 1] per map; all-zero stays zero.

    Vectorised: the whole batch goes through ``cv2.resize`` as channels of one image.
    """
    out = _upsample(np.maximum(np.asarray(grids, dtype=np.float32), 0), size)
    np.maximum(out, 0, out=out)  # bicubic overshoots below zero
    lo = out.min(axis=(1, 2), keepdims=True)
    span = out.max(axis=(1, 2), keepdims=True) - lo
    flat = span[:, 0, 0] <= 1e-12
    out = (out - lo) / np.where(span > 1e-12, span, 1.0)
    out[flat] = 0.0
    return out.astype(np.float32)
