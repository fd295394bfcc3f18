"""The input pipeline of every fit: ``uint8`` cache rows -> ``tf.data`` batches.

Images are read from a decoded image cache (:mod:`dermviz.models.image_cache`)
batch by batch and converted to float32 in the pipeline, so neither the ``uint8``
nor the float split is ever held in memory. Order and flips are drawn with NumPy
from a seed and the epoch number (:func:`dermviz.models.image_cache.iter_batches`),
so a fit's data stream is the same in any process.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dermviz.models.augment import augment_with_masks
from dermviz.models.image_cache import ImageCache, iter_batches
from dermviz.models.predict import forward_fn
from dermviz.models.seeds import derived_seed


def make_train_dataset(
    cache: ImageCache, rows: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int,
    weights: np.ndarray | None = None, augs: list | None = None, flips: bool = False,
    masks: ImageCache | None = None, drop_remainder: bool = False, epochs: int | None = None,
) -> Any:
    """A ``tf.data`` pipeline of ``(float32 images, y, sample weight)`` batches.

    Each epoch draws a new order (and flips) from ``seed`` and the epoch number.
    ``drop_remainder`` leaves out each epoch's last, smaller batch (a different set of
    images each epoch), so every batch has one shape: an XLA-compiled step compiles
    once per shape. ``epochs`` makes one stream of that many epochs (fit it with
    ``steps_per_epoch``): one iterator for the whole fit instead of one per epoch.
    With ``masks`` (the lesion-mask cache of the same rows, for GradMask), batches
    are ``((float32 images, float32 masks), y, sample weight)``, masks flipped and
    augmented with their images.
    """
    import tensorflow as tf  # heavy: imported only when a fit starts

    size = cache.shape[1:]
    n_batches = train_steps(len(rows), batch_size=batch_size, drop_remainder=drop_remainder)
    if n_batches == 0:
        raise ValueError(f"drop_remainder with {len(rows)} training images and batch size "
                         f"{batch_size} leaves no batch")
    counter = itertools.count()

    def one_epoch(epoch: int) -> Any:
        batches = iter_batches(
            cache, rows, y, batch_size=batch_size, weights=weights, augs=augs,
            shuffle_seed=derived_seed(seed, epoch), flips=flips, masks=masks,
        )
        return itertools.islice(batches, n_batches)

    def gen() -> Any:
        if epochs is None:  # a new iterator per epoch
            yield from one_epoch(next(counter))
        else:
            for epoch in range(epochs):
                yield from one_epoch(epoch)

    images = tf.TensorSpec((None, *size), tf.uint8)
    signature = (
        images if masks is None else (images, tf.TensorSpec((None, *size[:2]), tf.uint8)),
        tf.TensorSpec((None,), tf.float32),
        tf.TensorSpec((None,), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches * (epochs or 1)))
    ds = ds.map(lambda x, yb, w: (tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), x),
                                  yb, w))
    return _prefetched(ds)


def train_steps(n_images: int, *, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches per epoch of :func:`make_train_dataset`."""
    return n_images // batch_size if drop_remainder else -(-n_images // batch_size)


def augment_dataset(ds: Any, augmenter: Any) -> Any:
    """``ds``'s image batches passed through a Keras augmenter in training mode
    (:func:`dermviz.models.augment.build_augmenter`); None leaves ``ds`` as it is.

    ``(images, masks)`` batches (GradMask) get the geometric layers on both, the
    colour layers on the images only (:func:`dermviz.models.augment.augment_with_masks`).
    """
    if augmenter is None:
        return ds

    def apply(x: Any, yb: Any, w: Any) -> Any:
        if isinstance(x, tuple):
            return augment_with_masks(augmenter, *x), yb, w
        return augmenter(x, training=True), yb, w

    return ds.map(apply)


def make_eval_dataset(
    cache: ImageCache, rows: np.ndarray, y: np.ndarray, *, batch_size: int,
    augs: list | None = None,
) -> Any:
    """``(float32 images, y)`` batches in order, for Keras' validation."""
    import tensorflow as tf  # heavy: imported only when a fit starts

    size = cache.shape[1:]
    n_batches = -(-len(rows) // batch_size)

    def gen() -> Any:
        for x, yb, _ in iter_batches(cache, rows, y, batch_size=batch_size, augs=augs):
            yield x, yb

    signature = (tf.TensorSpec((None, *size), tf.uint8), tf.TensorSpec((None,), tf.float32))
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))
    return _prefetched(ds.map(lambda x, yb: (tf.cast(x, tf.float32), yb)))


def _prefetched(ds: Any) -> Any:
    """``ds`` with two batches prefetched and tf.data's autotuning off.

    With autotuning on, deleting an iterator waited for tf.data's background threads:
    on a 2-core CPU, 15-35 s with the CPU idle, at most epochs' ends and at a fit's
    end (a native stack showed ``~RootDataset::Iterator`` waiting on its thread pool).
    One generator feeds these pipelines, so a fixed buffer of two batches is all
    prefetching can do.
    """
    import tensorflow as tf  # heavy: imported only when a fit starts

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def predict_rows(
    model: Any, cache: ImageCache, rows: np.ndarray, *, batch_size: int,
    augs: list | None = None, eager: bool = False,
) -> np.ndarray:
    """p(melanoma), float32, for cache rows, batch by batch (augmentations applied).

    ``eager`` skips tracing a ``tf.function`` (seconds), for tiny runs.
    """
    fn = (lambda x: model(x, training=False)) if eager else forward_fn(model)
    out = np.empty(len(rows), dtype=np.float32)
    dummy = np.zeros(len(rows), np.float32)
    pos = 0
    for x, _, _ in iter_batches(cache, rows, dummy, batch_size=batch_size, augs=augs):
        p = np.asarray(fn(x.astype(np.float32)), dtype=np.float32)[:, 0]
        out[pos : pos + len(p)] = p
        pos += len(p)
    return out
