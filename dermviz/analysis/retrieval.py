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
    return unit_rows(q) @ unit_rows(p).T


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm; zero rows stay zero."""
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
    from dermviz.models.embed import embed_images  # loads Keras models

    members = list(suite.member_ids) if members is None else list(members)
    load = model_loader if model_loader is not None else suite.load_model
    models = {m: load(m) for m in members}  # each loaded once, for query and pool
    query = {m: embed_images(models[m], images, batch_size=batch_size) for m in members}
    return pool_similar_cases(suite, query, k=k, combine=combine, centre=centre,
                              dataset=dataset, batch_size=batch_size,
                              model_loader=models.__getitem__)


def pool_similar_cases(
    suite: Any, query: Mapping[str, np.ndarray], *, k: int = 5, combine: str = "mean",
    centre: bool = True, dataset: Any = None, batch_size: int = 32,
    model_loader: Callable[[str], Any] | None = None,
) -> pd.DataFrame:
    """As :func:`suite_similar_cases` for query images already embedded: ``query`` maps
    each chosen member to its embeddings of them (e.g. the ``embedding`` of
    :func:`dermviz.models.embed.layer_statistics`, whose pass also gave the OOD score's
    features)."""
    from dermviz.models.embed import pool_embeddings  # loads Keras models

    members = list(query)
    if not members:
        raise ValueError("no members chosen")
    dataset = dataset if dataset is not None else suite.dataset()
    load = model_loader if model_loader is not None else suite.load_model
    pool, ids = {}, []
    for m in members:
        ids, pool[m] = pool_embeddings(suite, m, dataset=dataset, model=load(m),
                                       batch_size=batch_size)
    return similar_cases(query, pool, ids, k=k, members=members, combine=combine, centre=centre)


# --- Calibrated similarity ------------------------------------------------------------
#
# A cosine that reads 1.00 for every neighbour says nothing. A neighbour's similarity is
# instead placed among the hold-out's *nearest-neighbour* similarities: how close an unseen
# image of the suite's own data usually gets to its closest training image. Its distance
# (1 - similarity) is given as a percentile among the hold-out's nearest-neighbour distances
# (0: closer than any hold-out image's nearest neighbour; 100: farther than all of them).

#: At or below this distance percentile a neighbour is "very close": closer than the
#: median hold-out image is to its own nearest training image.
VERY_CLOSE_PERCENTILE = 50.0
#: At or below this percentile (and above the previous) a neighbour is "close": as close
#: as 19 in 20 hold-out images get to their nearest training image. Beyond it: "far".
CLOSE_PERCENTILE = 95.0
#: The words, from nearest to farthest.
CLOSENESS = ("very close", "close", "far")
#: What to say when every neighbour of an image is far.
ALL_FAR_SENTENCE = ("Every similar training image shown is far: farther than 95% of the "
                    "suite's own hold-out images are from their nearest training image. The "
                    "suite has seen nothing like this image.")


def nearest_similarities(table: pd.DataFrame) -> np.ndarray:
    """Each query's rank-1 similarity in a :func:`similar_cases` table (one ranking per
    query: pass a ``combine="mean"`` table or one member's rows), in query order.

    Run on the hold-out's own table, this is the reference of
    :func:`distance_percentile`.
    """
    top = table[table["rank"] == 1]
    if top["query"].duplicated().any():
        raise ValueError("the table holds several rankings per query (combine='per_member'); "
                         "pass one member's rows")
    return top.sort_values("query")["similarity"].to_numpy(np.float64)


def distance_percentile(similarity: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Percentile of each distance ``1 - similarity`` among the reference's nearest-neighbour
    distances (share of reference distances strictly below it, x100).

    Parameters
    ----------
    similarity : array_like
        Similarities (the same measure, centring and members as the reference).
    reference : array_like, (n,)
        The hold-out's nearest-neighbour similarities (:func:`nearest_similarities`).
    """
    ref = np.sort(1.0 - np.ravel(np.asarray(reference, np.float64)))
    if not len(ref) or not np.isfinite(ref).all():
        raise ValueError("the reference needs at least one finite similarity")
    dist = 1.0 - np.asarray(similarity, np.float64)
    return 100.0 * np.searchsorted(ref, dist, side="left") / len(ref)


def closeness(percentile: np.ndarray | float) -> np.ndarray:
    """The word for each distance percentile: one of :data:`CLOSENESS`."""
    p = np.asarray(percentile, np.float64)
    if np.isnan(p).any():
        raise ValueError("percentiles must not be NaN")
    index = (p > VERY_CLOSE_PERCENTILE).astype(int) + (p > CLOSE_PERCENTILE)
    return np.asarray(CLOSENESS, dtype=object)[index]


def calibrate_neighbours(
    table: pd.DataFrame, reference: np.ndarray, *, unusual: Sequence[int] | None = None
) -> pd.DataFrame:
    """A :func:`similar_cases` table with ``distance_percentile`` and ``closeness`` added.

    Parameters
    ----------
    table : DataFrame
        A :func:`similar_cases` table.
    reference : ndarray, (n,)
        The hold-out's nearest-neighbour similarities (:func:`nearest_similarities`).
    unusual : sequence of int, optional
        The ``query`` numbers of images flagged out-of-distribution
        (:func:`dermviz.analysis.ood.is_unusual`): each of their neighbours is "far",
        whatever its percentile. The centred cosine ignores the embeddings' scale, so an
        image unlike anything in the pool (a photograph shown to a dermoscopy suite) can
        still point the way some training images do and read "close"; the OOD score,
        which carries the scale, decides for it. ``distance_percentile`` is kept as
        computed.
    """
    out = table.copy()
    out["distance_percentile"] = distance_percentile(out["similarity"].to_numpy(), reference)
    out["closeness"] = closeness(out["distance_percentile"].to_numpy())
    if unusual is not None:
        flagged = np.asarray(unusual)
        if flagged.ndim != 1 or (flagged.size and not np.issubdtype(flagged.dtype, np.integer)):
            raise ValueError(f"unusual must be a sequence of query numbers, got {unusual!r}")
        out.loc[out["query"].isin(flagged.tolist()), "closeness"] = CLOSENESS[-1]
    return out


def all_far(table: pd.DataFrame) -> pd.Series:
    """Per query (and member): whether every listed neighbour is "far", from a
    :func:`calibrate_neighbours` table. Indexed by ``(query, member)``."""
    if "closeness" not in table:
        raise ValueError("calibrate the table first (calibrate_neighbours)")
    return (table["closeness"] == CLOSENESS[-1]).groupby([table["query"], table["member"]]).all()


# --- Retrieval precision ---------------------------------------------------------------


def precision_at_k(
    table: pd.DataFrame, query_labels: Sequence[Any], pool_labels: Mapping[str, Any], *, k: int
) -> dict[str, float]:
    """Share of the ``k`` nearest pool images with the query's label, beside chance.

    Parameters
    ----------
    table : DataFrame
        A :func:`similar_cases` table with one ranking per query (``combine="mean"`` or
        one member's rows) and at least ``k`` ranks.
    query_labels : sequence
        The label (diagnosis) of each query, in query order.
    pool_labels : mapping of image id -> label
        The label of every pool image.
    k : int

    Returns
    -------
    dict
        ``precision`` (mean over queries of the share of same-label neighbours among
        ranks 1..k), ``chance`` (the same for neighbours drawn at random from the
        pool: the mean over queries of the pool's share of the query's label), ``k``
        and ``n_queries``.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    top = table[table["rank"] <= k]
    if top.duplicated(["query", "rank"]).any():
        raise ValueError("the table holds several rankings per query; pass one member's rows")
    labels = np.asarray(list(query_labels), dtype=object)
    counts = top.groupby("query").size()
    if len(counts) != len(labels) or (counts < k).any():
        raise ValueError(f"need {k} neighbours for each of the {len(labels)} queries")
    missing = set(top["image_id"]) - set(pool_labels)
    if missing:
        raise KeyError(f"no pool label for {len(missing)} image(s), e.g. {sorted(missing)[:3]}")
    hits = top["image_id"].map(pool_labels).to_numpy(object) == labels[top["query"].to_numpy()]
    prior = pd.Series(list(pool_labels.values()), dtype=object).value_counts(normalize=True)
    return {
        "precision": float(hits.mean()),
        "chance": float(np.mean([prior.get(lab, 0.0) for lab in labels])),
        "k": int(k),
        "n_queries": len(labels),
    }
