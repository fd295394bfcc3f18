"""The explainer template: a new method writes only its core; the base does the rest.

Input checks, p(melanoma), the explained classes, batching and the assembly of the
:class:`SaliencyMaps` come from :class:`Explainer` (and the CAM finish from
:class:`CAMExplainer`), on a tiny model that builds in a second.
"""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.explain.base import ComputedMaps, ExplainBatch, Explainer, Prediction
from dermviz.explain.cam_base import CAMExplainer
from dermviz.explain.cam_graph import upsample_normalise
from dermviz.models.predict import predict_proba

SIZE = 12


@pytest.fixture(scope="module")
def tiny_model():
    """p(melanoma) rises with brightness; one 4x4 feature map named ``features``."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    features = keras.layers.AveragePooling2D(3, name="features")(scaled)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    head = keras.layers.Dense(1, activation="sigmoid", name="pred")
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.full((3, 1), 4.0 / 3), np.array([-2.0])])
    return model


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (3, SIZE, SIZE, 3))
    bright = rng.integers(200, 256, (2, SIZE, SIZE, 3))
    return np.concatenate([dark, bright]).astype(np.uint8)  # p < 0.5, then p > 0.5


class Brightness(Explainer):
    """A method that writes only its core, and remembers the batches it was given."""

    name = "brightness"
    display_name = "Brightness"

    def __init__(self, model, *, gain: float = 1.0, batch_size: int = 32) -> None:
        super().__init__(model, gain=gain, batch_size=batch_size)
        self.seen: list[ExplainBatch] = []

    def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
        self.seen.append(batch)
        maps = self.params()["gain"] * batch.images.mean(axis=-1) / 255
        return ComputedMaps(
            maps=maps.astype(np.float32),
            extras={"target_again": batch.targets.copy()},
            warnings=["same note", "another note", "same note"],
        )


def test_a_method_writing_only_its_core_gets_checks_targets_and_assembly(tiny_model, images):
    explainer = Brightness(tiny_model, gain=2.0, batch_size=2)
    result = explainer.explain(images, threshold=0.5)

    p_melanoma = predict_proba(tiny_model, images)
    assert (p_melanoma[:3] < 0.5).all() and (p_melanoma[3:] > 0.5).all()
    np.testing.assert_array_equal(result.p_melanoma, p_melanoma)
    np.testing.assert_array_equal(result.target_class, [0, 0, 0, 1, 1])  # the predicted class
    assert result.method == "brightness" and result.params == {"gain": 2.0}
    assert result.grid is None and result.maps.shape == (5, SIZE, SIZE)
    np.testing.assert_allclose(result.maps, 2 * images.mean(axis=-1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(result.extras["target_again"], result.target_class)
    assert result.warnings == ["another note", "same note"]  # sorted, once each

    (batch,) = explainer.seen  # the whole batch, checked: float32 in [0, 255]
    assert batch.images.dtype == np.float32 and batch.images.shape == images.shape
    assert batch.targets.dtype == np.int64
    np.testing.assert_array_equal(batch.p_melanoma, p_melanoma)

    assert (explainer.explain(images, threshold=0.0).target_class == 1).all()
    np.testing.assert_array_equal(
        explainer.explain(images, target_class=0).target_class, np.zeros(5)
    )
    chosen = np.array([1, 0, 1, 0, 1])
    np.testing.assert_array_equal(
        explainer.explain(images, target_class=chosen).extras["target_again"], chosen
    )


def test_the_base_checks_inputs_and_options(tiny_model, images):
    explainer = Brightness(tiny_model)
    with pytest.raises(ValueError, match=r"\(n, H, W, 3\)"):
        explainer.explain(images[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        explainer.explain(images.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        explainer.explain(images.astype(np.float32) * 2)
    with pytest.raises(ValueError, match="target_class"):
        explainer.explain(images, target_class=2)
    assert explainer.seen == []  # the core never ran on bad input
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer"):
            Brightness(tiny_model, batch_size=bad)
    assert Brightness.canonical_params(batch_size=4) == {"gain": 1.0}  # not in the key
    with pytest.raises(TypeError, match="unknown parameter"):
        Brightness.canonical_params(colour="red")


def test_a_method_without_a_core_says_so(tiny_model, images):
    class Nothing(Explainer):
        name = "nothing"
        display_name = "Nothing"

    with pytest.raises(NotImplementedError, match="Nothing does not implement _compute_maps"):
        Nothing(tiny_model).explain(images)


def test_a_core_returning_the_wrong_shapes_is_caught(tiny_model, images):
    class Cropping(Brightness):
        name = "cropping"

        def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
            computed = super()._compute_maps(batch)
            return ComputedMaps(maps=computed.maps[:, 1:], extras=computed.extras)

    class Dropping(Brightness):
        name = "dropping"

        def _compute_maps(self, batch: ExplainBatch) -> ComputedMaps:
            return ComputedMaps(maps=super()._compute_maps(batch).maps,
                                extras={"first": batch.targets[:1]})

    with pytest.raises(ValueError, match=r"cropping: _compute_maps returned maps of shape "
                                         r"\(5, 11, 12\), expected \(5, 12, 12\)"):
        Cropping(tiny_model).explain(images)
    with pytest.raises(ValueError, match=r"dropping: extras \['first'\] do not have one row"):
        Dropping(tiny_model).explain(images)


def test_chunks_split_images_targets_probabilities_and_by_products():
    n = 5
    batch = ExplainBatch(
        images=np.zeros((n, 2, 2, 3), np.float32),
        targets=np.arange(n),
        p_melanoma=np.linspace(0, 1, n, dtype=np.float32),
        by_products={"row": np.arange(n) * 10},
    )
    chunks = list(batch.chunks(2))
    assert [rows for rows, _ in chunks] == [slice(0, 2), slice(2, 4), slice(4, 6)]
    assert [len(chunk) for _, chunk in chunks] == [2, 2, 1]
    for rows, chunk in chunks:
        np.testing.assert_array_equal(chunk.targets, batch.targets[rows])
        np.testing.assert_array_equal(chunk.p_melanoma, batch.p_melanoma[rows])
        np.testing.assert_array_equal(chunk.by_products["row"], batch.targets[rows] * 10)
    with pytest.raises(ValueError, match="chunk size"):
        list(batch.chunks(0))


class CornerCAM(CAMExplainer):
    """A CAM that writes only its grids: the explained class's sign in one corner."""

    name = "corner_cam"
    display_name = "CornerCAM"
    images_per_call = 2

    def __init__(self, model, *, layer: str = "features", batch_size: int = 32) -> None:
        super().__init__(model, layer=layer, batch_size=batch_size)
        self.calls: list[int] = []

    def _predict(self, images: np.ndarray) -> Prediction:
        # A pass that also yields what the core reuses, as compiled GradCAM's does.
        p_melanoma = predict_proba(self.model, images, batch_size=self.batch_size)
        return Prediction(p_melanoma, by_products={"scale": np.arange(len(images)) + 1.0})

    def _grids(self, batch: ExplainBatch) -> np.ndarray:
        self.calls.append(len(batch))
        grids = np.zeros((len(batch), *self.grid), np.float32)
        grids[:, 0, 0] = np.where(batch.targets == 1, 1.0, -1.0) * batch.by_products["scale"]
        return grids


def test_a_cam_writing_only_its_grids_gets_batching_and_the_cam_finish(tiny_model, images):
    explainer = CornerCAM(tiny_model)
    result = explainer.explain(images, target_class=np.array([1, 0, 1, 1, 0]))
    assert explainer.calls == [2, 2, 1]  # images_per_call at a time
    assert result.grid == (4, 4) and result.params == {"layer": "features"}
    expected = np.zeros((5, 4, 4), np.float32)
    expected[:, 0, 0] = [1, -2, 3, 4, -5]
    np.testing.assert_array_equal(result.extras["grid_cam"], expected)
    np.testing.assert_array_equal(result.maps, upsample_normalise(expected, (SIZE, SIZE)))
    assert result.maps[0].max() == 1.0 and not result.maps[1].any()  # ReLU, min-max
    assert result.warnings == []  # 4x4 is the smallest grid without a warning
