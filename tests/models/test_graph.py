"""Structural layer sets (dermviz.models.graph): the paper's six layers and whole
Inception blocks."""

from __future__ import annotations

import re

import keras
import pytest

from dermviz.models.blocks import PAPER_STAGES
from dermviz.models.graph import (
    block_layers,
    branch_layers,
    companion_batchnorms,
    paper_layers,
    paper_stages,
)


@pytest.fixture(scope="module")
def small_model() -> keras.Model:
    """A freshly built, seeded InceptionV3 at 75 px (never modified by tests)."""
    from dermviz.models.inception import build_inception

    return build_inception(75, seed=0)


def _suffix(name: str) -> int:
    """Creation counter of a Keras auto name: conv2d -> 0, conv2d_17 -> 17."""
    m = re.fullmatch(r"conv2d(?:_(\d+))?", name)
    assert m, name
    return int(m.group(1) or 0)


def _check_paper_layers(model: keras.Model) -> list[str]:
    names = paper_layers(model)
    assert len(names) == 6
    assert names[0] == "head_dense"
    head, pool10, b9, dbl7, b6, stem = (model.get_layer(n) for n in names)
    assert isinstance(head, keras.layers.Dense)
    expected = [  # (layer, filters, kernel, strides)
        (pool10, 192, (1, 1), (1, 1)),
        (b9, 320, (1, 1), (1, 1)),
        (dbl7, 192, (1, 1), (1, 1)),
        (b6, 192, (1, 1), (1, 1)),
        (stem, 32, (3, 3), (2, 2)),
    ]
    for layer, filters, kernel, strides in expected:
        assert isinstance(layer, keras.layers.Conv2D)
        assert (layer.filters, tuple(layer.kernel_size), tuple(layer.strides)) == (
            filters,
            kernel,
            strides,
        )
    # Branch positions: mixed10's branch_pool is its 4th input, after an average pool.
    pool_branch = branch_layers(model, "mixed10", 3)
    assert isinstance(model.get_layer(pool_branch[0]), keras.layers.AveragePooling2D)
    assert pool10.name in pool_branch
    assert branch_layers(model, "mixed9", 0)[0] == b9.name
    assert branch_layers(model, "mixed7", 2)[0] == dbl7.name
    assert len([n for n in branch_layers(model, "mixed7", 2) if n.startswith("conv2d")]) == 5
    assert branch_layers(model, "mixed6", 0)[0] == b6.name
    # The stem conv reads the rescaled input.
    assert model.get_layer("rescale").output is stem.input
    # Creation order = the paper's Keras 2.2.4 numbering (conv2d_1 ... conv2d_94),
    # whatever the counter's offset in this process.
    base = _suffix(stem.name)
    offsets = [_suffix(layer.name) - base for layer in (pool10, b9, dbl7, b6)]
    assert offsets == [93, 76, 64, 50]  # paper: conv2d_94, _77, _65, _51 (1-based)
    return names


def test_paper_layers_on_fresh_and_second_model():
    from dermviz.models.inception import build_inception

    first = build_inception(75, seed=0)
    second = build_inception(75, seed=0)  # auto names shift by 94 convs
    names1 = _check_paper_layers(first)
    names2 = _check_paper_layers(second)
    assert names1[1:] != names2[1:]
    assert _suffix(names2[-1]) - _suffix(names1[-1]) == 94
    roles = [role for role, _ in paper_stages(second)]
    assert roles == [s.role for s in PAPER_STAGES]


def test_paper_layers_survive_save_and_load(small_model, tmp_path):
    from dermviz.models.inception import load_member_model

    path = tmp_path / "m.keras"
    small_model.save(path)
    loaded = load_member_model(path)
    assert paper_layers(loaded) == paper_layers(small_model)


def test_block_layers_partition_the_weighted_layers(small_model):
    blocks = block_layers(small_model)
    names = [n for n, _ in blocks]
    assert names == ["head"] + [f"mixed{i}" for i in range(10, -1, -1)] + ["stem"]
    sizes = [len(layers) for _, layers in blocks]
    # conv + batch norm per conv: 9 convs in mixed9/10, 6 in mixed8, 10 in mixed4-7,
    # 4 in mixed3, 7 in mixed0-2, 5 in the stem.
    assert sizes == [2, 18, 18, 12, 20, 20, 20, 20, 8, 14, 14, 14, 10]
    assert blocks[0][1] == ["head_dense", "pred"]
    flat = [n for _, layers in blocks for n in layers]
    weighted = [layer.name for layer in small_model.layers if layer.weights]
    assert sorted(flat) == sorted(weighted)
    assert len(set(flat)) == len(flat)
    convs = sum(isinstance(small_model.get_layer(n), keras.layers.Conv2D) for n in flat)
    assert convs == 94
    # Each paper layer sits in the right block.
    where = {n: block for block, layers in blocks for n in layers}
    paper = paper_layers(small_model)
    assert [where[n] for n in paper] == ["head", "mixed10", "mixed9", "mixed7", "mixed6", "stem"]


def test_not_an_inception_model():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head_dense")(inputs))
    with pytest.raises(ValueError, match="InceptionV3"):
        paper_layers(model)
    # Any other model (an imported one) gets its layer groups: here, its one dense layer.
    assert block_layers(model) == [("head_dense", ["head_dense"])]


def test_companion_batchnorms_are_the_convs_own(small_model):
    stem = paper_layers(small_model)[-1]
    (bn,) = companion_batchnorms(small_model, [stem])
    assert isinstance(small_model.get_layer(bn), keras.layers.BatchNormalization)
    assert small_model.get_layer(bn).input is small_model.get_layer(stem).output
    assert companion_batchnorms(small_model, [stem, bn]) == []  # a named one is not added
    assert companion_batchnorms(small_model, ["head_dense"]) == []  # no normalisation
