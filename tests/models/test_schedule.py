"""The learning-rate schedule and early stopping of a member's fit."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models import fit
from dermviz.models.config import TrainConfig
from dermviz.models.fit import SplitRows, fit_member, learning_rate
from dermviz.models.image_cache import ImageCache, build_cache
from tests.helpers import tiny_member


def test_config_refuses_unknown_schedule_and_bad_patience():
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(patience=0)
    assert TrainConfig(patience=3, lr_schedule="cosine").patience == 3


def test_cosine_schedule_decays_from_the_rate_to_zero_over_all_steps():
    config = TrainConfig(learning_rate=1e-3, epochs=4, lr_schedule="cosine")
    schedule = learning_rate(config, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 20, 40)]
    assert rates == pytest.approx([1e-3, 5e-4, 0.0], abs=1e-9)
    assert learning_rate(config.replace(lr_schedule="constant"), steps_per_epoch=10) == 1e-3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        learning_rate(config, steps_per_epoch=0)


@pytest.mark.timeout(300)
def test_patience_stops_a_fit_whose_validation_auc_does_not_improve(tmp_path, monkeypatch):
    # A learning rate of 1e-12 leaves the weights where they are, so validation AUC
    # cannot rise six times in a row: with patience 1 the fit stops early. Early stopping
    # does not depend on the model: a tiny stand-in, not InceptionV3, is fitted.
    monkeypatch.setattr(fit, "build_inception", tiny_member)
    data = make_synthetic(n_train=24, n_test=4, seed=0)
    ids = list(data.pool["image_id"])
    pool = ImageCache(build_cache(data, ids, tmp_path, "pool", size=75))
    holdout = ImageCache(build_cache(data, list(data.holdout["image_id"]), tmp_path,
                                     "holdout", size=75))
    y = data.pool["y"].to_numpy(np.float32)
    split = SplitRows(train_rows=np.arange(16), train_y=y[:16], train_aug=None,
                      val_rows=np.arange(16, 24), val_y=y[16:24], val_aug=None,
                      class_weight=None, random_flips=False)
    config = TrainConfig(image_size=75, epochs=7, batch_size=8, learning_rate=1e-12,
                         dense_units=8, bn_momentum=0.99999, patience=1, run_eagerly=True)
    result = fit_member(config, split, pool, holdout, seed=0)
    assert result.epochs_run < config.epochs
    assert len(result.p_test) == len(data.holdout)
