"""Fits that share a compiled model (a suite's members) train the model a fit of its
own would; XLA fits train on batches of one shape.

40 synthetic images, one epoch, graph mode with XLA (the trace is what is shared). What
is compared is what a shared fit keeps or resets, not InceptionV3: the fits build
tests.helpers.tiny_member at 32 px (BatchNorm, dropout, the member's head), which XLA
compiles in seconds where InceptionV3 took about two minutes on a 2-core CPU.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dermviz.data.synthetic import SyntheticConfig, make_synthetic
from dermviz.models import fit
from dermviz.models.config import TrainConfig
from dermviz.models.fit import CompiledFits, SplitRows, _trace_key, fit_member
from dermviz.models.image_cache import ImageCache
from dermviz.models.pipeline import make_train_dataset, train_steps
from dermviz.models.seeds import fit_seed, member_seed
from dermviz.models.workspace import build_caches, member_splits, split_record
from tests.helpers import tiny_member

pytestmark = pytest.mark.timeout(600)

CONFIG = TrainConfig(image_size=32, n_members=2, seed=5, epochs=1, batch_size=16,
                     bn_momentum=0.9, dense_units=16, gradcam_layer="mixed2")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    data = make_synthetic(SyntheticConfig(n_train=40, n_test=8, seed=2))
    seeds = [member_seed(CONFIG.seed, i) for i in range(CONFIG.n_members)]
    splits = member_splits(CONFIG, data.pool, seeds)
    out = Path(tmp_path_factory.mktemp("compiled"))
    caches = build_caches(out, data, splits, size=CONFIG.image_size, progress=False)
    rows = [SplitRows.from_record(split_record(s, caches.row_of)) for s in splits]
    fit_seeds = [fit_seed(s.seed, 0) for s in splits]
    return ImageCache(caches.pool), ImageCache(caches.holdout), rows, fit_seeds


def _fit(workspace, member: int, **kwargs):
    pool, holdout, rows, seeds = workspace
    return fit_member(CONFIG, rows[member], pool, holdout, seed=seeds[member], **kwargs)


def test_a_shared_xla_compiled_model_trains_the_member_a_fit_of_its_own_would(workspace,
                                                                             monkeypatch):
    monkeypatch.setattr(fit, "build_inception", tiny_member)  # the fits' and their twins'
    # The demo's path: XLA on a CPU, members sharing the compiled step.
    xla = {"xla": "on"}
    shared = CompiledFits()
    first = _fit(workspace, 0, compiled=shared, device=xla)
    second = _fit(workspace, 1, compiled=shared, device=xla)
    alone = _fit(workspace, 1, device=xla)
    assert first.device["jit_compile"] is True
    # A compiled step drops the ragged last batch, and the fit says how many steps it ran.
    n_train = len(workspace[2][0].train_rows)
    assert first.steps_per_epoch == n_train // 16 < train_steps(n_train, batch_size=16)
    assert not first.reused and second.reused and not alone.reused
    assert len(alone.history["val_auc"]) == 1
    # The shared model ended the first fit trained; a second fit that kept any of that
    # (weights, optimizer moments, step count, dropout state) would not match.
    assert np.isfinite(alone.p_test).all() and np.ptp(alone.p_test) > 0
    np.testing.assert_allclose(second.p_test, alone.p_test, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second.p_val, alone.p_val, rtol=1e-5, atol=1e-6)
    for a, b in zip(second.model.get_weights(), alone.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert second.best_epoch == alone.best_epoch
    assert not np.allclose(first.p_test, second.p_test), "two seeds, one model?"
    assert second.model is not first.model  # the next shared fit leaves this one alone


def test_fits_share_a_compiled_model_only_when_their_steps_would_trace_the_same():
    used = {"gpus": [], "mixed_precision": False, "jit_compile": True, "threads": None,
            "deterministic": False}
    key = _trace_key(CONFIG, 2, used)
    assert _trace_key(CONFIG.replace(seed=9, n_members=5), 2, used) == key
    for other in (CONFIG.replace(dropout=0.2), CONFIG.replace(learning_rate=0.01),
                  CONFIG.replace(image_size=80), CONFIG.replace(epochs=3)):
        assert _trace_key(other, 2, used) != key
    assert _trace_key(CONFIG, 3, used) != key
    assert _trace_key(CONFIG, 2, {**used, "jit_compile": False}) != key


def test_drop_remainder_keeps_full_batches_only(workspace):
    pool, _, rows, seeds = workspace
    n = len(rows[0].train_rows)
    assert n % 16, "the fixture needs a ragged last batch"
    ds = make_train_dataset(pool, rows[0].train_rows, rows[0].train_y, batch_size=16,
                            seed=seeds[0], drop_remainder=True)
    sizes = [len(y) for _, y, _ in ds]
    assert sizes == [16] * (n // 16) == [16] * train_steps(n, batch_size=16,
                                                             drop_remainder=True)
    assert train_steps(n, batch_size=16) == n // 16 + 1
    with pytest.raises(ValueError, match="leaves no batch"):
        make_train_dataset(pool, rows[0].train_rows[:10], rows[0].train_y[:10],
                           batch_size=16, seed=0, drop_remainder=True)


def test_the_demo_trains_with_its_profiles_xla_setting(monkeypatch, tmp_path):
    import dermviz.demo as demo
    import dermviz.models.training as training
    from dermviz.demo import run_demo
    from dermviz.models.profiles import PROFILES

    seen = []
    monkeypatch.setattr(training, "train_suite", lambda *args, **kwargs: seen.append(
        kwargs["device"]) or SimpleNamespace())
    monkeypatch.setattr(demo, "prepare_pages", lambda *args, **kwargs: None)  # nothing trained
    monkeypatch.setattr(demo, "prepare_report_card", lambda *args, **kwargs: None)
    monkeypatch.setattr(demo, "prepare_sanity_examples", lambda *args, **kwargs: None)
    for name in ("smoke", "default"):
        run_demo(profile=name, out_dir=tmp_path / name, explain=False, progress=False)
    assert seen == [{"xla": "auto"}, {"xla": "on"}]
    assert PROFILES["default"].xla == "on"  # XLA pays off over the default's 120 steps a member


def test_a_cpu_fit_trains_in_bfloat16_when_asked_and_saves_float32(workspace, monkeypatch):
    """Issue 25: ``--precision bfloat16`` (or a measured ``auto``) trains a CPU fit under
    ``mixed_bfloat16``; the saved member is a plain float32 model."""
    import keras

    monkeypatch.setattr(fit, "build_inception", tiny_member)
    monkeypatch.setenv("DERMVIZ_PRECISION", "bfloat16")
    result = _fit(workspace, 0)
    assert result.device["mixed_precision"] is True
    assert result.device["policy"] == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in result.model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"  # reset after the fit
    assert np.isfinite(result.p_test).all() and np.isfinite(result.history["loss"]).all()
    assert result.policy == "mixed_bfloat16"
    monkeypatch.setenv("DERMVIZ_PRECISION", "float32")
    plain = _fit(workspace, 0)
    assert plain.device["mixed_precision"] is False and plain.policy == "float32"
    assert plain.steps_per_epoch == train_steps(len(workspace[2][0].train_rows),
                                                batch_size=16)  # no XLA: every batch
