"""Cosine retrieval on hand-built embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.analysis.retrieval import MEAN_OF_MEMBERS, cosine_similarity_matrix, similar_cases


def test_cosine_plain_and_centred():
    pool = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = cosine_similarity_matrix(np.array([[2.0, 0.0]]), pool, centre=False)
    np.testing.assert_allclose(s, [[1.0, 0.0, 1 / np.sqrt(2)]])
    # centred on the pool mean (2/3, 2/3): the query (2/3, 2/3) becomes zero -> 0 everywhere
    np.testing.assert_allclose(cosine_similarity_matrix(np.array([[2 / 3, 2 / 3]]), pool), 0.0)
    with pytest.raises(ValueError, match="\\(n, d\\)"):
        cosine_similarity_matrix(np.ones((1, 3)), pool)


def test_per_member_and_mean_rankings():
    ids = ["p0", "p1", "p2"]
    pool = {"a": np.array([[1.0, 0], [0, 1.0], [0.7, 0.7]]),
            "b": np.array([[0, 1.0], [1.0, 0], [0.6, 0.8]])}
    query = {"a": np.array([[1.0, 0.1]]), "b": np.array([[1.0, 0.05]])}
    per = similar_cases(query, pool, ids, k=2, combine="per_member", centre=False)
    assert per[per["member"] == "a"]["image_id"].tolist() == ["p0", "p2"]
    assert per[per["member"] == "b"]["image_id"].tolist() == ["p1", "p2"]
    assert per["rank"].tolist() == [1, 2, 1, 2]
    mean = similar_cases(query, pool, ids, k=3, centre=False)
    assert set(mean["member"]) == {MEAN_OF_MEMBERS}
    # p2 is second for both members, p0/p1 first for one and last for the other
    sa = cosine_similarity_matrix(query["a"], pool["a"], centre=False)[0]
    sb = cosine_similarity_matrix(query["b"], pool["b"], centre=False)[0]
    expected = (sa + sb) / 2
    np.testing.assert_allclose(mean["similarity"], np.sort(expected)[::-1])
    assert mean["image_id"].tolist() == [ids[i] for i in np.argsort(-expected)]
    only_b = similar_cases(query, pool, ids, k=1, members=["b"], centre=False)
    assert only_b["image_id"].tolist() == ["p1"]


def test_several_queries_and_bad_input():
    rng = np.random.default_rng(0)
    pool = {"a": rng.normal(size=(10, 4))}
    query = {"a": pool["a"][[3, 7]]}  # exact copies: cosine 1
    out = similar_cases(query, pool, [f"p{i}" for i in range(10)], k=20)
    assert len(out) == 20  # k capped at the pool size, two queries
    top = out[out["rank"] == 1]
    assert top["image_id"].tolist() == ["p3", "p7"]
    np.testing.assert_allclose(top["similarity"], 1.0)
    with pytest.raises(ValueError, match="combine"):
        similar_cases(query, pool, list("abcdefghij"), combine="max")
    with pytest.raises(KeyError, match="zz"):
        similar_cases(query, pool, list("abcdefghij"), members=["zz"])
    with pytest.raises(ValueError, match="pool embeddings"):
        similar_cases(query, pool, list("abc"))
    with pytest.raises(ValueError, match="k must"):
        similar_cases(query, pool, list("abcdefghij"), k=0)


def test_distance_percentile_words_and_all_far():
    from dermviz.analysis.retrieval import (
        CLOSE_PERCENTILE,
        VERY_CLOSE_PERCENTILE,
        all_far,
        calibrate_neighbours,
        closeness,
        distance_percentile,
        nearest_similarities,
    )

    # hold-out nearest-neighbour similarities 0.90, 0.91, ..., 0.99 -> distances 0.01..0.10
    reference = 0.99 - 0.01 * np.arange(10)
    pct = distance_percentile([1.0, 0.99, 0.945, 0.905, 0.5], reference)
    np.testing.assert_allclose(pct, [0.0, 0.0, 50.0, 90.0, 100.0])
    assert closeness(pct).tolist() == ["very close", "very close", "very close", "close", "far"]
    assert closeness([VERY_CLOSE_PERCENTILE, VERY_CLOSE_PERCENTILE + 1, CLOSE_PERCENTILE,
                      CLOSE_PERCENTILE + 1]).tolist() == ["very close", "close", "close", "far"]
    # the hold-out's own nearest neighbours come out of a similar_cases table, query order
    pool = {"a": np.eye(3)}
    table = similar_cases({"a": np.array([[1.0, 0.2, 0], [0, 0, 1.0]])}, pool,
                          ["p0", "p1", "p2"], k=2, centre=False)
    np.testing.assert_allclose(nearest_similarities(table), [1 / np.sqrt(1.04), 1.0])
    calibrated = calibrate_neighbours(table, reference=np.array([0.999, 0.998]))
    assert calibrated["closeness"].tolist() == ["far", "far", "very close", "far"]
    flags = all_far(calibrated)
    assert flags.tolist() == [True, False]
    # an image flagged out-of-distribution: every neighbour is far, its percentile kept
    flagged = calibrate_neighbours(table, reference=np.array([0.999, 0.998]), unusual=[1])
    assert flagged["closeness"].tolist() == ["far", "far", "far", "far"]
    assert all_far(flagged).tolist() == [True, True]
    np.testing.assert_array_equal(flagged["distance_percentile"],
                                  calibrated["distance_percentile"])
    same = calibrate_neighbours(table, reference=np.array([0.999, 0.998]), unusual=[])
    assert same["closeness"].tolist() == calibrated["closeness"].tolist()
    with pytest.raises(ValueError, match="query numbers"):
        calibrate_neighbours(table, reference=np.array([0.999]), unusual=[True, False])
    with pytest.raises(ValueError, match="calibrate"):
        all_far(table)
    with pytest.raises(ValueError, match="at least one"):
        distance_percentile([0.5], [])


def test_precision_at_k_beside_chance():
    from dermviz.analysis.retrieval import precision_at_k

    pool_ids = [f"p{i}" for i in range(4)]
    pool = {"a": np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])}
    labels = {"p0": "mel", "p1": "mel", "p2": "nv", "p3": "mel"}
    query = {"a": np.array([[1.0, 0.05], [0.05, 1.0]])}
    table = similar_cases(query, pool, pool_ids, k=2, centre=False)
    # query 0 (mel): p0, p1 both mel -> 1; query 1 (nv): p2 nv, p3 mel -> 1/2
    out = precision_at_k(table, ["mel", "nv"], labels, k=2)
    assert out == {"precision": 0.75, "chance": (0.75 + 0.25) / 2, "k": 2, "n_queries": 2}
    assert precision_at_k(table, ["mel", "nv"], labels, k=1)["precision"] == 1.0
    with pytest.raises(ValueError, match="need 3 neighbours"):
        precision_at_k(table, ["mel", "nv"], labels, k=3)
    with pytest.raises(KeyError, match="pool label"):
        precision_at_k(table, ["mel", "nv"], {"p0": "mel"}, k=2)
