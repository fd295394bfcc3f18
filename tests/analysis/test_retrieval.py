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
