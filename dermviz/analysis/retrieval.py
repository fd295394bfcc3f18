"""Similar cases: the training images whose embeddings are closest to a query's.

Similarity is the cosine between members' penultimate-layer embeddings
(:mod:`dermviz.models.embed`). Two documented choices:

* **Centring.** A member's embeddings are ReLU outputs, all non-negative, so raw
  cosines crowd near 1 (every image shares the same positive offset). By
  default both query and pool are centred on the pool's mean embedding first,
  so similarity reflects how two images differ from a typical pool image in the
  same direction. ``centre=False`` gives the plain cosine.
* **Several members.** Members' embedding spaces are unrelated (each was trained
  from its own seed), so embeddings are never averaged across members. With
  ``combine="mean"`` the *cosine similarities* are averaged over the chosen
  members and one ranking is returned; with ``combine="per_member"`` each member
  ranks on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

COMBINE = ("mean", "per_member")
#: The ``member`` value of rankings that average over members.
MEAN_OF_MEMBERS = "mean"


def cosine_similarity_matrix(
    query: np.ndarray, pool: np.ndarray, *, centre: bool = True
) -> np.ndarray:
    """Cosine similarities ``(n_query, n_pool)`` between two embedding sets.

    With ``centre`` both sets are shifted by the pool's mean first. A zero
    vector (after centring) has similarity 0 to everything.
    """
    q = np.asarray(query, dtype=np.float64)
    p = np.asarray(pool, dtype=np.float64)
    if q.ndim != 2 or p.ndim != 2 or q.shape[1] != p.shape[1]:
        raise ValueError(f"need (n, d) query and (m, d) pool embeddings, got {q.shape}, {p.shape}")
    if not len(p):
        raise ValueError("the pool of embeddings is empty")
    if centre:
        mean = p.mean(axis=0)
        q, p = q - mean, p - mean
    return _unit(q) @ _unit(p).T


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def similar_cases(
    query: Mapping[str, np.ndarray],
    pool: Mapping[str, np.ndarray],
    pool_ids: Sequence[str],
    *,
    k: int = 5,
    members: Sequence[str] | None = None,
    combine: str = "mean",
    centre: bool = True,
) -> pd.DataFrame:
    """The ``k`` pool images most similar to each query image.

    Parameters
    ----------
    query : mapping of member -> ndarray (n_query, d_member)
        Each member's embeddings of the query images (same images, same order).
    pool : mapping of member -> ndarray (n_pool, d_member)
        Each member's embeddings of the pool, rows matching ``pool_ids``.
    pool_ids : sequence of str
        The pool's image ids.
    k : int
        Neighbours per query (capped at the pool size).
    members : sequence of str, optional
        Members to use (default: every member in ``query``).
    combine : {"mean", "per_member"}
        See the module docstring.
    centre : bool
        Centre on the pool's mean embedding before the cosine.

    Returns
    -------
    pandas.DataFrame
        ``query, member, rank, image_id, similarity``; ``query`` is the query
        row (0-based), ``rank`` 1 is the most similar, ``member`` is
        :data:`MEAN_OF_MEMBERS` for averaged rankings. Ties keep pool order.
    """
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {COMBINE}, got {combine!r}")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    members = list(query) if members is None else [str(m) for m in members]
    if not members:
        raise ValueError("no members chosen")
    absent = [m for m in members if m not in query or m not in pool]
    if absent:
        raise KeyError(f"no query or pool embeddings for member(s) {absent}")
    ids = np.asarray([str(i) for i in pool_ids])
    n_query = {len(np.asarray(query[m])) for m in members}
    if len(n_query) != 1:
        raise ValueError(f"members embed different numbers of query images: {sorted(n_query)}")
    sims = {}
    for m in members:
        if len(pool[m]) != len(ids):
            raise ValueError(f"member {m!r}: {len(pool[m])} pool embeddings for {len(ids)} ids")
        sims[m] = cosine_similarity_matrix(query[m], pool[m], centre=centre)
    if combine == "mean":
        sims = {MEAN_OF_MEMBERS: np.mean([sims[m] for m in members], axis=0)}
    k = min(int(k), len(ids))
    frames = []
    for name, s in sims.items():
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        n = len(s)
        frames.append(pd.DataFrame({
            "query": np.repeat(np.arange(n), k), "member": name,
            "rank": np.tile(np.arange(1, k + 1), n), "image_id": ids[order].ravel(),
            "similarity": np.take_along_axis(s, order, axis=1).ravel(),
        }))
    return pd.concat(frames, ignore_index=True)


def suite_similar_cases(
    suite: Any, images: np.ndarray, *, k: int = 5, members: Sequence[str] | None = None,
    combine: str = "mean", centre: bool = True, dataset: Any = None, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """Similar training-pool cases of ``images`` according to a suite's members.

    Pool embeddings come from each member's cache in the suite folder (computed
    on first use, see :func:`dermviz.models.embed.pool_embeddings`); the query
    images (``(n, size, size, 3)`` in [0, 255], at the suite's image size) are
    embedded by each chosen member. ``model_loader(member)`` gives a member's
    model (default ``suite.load_model``; a dashboard passes its cached models).
    Other options as in :func:`similar_cases`.
    """
    from dermviz.models.embed import embed_images, pool_embeddings  # loads Keras models

    members = list(suite.member_ids) if members is None else list(members)
    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    query, pool, ids = {}, {}, None
    for m in members:
        model = load(m)
        ids, pool[m] = pool_embeddings(suite, m, dataset=dataset, model=model,
                                       batch_size=batch_size)
        query[m] = embed_images(model, images, batch_size=batch_size)
    if ids is None:
        raise ValueError("no members chosen")
    return similar_cases(query, pool, ids, k=k, members=members, combine=combine, centre=centre)
