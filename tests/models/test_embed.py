"""Penultimate-layer embeddings, their cache, and retrieval with a random-init member."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dermviz.analysis.retrieval import similar_cases, suite_similar_cases
from dermviz.data.images import resize_image
from dermviz.data.synthetic import render_lesion
from dermviz.models.embed import (
    EMBEDDING,
    embed_images,
    embeddings_path,
    layer_statistics,
    pool_embeddings,
    read_embeddings,
)
from tests.helpers import array_dataset

SIZE = 75


@pytest.fixture(scope="module")
def model():
    from dermviz.models.inception import build_inception

    return build_inception(SIZE, dense_units=16, seed=5)


@pytest.fixture(scope="module")
def lesions():
    return np.stack([resize_image(render_lesion(seed=s, label=("mel", "nv")[s % 2],
                                                difficulty=0.2)[0], SIZE) for s in range(12)])


def test_embedding_is_what_the_final_layer_reads(model, lesions):
    emb = embed_images(model, lesions[:4], batch_size=3, flip_invariant=False)
    assert emb.shape == (4, 16) and emb.dtype == np.float32
    kernel, bias = model.get_layer("pred").get_weights()
    p = 1 / (1 + np.exp(-(emb @ kernel + bias)))[:, 0]
    np.testing.assert_allclose(p, np.asarray(model(lesions[:4].astype("float32")))[:, 0],
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        embed_images(model, lesions[:4], batch_size=1, flip_invariant=False), emb,
        rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="\\(n, H, W, 3\\)"):
        embed_images(model, lesions[0])


def test_layer_statistics_are_channel_means_and_stds_from_one_pass(model, lesions):
    """Each layer's features are its activations' spatial mean and standard deviation per
    channel (means first), the embedding is embed_images's, all from one model."""
    import keras

    out = layer_statistics(model, lesions[:3], layers=["mixed0", "mixed2"], batch_size=3,
                           flip_invariant=False)
    assert list(out) == ["mixed0", "mixed2", EMBEDDING]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in ("mixed0", "mixed2")])
    for name, act in zip(("mixed0", "mixed2"), probe(lesions[:3].astype("float32")),
                         strict=True):
        act = np.asarray(act, np.float64)
        expected = np.concatenate([act.mean(axis=(1, 2)), act.std(axis=(1, 2))], axis=1)
        assert out[name].shape == (3, 2 * act.shape[-1]) and out[name].dtype == np.float32
        np.testing.assert_allclose(out[name], expected, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(out[EMBEDDING], embed_images(model, lesions[:3],
                                                            flip_invariant=False),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="each layer once"):
        layer_statistics(model, lesions[:1], layers=["mixed0", "mixed0"])
    with pytest.raises(ValueError, match="no layer"):
        layer_statistics(model, lesions[:1], layers=["nope"])


def test_flipped_copy_comes_first(model, lesions):
    """Among distinct lesions, a flipped copy of the query ranks first.

    The embedding is the mean over the image's four flips, so a flip of the query embeds
    where the query does. (Without that, a random-init InceptionV3 ranked the flipped
    copy first in only 7 of 24 seed x size x query x centring cases.)
    """
    for q, flip in ((0, np.s_[:, ::-1]), (5, np.s_[::-1, :]), (7, np.s_[::-1, ::-1])):
        pool_images = np.concatenate([np.delete(lesions, q, axis=0), lesions[q][flip][None]])
        ids = [f"other{k}" for k in range(len(pool_images) - 1)] + ["copy"]
        emb = {"m": embed_images(model, pool_images)}
        query = {"m": embed_images(model, lesions[q : q + 1])}
        for centre in (True, False):
            top = similar_cases(query, emb, ids, k=3, centre=centre)
            assert top["image_id"].iloc[0] == "copy", (q, centre, top)
    flipped = embed_images(model, lesions[:3, :, ::-1])
    np.testing.assert_allclose(flipped, embed_images(model, lesions[:3]), rtol=1e-4, atol=1e-5)


def test_pool_embeddings_are_cached(model, lesions, tmp_path):
    dataset = array_dataset(lesions[:5])
    calls = []
    suite = SimpleNamespace(path=tmp_path, image_size=SIZE, member=lambda m: None,
                            load_model=lambda m: calls.append(m) or model)
    ids, emb = pool_embeddings(suite, "m00", dataset=dataset, batch_size=2)
    assert ids == [f"p{k}" for k in range(5)] and calls == ["m00"]
    np.testing.assert_allclose(emb, embed_images(model, lesions[:5]), rtol=1e-4, atol=1e-5)
    path = embeddings_path(tmp_path, "m00")
    assert read_embeddings(path)[0] == ids
    ids2, emb2 = pool_embeddings(suite, "m00", dataset=dataset)
    assert calls == ["m00"]  # served from the cache: no model loaded
    np.testing.assert_array_equal(emb2, emb)
    ids3, emb3 = pool_embeddings(suite, "m00", dataset=array_dataset(lesions[:3]))
    assert calls == ["m00", "m00"] and ids3 == ids[:3] and len(emb3) == 3
    path.write_bytes(b"not an npz")
    pool_embeddings(suite, "m00", dataset=dataset)
    assert len(calls) == 3 and read_embeddings(path)[0] == ids


def test_suite_similar_cases_end_to_end(model, lesions, tmp_path):
    dataset = array_dataset(lesions[:6])
    suite = SimpleNamespace(path=tmp_path, image_size=SIZE, member_ids=["m00", "m01"],
                            member=lambda m: None, load_model=lambda m: model,
                            dataset=lambda: dataset)
    out = suite_similar_cases(suite, lesions[[4, 1]], k=2)
    assert out[out["rank"] == 1]["image_id"].tolist() == ["p4", "p1"]
    assert embeddings_path(tmp_path, "m01").is_file()
    per = suite_similar_cases(suite, lesions[[4]], k=2, members=["m01"], combine="per_member")
    assert per["member"].tolist() == ["m01", "m01"] and per["image_id"].iloc[0] == "p4"
    loaded = []
    given = suite_similar_cases(suite, lesions[[4]], k=2, members=["m00"],
                                model_loader=lambda m: loaded.append(m) or model)
    assert loaded == ["m00"] and given["image_id"].iloc[0] == "p4"


def test_dropped_model_is_not_kept_alive_by_the_embedder_cache():
    import gc
    import weakref

    from dermviz.models.inception import build_inception

    member = build_inception(SIZE, dense_units=4, seed=2)
    embed_images(member, np.zeros((1, SIZE, SIZE, 3), np.uint8))
    ref = weakref.ref(member)
    del member
    gc.collect()
    assert ref() is None


def test_pool_statistics_from_held_images_equal_the_batched_ones(model, lesions, tmp_path):
    """prepare_safety hands every member the pool's images loaded once: the same features
    as loading them batch by batch, and images that are not the pool's are refused."""
    from dermviz.models.embed import pool_layer_statistics

    dataset = array_dataset(lesions[:5])
    suite = SimpleNamespace(path=tmp_path, image_size=SIZE, member=lambda m: None,
                            name="s")
    ids, batched = pool_layer_statistics(suite, "m00", layers=["mixed0"], dataset=dataset,
                                         model=model, batch_size=2)
    ids2, held = pool_layer_statistics(suite, "m00", layers=["mixed0"], dataset=dataset,
                                       model=model, batch_size=2, images=lesions[:5])
    assert ids2 == ids
    for name in ("mixed0", EMBEDDING):
        np.testing.assert_allclose(held[name], batched[name], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="pool has 5"):
        pool_layer_statistics(suite, "m00", layers=["mixed0"], dataset=dataset, model=model,
                              images=lesions[:4])
