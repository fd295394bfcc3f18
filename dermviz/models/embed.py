"""Members' penultimate-layer embeddings, and their per-member cache on disk.

The embedding of an image is what a member's final sigmoid ``Dense`` (layer
``pred``, see :mod:`dermviz.models.inception`) reads: the head's hidden layer
after dropout, which is the identity at inference. It is the feature space in
which the member separates melanomas from naevi, so images close in it are the
cases the member "sees" as alike.

Dermoscopy has no canonical orientation, so by default an image's embedding is the mean
of its four flips' (as is, left-right, up-down, both): the set of four is the same for an
image and for any flip of it, so a flipped copy of a lesion embeds where the lesion does,
and its similar cases do not depend on how the dermatoscope was held.

Cache layout (one file per member, written atomically, no pickle)::

    models/<suite>/embeddings/<member>.npz   image_ids (n,) str, embeddings (n, d) float32,
                                             image_size () int
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.models.adapter import feature_tensor
from dermviz.store.atomic import write_atomic

#: The member's final layer: the embedding is its input.
OUTPUT_LAYER = "pred"
EMBEDDINGS_DIR = "embeddings"

# model -> (embedding model, its traced forward pass). Neither value refers to the
# key model object itself, so an entry goes when the member's model is dropped.
_EMBEDDERS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _embedder(model: Any) -> tuple[Any, Any]:
    entry = _EMBEDDERS.get(model)
    if entry is None:
        import keras  # heavy: only where a model is at hand
        import tensorflow as tf

        try:
            features = feature_tensor(model)  # a dermviz member's or an adapted model's
        except ValueError as err:
            raise ValueError(
                f"model {model.name!r} has no {OUTPUT_LAYER!r} layer; expected a dermviz "
                "member (dermviz.models.inception.build_inception) or an adapted model "
                "(dermviz.models.adapter.adapt)"
            ) from err
        sub = keras.Model(model.inputs, features, name=f"{model.name}_embedding")
        fn = tf.function(lambda x: sub(x, training=False), reduce_retracing=True)
        entry = _EMBEDDERS[model] = (sub, fn)
    return entry


def embedding_model(model: Any) -> Any:
    """A Keras model from ``model``'s input to the input of its ``pred`` layer.

    Built once per model and reused (a new graph costs seconds).
    """
    return _embedder(model)[0]


def embed_images(
    model: Any, images: np.ndarray, *, batch_size: int = 32, flip_invariant: bool = True
) -> np.ndarray:
    """Penultimate-layer embeddings, float32 ``(n, d)``, of images in [0, 255].

    Parameters
    ----------
    model : keras.Model
        A dermviz member.
    images : ndarray, (n, H, W, 3)
        Pixel values in [0, 255] (``uint8`` or float), at the model's input size.
    batch_size : int
        Images per forward pass; memory stays at one batch.
    flip_invariant : bool
        Average the embeddings of the image's four flips (4 passes), so that flipping an
        image does not move it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (n, H, W, 3), got shape {images.shape}")
    sub, fn = _embedder(model)
    dim = int(sub.output.shape[-1])
    out = np.empty((len(images), dim), dtype=np.float32)
    flips = _FLIPS if flip_invariant else _FLIPS[:1]
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32, copy=False)
        total = sum(np.asarray(fn(np.ascontiguousarray(batch[flip])), dtype=np.float64)
                    for flip in flips)
        out[start : start + len(batch)] = total / len(flips)
    return out


#: Index expressions of a batch's four flips: as is, left-right, up-down, both.
_FLIPS = (np.s_[:, :, :], np.s_[:, :, ::-1], np.s_[:, ::-1, :], np.s_[:, ::-1, ::-1])

#: The key of the penultimate-layer embedding among :func:`layer_statistics`' outputs.
EMBEDDING = "embedding"

# model -> {layers: traced forward pass to every layer's channel statistics}.
_STATISTICS: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], Any]] = (
    weakref.WeakKeyDictionary())


def _statistics_fn(model: Any, layers: tuple[str, ...]) -> Any:
    cached = _STATISTICS.setdefault(model, {})
    fn = cached.get(layers)
    if fn is None:
        import keras  # heavy: only where a model is at hand
        import tensorflow as tf

        sub_embed = _embedder(model)[0]  # checks the model has a pred layer
        try:
            outputs = [model.get_layer(name).output for name in layers]
        except ValueError as err:
            raise ValueError(f"model {model.name!r} has no layer among {list(layers)}") from err
        if any(len(o.shape) != 4 for o in outputs):
            raise ValueError(f"layers {list(layers)} must all be spatial feature maps")
        sub = keras.Model(model.inputs, [*outputs, sub_embed.output],
                          name=f"{model.name}_statistics")

        def run(x: Any) -> list[Any]:
            out = sub(x, training=False)
            *maps, embedding = out if isinstance(out, (list, tuple)) else [out]
            stats = [tf.concat([tf.reduce_mean(a, axis=[1, 2]), tf.math.reduce_std(a, axis=[1, 2])],
                               axis=-1) for a in maps]
            return [*stats, embedding]

        # One trace for every batch size (a pool's last, smaller batch retraced otherwise:
        # seconds per member).
        spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
        fn = cached[layers] = tf.function(run, input_signature=[spec])
    return fn


def layer_statistics(
    model: Any, images: np.ndarray, *, layers: Sequence[str], batch_size: int = 32,
    flip_invariant: bool = True,
) -> dict[str, np.ndarray]:
    """Channel statistics of several layers and the penultimate embedding, from one pass.

    For each named layer (a spatial feature map, e.g. an Inception block ``mixed0``) the
    global-average-pooled activations and their spatial standard deviations per channel,
    ``(n, 2 * channels)`` (means first): the features of Lee et al.'s feature ensemble
    [1]_, the standard deviations being texture statistics in the spirit of Sastry and
    Oore's Gram matrices [2]_. One multi-output model serves every layer (built once per
    model and layer set), so the cost is that of :func:`embed_images`.

    Parameters
    ----------
    model : keras.Model
        A dermviz member.
    images : ndarray, (n, H, W, 3)
        Pixel values in [0, 255], at the model's input size.
    layers : sequence of str
        Layer names (no repeats; none: the embedding alone).
    batch_size : int
        Images per forward pass.
    flip_invariant : bool
        Average over the image's four flips, as :func:`embed_images` does.

    Returns
    -------
    dict of str -> ndarray, float32
        One ``(n, 2 * channels)`` array per layer, and :data:`EMBEDDING`: the
        penultimate-layer embedding, equal to :func:`embed_images`'s.

    References
    ----------
    .. [1] Lee, Lee, Lee and Shin, "A Simple Unified Framework for Detecting
       Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018.
    .. [2] Sastry and Oore, "Detecting Out-of-Distribution Examples with Gram Matrices",
       ICML 2020.
    """
    layers = tuple(str(name) for name in layers)
    if len(set(layers)) != len(layers) or EMBEDDING in layers:
        raise ValueError(f"layers must name each layer once (not {EMBEDDING!r}, which is "
                         f"always computed), got {list(layers)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or not len(images):
        raise ValueError(f"images must be (n >= 1, H, W, 3), got shape {images.shape}")
    fn = _statistics_fn(model, layers)
    names = [*layers, EMBEDDING]
    flips = _FLIPS if flip_invariant else _FLIPS[:1]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32, copy=False)
        totals = None
        for flip in flips:
            outs = [np.asarray(o, dtype=np.float64) for o in fn(np.ascontiguousarray(batch[flip]))]
            totals = outs if totals is None else [t + o for t, o in zip(totals, outs, strict=True)]
        for name, total in zip(names, totals, strict=True):
            parts[name].append((total / len(flips)).astype(np.float32))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def embeddings_path(suite_path: str | Path, member_id: str) -> Path:
    """Where a member's training-pool embeddings are cached."""
    return Path(suite_path) / EMBEDDINGS_DIR / f"{member_id}.npz"


def write_embeddings(
    path: str | Path, image_ids: Sequence[str], embeddings: np.ndarray, *, image_size: int
) -> None:
    """Write ids and embeddings to an ``.npz`` atomically."""
    ids = np.asarray([str(i) for i in image_ids])
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != len(ids):
        raise ValueError(f"need (n, d) embeddings for {len(ids)} ids, got shape {emb.shape}")
    buf = io.BytesIO()
    np.savez(buf, image_ids=ids, embeddings=emb, image_size=np.int64(image_size))
    write_atomic(path, lambda fh: fh.write(buf.getvalue()))


def read_embeddings(path: str | Path) -> tuple[list[str], np.ndarray, int]:
    """``(image_ids, embeddings (n, d) float32, image_size)`` from a cache file."""
    with np.load(path, allow_pickle=False) as data:
        return ([str(i) for i in data["image_ids"]], data["embeddings"].astype(np.float32),
                int(data["image_size"]))


def pool_embeddings(
    suite: Any, member_id: str, *, dataset: Any = None, model: Any = None,
    batch_size: int = 32, refresh: bool = False,
) -> tuple[list[str], np.ndarray]:
    """A member's embeddings of the suite's training pool, cached in the suite folder.

    Parameters
    ----------
    suite : dermviz.models.suite.Suite
    member_id : str
    dataset : Dataset, optional
        The suite's dataset (rebuilt from the suite when omitted); pass it to
        avoid rebuilding it per member.
    model : keras.Model, optional
        The member's model (loaded when omitted and the cache is stale).
    batch_size : int
    refresh : bool
        Recompute even when a valid cache exists.

    Returns
    -------
    image_ids : list of str
        The pool's ids, in the dataset's order.
    embeddings : ndarray, (n, d) float32

    Notes
    -----
    A cache is reused only when it holds exactly the pool's ids at the suite's
    image size; anything else (a changed data set, a corrupt file) is recomputed.
    """
    suite.member(member_id)  # unknown members fail before any work
    dataset = dataset if dataset is not None else suite.dataset()
    ids = [str(i) for i in dataset.pool["image_id"]]
    path = embeddings_path(suite.path, member_id)
    if path.is_file() and not refresh:
        try:
            cached_ids, emb, size = read_embeddings(path)
        except (OSError, ValueError, KeyError):
            cached_ids, emb, size = [], np.empty((0, 0), np.float32), -1
        if cached_ids == ids and size == suite.image_size:
            return ids, emb
    model = model if model is not None else suite.load_model(member_id)
    parts = [embed_images(model, x, batch_size=batch_size)
             for _, x in dataset.iter_batches(ids, size=suite.image_size, batch_size=batch_size)]
    dim = int(embedding_model(model).output.shape[-1])
    emb = np.concatenate(parts) if parts else np.empty((0, dim), np.float32)
    write_embeddings(path, ids, emb, image_size=suite.image_size)
    return ids, emb


def image_batches(dataset: Any, ids: Sequence[str], *, size: int, batch_size: int,
                  images: np.ndarray | None = None, name: str = "images"
                  ) -> Iterable[np.ndarray]:
    """``ids``' images at ``size``: ``images`` as one batch where the caller already holds
    them (several members read the same images), else loaded batch by batch.

    ``name`` says in the error what ``ids`` are, where ``images`` is not one per id.
    """
    if images is None:
        return (x for _, x in dataset.iter_batches(ids, size=size, batch_size=batch_size))
    if len(images) != len(ids):
        raise ValueError(f"images holds {len(images)} images; the {name} has {len(ids)}")
    return [images] if len(images) else []


def pool_layer_statistics(
    suite: Any, member_id: str, *, layers: Sequence[str], dataset: Any = None,
    model: Any = None, batch_size: int = 32, images: np.ndarray | None = None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """A member's :func:`layer_statistics` of the suite's training pool, in one pass that
    also (re)writes the member's embedding cache (:func:`pool_embeddings` then reads it).

    ``images``: the pool's images at the suite's size, in the pool's order, where the
    caller already holds them (several members read the same pool); loaded batch by
    batch when omitted.

    Returns
    -------
    image_ids : list of str
        The pool's ids, in the dataset's order.
    features : dict of str -> ndarray
        As :func:`layer_statistics`.
    """
    suite.member(member_id)  # unknown members fail before any work
    dataset = dataset if dataset is not None else suite.dataset()
    model = model if model is not None else suite.load_model(member_id)
    ids = [str(i) for i in dataset.pool["image_id"]]
    batches = image_batches(dataset, ids, size=suite.image_size, batch_size=batch_size,
                            images=images, name="pool")
    parts = [layer_statistics(model, x, layers=layers, batch_size=batch_size)
             for x in batches]
    if not parts:
        raise ValueError(f"suite {suite.name!r} has an empty training pool")
    features = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    write_embeddings(embeddings_path(suite.path, member_id), ids, features[EMBEDDING],
                     image_size=suite.image_size)
    return ids, features
