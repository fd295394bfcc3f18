"""Cached thumbnails: made once, aspect kept, rebuilt when unreadable."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.thumbnails import (
    decode_thumbnail,
    make_thumbnail,
    thumbnail_cache_path,
    thumbnails,
)
from tests.helpers import array_dataset


def images():
    rng = np.random.default_rng(0)
    wide = np.zeros((100, 200, 3), np.uint8)  # black, 2:1
    return [wide] + [rng.integers(0, 256, (150, 200, 3), dtype=np.uint8) for _ in range(3)]


def test_make_thumbnail_keeps_aspect():
    thumb = make_thumbnail(np.zeros((100, 200, 3), np.uint8), size=64)
    assert thumb.shape == (64, 64, 3)
    assert (thumb[16:48] == 0).all()  # the image, 32 rows high
    assert (thumb[:16] == 255).all() and (thumb[48:] == 255).all()  # white bands
    up = make_thumbnail(np.full((10, 10, 3), 7, np.uint8), size=40)
    assert (up == 7).all()
    with pytest.raises(ValueError, match="uint8"):
        make_thumbnail(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="size"):
        make_thumbnail(np.zeros((10, 10, 3), np.uint8), size=4)


def test_thumbnails_are_cached(tmp_path):
    dataset = array_dataset(images())
    first = thumbnails(dataset, ["p0", "p2"], cache_dir=tmp_path, size=48)
    assert dataset.source.reads == 2
    pixels = decode_thumbnail(first[0])
    assert pixels.shape == (48, 48, 3)
    np.testing.assert_allclose(pixels.astype(float),
                               make_thumbnail(images()[0], size=48).astype(float), atol=8)
    again = thumbnails(dataset, ["p2", "p0", "p2"], cache_dir=tmp_path, size=48)
    assert dataset.source.reads == 2  # nothing decoded again
    assert again == [first[1], first[0], first[1]]
    more = thumbnails(dataset, ["p1", "p2", "p3"], cache_dir=tmp_path, size=48)
    assert dataset.source.reads == 4 and more[1] == first[1]  # only p1 and p3 made
    # a fresh process sees the same file
    fresh = array_dataset(images())
    assert thumbnails(fresh, ["p3"], cache_dir=tmp_path, size=48) == [more[2]]
    assert fresh.source.reads == 0


def test_sizes_and_sources_have_their_own_files_and_corrupt_ones_are_rebuilt(tmp_path):
    dataset = array_dataset(images())
    path48 = thumbnail_cache_path(tmp_path, dataset, size=48)
    assert path48 != thumbnail_cache_path(tmp_path, dataset, size=96)
    assert path48 != thumbnail_cache_path(tmp_path, array_dataset(images()[:2]), size=48)
    assert decode_thumbnail(thumbnails(dataset, ["p1"], cache_dir=tmp_path)[0]).shape == (
        96, 96, 3)
    thumbnails(dataset, ["p1"], cache_dir=tmp_path, size=48)
    assert dataset.source.reads == 2 and path48.is_file()
    path48.write_bytes(b"garbage")
    thumbnails(dataset, ["p1"], cache_dir=tmp_path, size=48)
    assert dataset.source.reads == 3
    with pytest.raises(KeyError, match="not in dataset"):
        thumbnails(dataset, ["nope"], cache_dir=tmp_path, size=48)
