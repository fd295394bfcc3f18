"""The modern randomization tests: bottom-up order, sMPRT and eMPRT.

A tiny hand-set "trained" model (32 px, a few convs) detects a dark square, so its
GradCAM maps sit on the square; re-drawing its convs destroys that. A side branch
whose output reaches the prediction with zero weights is a layer whose
randomization CANNOT change the map, and a method that ignores the model cannot
notice any randomization: both must score "no change".
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd
import pytest

from dermviz.explain.maps import SaliencyMaps
from dermviz.sanity import (
    EfficientRandomizationResult,
    EfficientRandomizationSpec,
    RandomizationResult,
    RandomizationSpec,
    SmoothedExplainer,
    SmoothRandomizationSpec,
    discrete_entropy,
    load_study,
    paper_stages,
    randomize,
    run_efficient_randomization,
    run_randomization_study,
    run_smooth_randomization,
    save_study,
    spec_from_dict,
)

SIZE, SQUARE, CHANNELS = 32, 10, 4
#: Top-down stages of the tiny model that carry the map...
LIVE = [("cam", ["cam"]), ("c2", ["c2"]), ("c1", ["c1"])]
#: ...and one that cannot change it.
DEAD = [("side", ["side"])]
IDS = ("a", "b", "c")


def _identity_conv(width: int) -> np.ndarray:
    kernel = np.zeros((3, 3, width, width), np.float32)
    kernel[1, 1] = np.eye(width)
    return kernel


@pytest.fixture(scope="module")
def tiny_model() -> keras.Model:
    """c1 fires on dark pixels; c2 and cam pass it on; side feeds ``mix`` with zero weights."""
    layers = keras.layers
    inp = keras.Input((SIZE, SIZE, 3))
    c1 = layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="c1")(inp)
    c2 = layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="c2")(c1)
    cam = layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="cam")(c2)
    side = layers.Conv2D(CHANNELS, 3, padding="same", activation="relu", name="side")(c1)
    both = layers.Concatenate(name="both")([cam, side])
    mix = layers.Conv2D(CHANNELS, 1, name="mix")(both)
    pooled = layers.GlobalAveragePooling2D(name="gap")(mix)
    out = layers.Dense(1, activation="sigmoid", name="pred")(pooled)
    model = keras.Model(inp, out)
    darkness = np.full((3, 3, 3, CHANNELS), -1.0 / 27, np.float32)
    model.get_layer("c1").set_weights([darkness, np.array([100, 90, 110, 120], np.float32)])
    for name in ("c2", "cam"):
        model.get_layer(name).set_weights([_identity_conv(CHANNELS), np.zeros(CHANNELS)])
    mix_kernel = np.zeros((1, 1, 2 * CHANNELS, CHANNELS), np.float32)
    mix_kernel[0, 0, :CHANNELS] = np.eye(CHANNELS)  # side's channels weigh 0
    model.get_layer("mix").set_weights([mix_kernel, np.zeros(CHANNELS)])
    model.get_layer("pred").set_weights([np.full((CHANNELS, 1), 0.05, np.float32),
                                         np.array([-1.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Light noisy images, each with a dark square somewhere."""
    rng = np.random.default_rng(0)
    out = rng.uniform(170, 230, size=(len(IDS), SIZE, SIZE, 3))
    for img in out:
        r, c = rng.integers(3, SIZE - 3 - SQUARE, 2)
        img[r : r + SQUARE, c : c + SQUARE] = 30
    return out.astype(np.uint8)


@pytest.fixture(scope="module")
def gradcam():
    from dermviz.explain.gradcam import GradCAM

    return lambda model: GradCAM(model, layer="cam")


class Darkness:
    """A "method" that ignores the model: the map is the image's darkness."""

    signed = False

    def __init__(self, model: object = None) -> None:
        self.targets: list[np.ndarray | None] = []

    def explain(self, images, *, target_class=None, threshold=0.5):
        images = np.asarray(images, np.float32)
        n = len(images)
        self.targets.append(target_class)
        targets = (np.ones(n, np.int64) if target_class is None
                   else np.broadcast_to(np.asarray(target_class), (n,)).astype(np.int64))
        return SaliencyMaps(
            method="darkness", maps=(1 - images.mean(-1) / 255).astype(np.float32),
            target_class=targets, p_melanoma=np.full(n, 0.7, np.float32), grid=None,
            params={},
        )


def _smprt(**kw) -> SmoothRandomizationSpec:
    return SmoothRandomizationSpec(member_id="m", image_ids=IDS, **{"n_noisy": 3, **kw})


def _emprt(**kw) -> EfficientRandomizationSpec:
    return EfficientRandomizationSpec(member_id="m", image_ids=IDS, **kw)


def _stage_means(result: RandomizationResult, measure: str) -> pd.Series:
    t = result.table
    t = t[(t["kind"] == "stage") & (t["measure"] == measure)]
    return t.groupby("stage_name", sort=False)["value"].mean()


# --------------------------------------------------------------------------- bottom-up order


def test_bottom_up_randomizes_from_the_input_upward(small_model):
    stages = paper_stages(small_model)
    # Each layer's first weight tensor, read once (get_weights() on every layer is slow).
    original = {layer.name: layer.weights[0].numpy() for layer in small_model.layers
                if layer.weights}
    seen = []
    names = []
    for name, model in randomize(small_model, stages[:3], order="bottom_up", seed=3, copy=False):
        names.append(name)
        seen.append(dict(stages)[name][0])
        changed = {
            layer.name for layer in model.layers if layer.weights
            and not np.array_equal(layer.weights[0].numpy(), original[layer.name])
        }
        assert changed == set(seen)  # cumulative, like cascading
    assert names == [s[0] for s in stages[:3]][::-1]
    # The same draw per layer as the top-down order.
    # (One working clone per order: copy=False, each stage read before the next.)
    top_down = {n: m.get_layer(dict(stages)[n][0]).weights[0].numpy()
                for n, m in randomize(small_model, stages[:3], seed=3, copy=False)}
    for name, model in randomize(small_model, stages[:3], order="bottom_up", seed=3,
                                 copy=False):
        np.testing.assert_array_equal(model.get_layer(dict(stages)[name][0]).weights[0].numpy(),
                                      top_down[name])


def test_bottom_up_study_lists_stages_in_randomization_order(tiny_model, images):
    spec = RandomizationSpec(member_id="m", image_ids=IDS, order="bottom_up",
                             similarities=("ssim",))
    result = run_randomization_study(tiny_model, images, IDS, spec, make_explainer=Darkness,
                                     layers=LIVE, progress=False)
    assert result.stage_names == ["original", "c1", "c2", "cam"]
    assert result.stage_layers == [[], ["c1"], ["c2"], ["cam"]]
    assert result.kind == "randomization"


def test_orders_agree_between_the_light_and_the_keras_module():
    from dermviz.sanity.checks.randomization import ORDERS as LIGHT
    from dermviz.sanity.layer_randomization import ORDERS

    assert LIGHT == ORDERS and "bottom_up" in ORDERS
    with pytest.raises(ValueError, match="order"):
        RandomizationSpec(member_id="m", image_ids=IDS, order="sideways")


# --------------------------------------------------------------------------- smoothing


def test_smoothing_averages_noisy_copies_of_the_clean_target():
    imgs = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3))
    base = Darkness()
    clean = base.explain(imgs)
    one = SmoothedExplainer(base, n_noisy=1, noise_level=0.5, seed=0).explain(imgs)
    np.testing.assert_array_equal(one.maps, clean.maps)
    quiet = SmoothedExplainer(base, n_noisy=4, noise_level=0.0, seed=0).explain(imgs)
    np.testing.assert_allclose(quiet.maps, clean.maps, rtol=1e-6)
    inner = Darkness()
    smooth = SmoothedExplainer(inner, n_noisy=4, noise_level=0.2, seed=5)
    a = smooth.explain(imgs)
    assert len(inner.targets) == 4 and inner.targets[0] is None
    assert all(np.array_equal(t, clean.target_class) for t in inner.targets[1:])
    assert not np.allclose(a.maps, clean.maps)  # the noise reached the maps
    assert a.params == {"n_noisy": 4, "noise_level": 0.2}
    # The same seed draws the same noise: what makes the stages comparable.
    np.testing.assert_array_equal(a.maps, smooth.explain(imgs).maps)
    with pytest.raises(ValueError, match="n_noisy"):
        SmoothedExplainer(base, n_noisy=0, noise_level=0.1, seed=0)
    with pytest.raises(ValueError, match="noise_level"):
        _smprt(noise_level=-1)


# --------------------------------------------------------------------------- sMPRT


def test_smprt_falls_when_the_randomized_layers_carry_the_map(tiny_model, images, gradcam):
    result = run_smooth_randomization(tiny_model, images, IDS, _smprt(), make_explainer=gradcam,
                                      layers=LIVE, progress=False)
    assert result.kind == "smprt" and result.stage_names == ["original", "c1", "c2", "cam"]
    for measure in ("ssim", "spearman"):
        means = _stage_means(result, measure)
        assert means["original"] == pytest.approx(1.0, abs=1e-6)
        assert means["cam"] < 0.8, means  # fully randomized convs: a different map
    # The trained map sits on the square (the model is a square detector).
    assert result.predictions.query("stage == 0")["p_melanoma"].gt(0.5).all()
    baselines = result.table[result.table["kind"] == "baseline"]
    assert set(baselines["stage_name"]) == {"baseline:random", "baseline:edge"}


def test_smprt_stays_at_one_when_the_map_cannot_change(tiny_model, images, gradcam):
    dead = run_smooth_randomization(tiny_model, images, IDS, _smprt(), make_explainer=gradcam,
                                    layers=DEAD, progress=False)
    ignoring = run_smooth_randomization(tiny_model, images, IDS, _smprt(),
                                        make_explainer=Darkness, layers=LIVE, progress=False)
    for result in (dead, ignoring):
        stages = result.table[result.table["kind"] == "stage"]
        np.testing.assert_allclose(stages["value"], 1.0, atol=1e-5)
        np.testing.assert_allclose(result.maps[1:], result.maps[:1].repeat(
            len(result.maps) - 1, axis=0), atol=1e-6)


# --------------------------------------------------------------------------- eMPRT


def test_discrete_entropy():
    assert discrete_entropy(np.zeros((5, 5))) == 0.0
    assert discrete_entropy(np.arange(100.0), n_bins=100) == pytest.approx(math.log(100))
    halves = np.r_[np.zeros(50), np.ones(50)]
    assert discrete_entropy(halves, n_bins=10) == pytest.approx(math.log(2))
    assert discrete_entropy(3 * halves + 7, n_bins=10) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="n_bins"):
        discrete_entropy(halves, n_bins=1)
    with pytest.raises(ValueError, match="finite"):
        discrete_entropy(np.array([0.0, np.nan]))


def test_emprt_rises_when_the_randomized_layers_carry_the_map(tiny_model, images, gradcam):
    result = run_efficient_randomization(tiny_model, images, IDS, _emprt(),
                                         make_explainer=gradcam, layers=LIVE, progress=False)
    assert result.layers == ["cam", "c2", "c1"] and result.kind == "emprt"
    scores = result.scores()
    assert list(scores["image_id"]) == list(IDS)
    # A concentrated trained map, a chaotic randomized one: the ratio rises above 1.
    assert (scores["ratio"] > 1.5).all(), scores
    assert result.mean_ratio == pytest.approx(scores["ratio"].mean())
    summary = result.summary().set_index("source")
    assert list(summary.index) == ["randomized", "baseline:random", "baseline:edge",
                                   "baseline:constant"]
    assert summary.at["baseline:constant", "ratio"] == 0.0
    # Uniform noise is close to the highest entropy, log(n_bins).
    assert summary.at["baseline:random", "entropy"] > 0.95 * math.log(100)
    np.testing.assert_allclose(
        scores["ratio"], scores["entropy_randomized"] / scores["entropy_trained"], rtol=1e-12)


def test_emprt_stays_at_one_when_the_map_cannot_change(tiny_model, images, gradcam):
    dead = run_efficient_randomization(tiny_model, images, IDS, _emprt(), make_explainer=gradcam,
                                       layers=DEAD, progress=False)
    ignoring = run_efficient_randomization(tiny_model, images, IDS, _emprt(),
                                           make_explainer=Darkness, layers=LIVE, progress=False)
    for result in (dead, ignoring):
        np.testing.assert_allclose(result.scores()["ratio"], 1.0, atol=1e-6)


# --------------------------------------------------------------------------- specs and storage


def test_specs_round_trip_and_differ_from_the_classic_test():
    classic = RandomizationSpec(member_id="m", image_ids=IDS)
    smooth = _smprt()
    assert (smooth.order, smooth.n_noisy, smooth.noise_level) == ("bottom_up", 3, 0.1)
    assert smooth.key() != classic.key()
    for spec in (smooth, _emprt(n_bins=50, stages=("head",))):
        back = spec_from_dict(spec.to_json())
        assert type(back) is type(spec) and back == spec and back.key() == spec.key()
    from dermviz.sanity import paper_comparable

    paperlike = SmoothRandomizationSpec(member_id="m", image_ids=IDS, order="cascading",
                                        method="gradcam")
    assert paper_comparable(RandomizationSpec(member_id="m", image_ids=IDS, method="gradcam"))
    assert not paper_comparable(paperlike)  # the paper's numbers are for the classic test
    with pytest.raises(ValueError, match="n_bins"):
        _emprt(n_bins=1)
    with pytest.raises(ValueError, match="layer_set"):
        _emprt(layer_set="all")


def test_results_save_and_load(tiny_model, images, tmp_path):
    smooth = run_smooth_randomization(tiny_model, images, IDS, _smprt(n_noisy=2),
                                      make_explainer=Darkness, layers=DEAD, progress=False)
    efficient = run_efficient_randomization(tiny_model, images, IDS, _emprt(),
                                            make_explainer=Darkness, layers=DEAD, progress=False)
    for result in (smooth, efficient):
        back = load_study(save_study(result, tmp_path / result.kind))
        assert type(back) is type(result) and back.kind == result.kind
        assert back.spec == result.spec
        np.testing.assert_array_equal(back.maps, result.maps)
        pd.testing.assert_frame_equal(back.table, result.table, check_dtype=False)
    assert isinstance(efficient, EfficientRandomizationResult)
    back = load_study(tmp_path / "emprt")
    pd.testing.assert_frame_equal(back.scores(), efficient.scores())
