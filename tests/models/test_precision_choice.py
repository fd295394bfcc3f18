"""The measured precision choice (issue 25): the rule, the cache, the overrides.

Timings are injected where a test needs a candidate to be fast or slow, so that the same
assertions hold on a CPU with native bfloat16 and on one where it is emulated.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from dermviz.models import precision_choice as pc

F32, F32X, B16, B16X = "float32", "float32 + XLA", "bfloat16", "bfloat16 + XLA"


def _agreement(gaps: dict[str, float], calls: list[str]):
    def agreement(precision: str, xla: bool) -> float:
        calls.append(pc.label(precision, xla))
        return gaps[pc.label(precision, xla)]
    return agreement


def test_choose_keeps_the_fastest_candidate_that_agrees():
    calls: list[str] = []
    timings = {F32: 10.0, F32X: 9.0, B16: 5.0, B16X: 12.0}
    gaps = {F32X: 1e-7, B16: 2e-4, B16X: 2e-4}
    assert pc.choose(timings, _agreement(gaps, calls)) == (("bfloat16", False), 2e-4, {B16: 2e-4})
    assert calls == [B16]  # the fastest agrees: nothing else is checked


def test_choose_falls_back_when_agreement_fails():
    calls: list[str] = []
    timings = {F32: 10.0, F32X: 9.0, B16: 5.0, B16X: 12.0}
    gaps = {F32X: 1e-7, B16: 2e-2, B16X: 2e-2}
    cand, gap, checked = pc.choose(timings, _agreement(gaps, calls))
    assert cand == ("float32", True) and gap == 1e-7
    assert calls == [B16, F32X] and checked == {B16: 2e-2, F32X: 1e-7}
    # Nothing faster agrees: float32 itself, the reference.
    calls.clear()
    cand, gap, _ = pc.choose(timings, _agreement({**gaps, F32X: 5e-3}, calls))
    assert cand == ("float32", False) and gap == 0.0 and calls == [B16, F32X]


def test_choose_never_checks_or_picks_a_slower_candidate():
    calls: list[str] = []
    timings = {F32: 10.0, F32X: 30.0, B16: 25.0, B16X: 40.0}  # bfloat16 emulated
    cand, gap, checked = pc.choose(timings, _agreement({}, calls))
    assert cand == ("float32", False) and calls == [] and checked == {}


def test_choose_refuses_bad_input():
    with pytest.raises(ValueError, match="reference 'float32'"):
        pc.choose({B16: 1.0}, lambda *_: 0.0)
    with pytest.raises(ValueError, match="tolerance must be > 0"):
        pc.choose({F32: 1.0}, lambda *_: 0.0, tolerance=0)


def test_requested_mode_flag_then_environment(monkeypatch):
    monkeypatch.delenv(pc.ENV_VAR, raising=False)
    assert pc.requested_mode() == "auto"
    monkeypatch.setenv(pc.ENV_VAR, "bfloat16")
    assert pc.requested_mode() == "bfloat16"
    assert pc.requested_mode("float32") == "float32"
    with pytest.raises(ValueError, match="--precision must be one of"):
        pc.requested_mode("float16")
    monkeypatch.setenv(pc.ENV_VAR, "half")
    with pytest.raises(ValueError, match=f"{pc.ENV_VAR} must be one of"):
        pc.requested_mode()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(pc.CACHE_ENV_VAR, str(tmp_path))
    assert pc.cache_dir() == tmp_path
    monkeypatch.delenv(pc.CACHE_ENV_VAR)
    assert pc.cache_dir().parts[-3:] == (".cache", "dermviz", "precision")


@pytest.fixture(scope="module")
def tiny_net():
    import keras

    inputs = keras.Input((24, 24, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="pred")(x)
    return keras.Model(inputs, out)


def _fake_timings(fast: str):
    def time_forward(model, images, *, batch, repeats):
        xla = pc.is_jit(model)
        name = pc.label(pc.model_precision(model), xla)
        return 1.0 if name == fast else 10.0 + xla
    return time_forward


def test_measured_choice_is_cached_with_its_timings(tiny_net, tmp_path, monkeypatch):
    probe = np.random.default_rng(0).uniform(0, 255, (8, 24, 24, 3)).astype("float32")
    key = pc.member_key(image_size=24, layer=None, member={"id": "m00", "trained": "t"})
    monkeypatch.setattr(pc, "time_forward", _fake_timings(B16))
    # Generous tolerance: the fast bfloat16 candidate agrees and is chosen.
    choice = pc.measured_choice(tiny_net, probe, key=key, folder=tmp_path, tolerance=0.5)
    assert (choice.precision, choice.xla, choice.source) == ("bfloat16", False, "measured")
    assert choice.speedup == pytest.approx(10.0) and set(choice.timings) == {F32, F32X, B16, B16X}
    assert 0 < choice.max_abs_diff <= 0.5
    records = sorted(p.name.split("-")[0] for p in tmp_path.iterdir())
    assert records == ["member", "speed"]
    member = json.loads(next(tmp_path.glob("member-*.json")).read_text())
    assert member["key"]["cpu"] and member["choice"]["timings"]
    assert member["key"]["tensorflow"].split()[-1][0].isdigit()  # read without importing TF
    # A second call reads the cache: nothing is timed again.
    monkeypatch.setattr(pc, "time_forward", lambda *a, **k: pytest.fail("timed again"))
    assert pc.stored_choice(key, folder=tmp_path) == choice
    assert pc.measured_choice(tiny_net, probe, key=key, folder=tmp_path) == choice
    # Another member of the same architecture reuses the timings and checks its own
    # agreement; with a tolerance bfloat16 cannot meet, it falls back to float32.
    other = pc.member_key(image_size=24, layer=None, member={"id": "m01", "trained": "t"})
    strict = pc.measured_choice(tiny_net, probe, key=other, folder=tmp_path, tolerance=1e-12)
    assert (strict.precision, strict.xla, strict.max_abs_diff) == ("float32", False, 0.0)
    assert strict.agrees and "float32" in strict.describe()


def test_maps_that_disagree_refuse_a_candidate_whose_p_agrees(tiny_net, tmp_path, monkeypatch):
    probe = np.random.default_rng(1).uniform(0, 255, (4, 24, 24, 3)).astype("float32")
    key = pc.member_key(image_size=24, layer="conv", member={"id": "m00", "trained": "t"})
    monkeypatch.setattr(pc, "time_forward", _fake_timings(B16))
    monkeypatch.setattr(pc, "MAP_SSIM", 1.01)  # no map can meet it
    choice = pc.measured_choice(tiny_net, probe, key=key, folder=tmp_path, tolerance=0.5)
    assert choice.precision == "float32"
    record = json.loads(next(tmp_path.glob("member-*.json")).read_text())
    assert set(record["map_ssim"]) >= {B16} and record["map_ssim"][B16] <= 1.0


def test_forced_bfloat16_reports_its_disagreement(tiny_net):
    probe = np.random.default_rng(2).uniform(0, 255, (4, 24, 24, 3)).astype("float32")
    forced = pc.forced_choice(tiny_net, probe, "bfloat16")
    assert (forced.precision, forced.source) == ("bfloat16", "forced")
    assert forced.max_abs_diff > 0 and forced.agrees == (forced.max_abs_diff <= pc.TOLERANCE)
    assert "max |p - p_float32|" in forced.describe()
    net = pc.working_model(tiny_net, forced)
    assert pc.model_precision(net) == "bfloat16" and pc.model_precision(tiny_net) == "float32"
    xla = pc.twin_for(tiny_net, "float32", True)
    assert pc.is_jit(xla) and not pc.is_jit(tiny_net)
    np.testing.assert_allclose(pc.probe_p(xla, probe, batch=4),
                               pc.probe_p(tiny_net, probe, batch=4), atol=1e-5)


def test_training_precision_forced_or_measured_once(tiny_net, tmp_path, monkeypatch):
    builds: list[int] = []

    def build():
        builds.append(1)
        return tiny_net

    monkeypatch.setenv(pc.ENV_VAR, "bfloat16")
    assert pc.training_precision(build, image_size=24, architecture="tiny",
                                 folder=tmp_path) == "bfloat16"
    monkeypatch.setenv(pc.ENV_VAR, "float32")
    assert pc.training_precision(build, image_size=24, architecture="tiny",
                                 folder=tmp_path) == "float32"
    assert builds == []  # forced: nothing built or timed
    monkeypatch.setenv(pc.ENV_VAR, "auto")
    # auto without measuring is float32: nothing timed
    assert pc.training_precision(build, image_size=24, architecture="tiny",
                                 folder=tmp_path) == "float32"
    assert builds == []
    for fast, expected in ((B16, "bfloat16"), (F32, "float32")):
        folder = tmp_path / expected
        monkeypatch.setattr(pc, "time_forward", _fake_timings(fast))
        assert pc.training_precision(build, image_size=24, architecture="tiny",
                                     folder=folder, measure=True) == expected
        monkeypatch.setattr(pc, "time_forward", lambda *a, **k: pytest.fail("timed again"))
        assert pc.training_precision(build, image_size=24, architecture="tiny",
                                     folder=folder, measure=True) == expected
    assert len(builds) == 2  # once per cache


def test_choose_ignores_a_gain_inside_the_timing_noise():
    calls: list[str] = []
    timings = {F32: 10.0, F32X: 9.5, B16: 9.2, B16X: 12.0}  # under MIN_GAIN (1.1x)
    assert pc.choose(timings, _agreement({}, calls)) == (("float32", False), 0.0, {})
    assert calls == []
