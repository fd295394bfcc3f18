"""randomize(): which weights change, in which order, and what stays untouched."""

from __future__ import annotations

import hashlib

import keras
import numpy as np
import pytest

from dermviz.sanity import block_layers, paper_stages, randomize


def _weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def _changed(before: dict, model: keras.Model) -> dict[str, list[int]]:
    """Per layer: indices of the weight arrays that differ from ``before``."""
    out = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        diff = [
            k
            for k, (a, b) in enumerate(zip(before[layer.name], layer.get_weights(), strict=True))
            if not np.array_equal(a, b)
        ]
        if diff:
            out[layer.name] = diff
    return out


@pytest.fixture(scope="module")
def trained_weights(small_model):
    return _weights(small_model)


def test_cascading_changes_exactly_the_stages_so_far(small_model, trained_weights):
    stages = paper_stages(small_model)
    seen = []
    for k, (name, model) in enumerate(randomize(small_model, stages, seed=3, copy=False)):
        assert name == stages[k][0]
        seen.append(stages[k][1][0])
        # Only the kernels (weight index 0) of this stage and all stages above it.
        assert _changed(trained_weights, model) == {n: [0] for n in seen}
    assert len(seen) == 6
    assert _changed(trained_weights, small_model) == {}  # the input model is untouched


def test_independent_changes_only_its_stage(small_model, trained_weights):
    stages = paper_stages(small_model)[:3]
    cascade = {}
    for k, (_, model) in enumerate(randomize(small_model, stages, seed=3, copy=False)):
        cascade[k] = model.get_layer(stages[k][1][0]).get_weights()[0]
    for k, (_, model) in enumerate(
        randomize(small_model, stages, order="independent", seed=3, copy=False)
    ):
        layer = stages[k][1][0]
        assert _changed(trained_weights, model) == {layer: [0]}
        # A layer gets the same draw in either order.
        np.testing.assert_array_equal(model.get_layer(layer).get_weights()[0], cascade[k])
    assert _changed(trained_weights, small_model) == {}


def test_block_stage_randomizes_every_kernel_of_the_block(small_model, trained_weights):
    blocks = dict(block_layers(small_model))
    _, model = next(randomize(small_model, [("mixed10", blocks["mixed10"])], seed=0))
    convs = [n for n in blocks["mixed10"] if isinstance(model.get_layer(n), keras.layers.Conv2D)]
    assert len(convs) == 9
    # Batch norms are listed in the block but kept by default.
    assert _changed(trained_weights, model) == {n: [0] for n in convs}


def test_copies_stay_valid_and_copy_false_reuses_one_model(small_model):
    stages = paper_stages(small_model)[:2]
    copies = list(randomize(small_model, stages, seed=1))
    assert copies[0][1] is not copies[1][1] and copies[0][1] is not small_model
    first_layer = stages[1][1][0]
    # Stage 1's copy does not see stage 2's randomization.
    np.testing.assert_array_equal(
        copies[0][1].get_layer(first_layer).get_weights()[0],
        small_model.get_layer(first_layer).get_weights()[0],
    )
    models = [m for _, m in randomize(small_model, stages, seed=1, copy=False)]
    assert models[0] is models[1]


def test_redraw_uses_each_layers_initializer_and_seed(small_model):
    stages = paper_stages(small_model)
    head, pool10 = stages[0][1][0], stages[1][1][0]
    _, m1 = next(randomize(small_model, [[head, pool10]], seed=11, copy=False))
    _, m2 = next(randomize(small_model, [[head, pool10]], seed=11, copy=False))
    _, m3 = next(randomize(small_model, [[head, pool10]], seed=12, copy=False))
    k1 = m1.get_layer(pool10).get_weights()[0]
    np.testing.assert_array_equal(k1, m2.get_layer(pool10).get_weights()[0])
    assert not np.array_equal(k1, m3.get_layer(pool10).get_weights()[0])
    # glorot_uniform for the conv: |w| <= sqrt(6 / (fan_in + fan_out)).
    fan_in, fan_out = k1.shape[2], k1.shape[3]
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(k1).max() <= limit and np.abs(k1).max() > 0.9 * limit
    # he_normal for the head: std ~ sqrt(2 / fan_in).
    kh = m1.get_layer(head).get_weights()[0]
    assert kh.std() == pytest.approx(np.sqrt(2.0 / kh.shape[0]), rel=0.1)


def test_reset_bias_and_batchnorm():
    from dermviz.models.inception import build_inception

    model = build_inception(75, seed=2)
    stages = paper_stages(model)
    head, conv = stages[0][1][0], stages[1][1][0]
    bn = next(
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        and layer.input is model.get_layer(conv).output
    )
    # Pretend training moved the bias and the BN statistics away from their initializers.
    model.get_layer(head).bias.assign(np.ones(model.get_layer(head).bias.shape))
    for var in bn.weights:
        var.assign(np.full(var.shape, 3.0))
    before = _weights(model)

    _, kept = next(randomize(model, [[head, conv]]))
    assert _changed(before, kept) == {head: [0], conv: [0]}

    _, reset = next(randomize(model, [[head, conv]], reset_bias=True, reset_batchnorm=True))
    changed = _changed(before, reset)
    assert changed[head] == [0, 1] and changed[conv] == [0]
    assert changed[bn.name] == list(range(len(bn.weights)))  # its conv's own BN
    np.testing.assert_array_equal(reset.get_layer(head).get_weights()[1], 0.0)
    values = dict(
        zip([w.name for w in bn.weights], reset.get_layer(bn.name).get_weights(), strict=True)
    )
    np.testing.assert_array_equal(values["moving_mean"], 0.0)
    np.testing.assert_array_equal(values["moving_variance"], 1.0)
    np.testing.assert_array_equal(values["beta"], 0.0)
    assert _changed(before, model) == {}


def test_member_file_is_untouched(small_model, tmp_path):
    from dermviz.models.inception import load_member_model

    path = tmp_path / "model.keras"
    small_model.save(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    mtime = path.stat().st_mtime_ns
    loaded = load_member_model(path)
    for _ in randomize(loaded, paper_stages(loaded)[:2], copy=False):
        pass
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert path.stat().st_mtime_ns == mtime
    reloaded = load_member_model(path)
    stem = paper_stages(loaded)[1][1][0]
    np.testing.assert_array_equal(
        reloaded.get_layer(stem).get_weights()[0], small_model.get_layer(stem).get_weights()[0]
    )


def test_invalid_requests(small_model):
    with pytest.raises(ValueError, match="order"):
        randomize(small_model, [["head_dense"]], order="random")
    with pytest.raises(ValueError, match="no layer"):
        randomize(small_model, [["conv2d_999999"]])
    bn = next(
        layer.name
        for layer in small_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    with pytest.raises(ValueError, match="changes no weight"):
        next(randomize(small_model, [[bn]]))
    with pytest.raises(ValueError, match="stage"):
        randomize(small_model, [[1, 2]])
