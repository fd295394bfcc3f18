"""``dermviz train`` is a search over one fixed point: the same hyperparameters and
seed give the same member through ``dermviz train`` and through a one-trial
``dermviz search`` whose space is that point.

Both commands run as subprocesses (op determinism is switched on per process with
``--deterministic`` and must not leak into other tests); the trial of the search
runs in a process of its own, as always. 75 px, 16 synthetic training images (one
step), one epoch, eager mode: most of the time is the three processes' start-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermviz.models.config import TrainConfig
from dermviz.models.search_config import SearchConfig, SearchSpace
from dermviz.models.suite import Suite
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.timeout(400)

POINT = TrainConfig(
    image_size=75, n_members=1, seed=3, epochs=1, batch_size=16, learning_rate=3e-4,
    optimizer="adam", beta_1=0.85, beta_2=0.995, dense_units=32, dropout=0.3,
    bn_momentum=0.9, run_eagerly=True, gradcam_layer="mixed2",
)
DATA = ["--data", "synthetic", "--synthetic-train", "16", "--synthetic-test", "8"]


def _at_the_point(config: TrainConfig) -> SearchConfig:
    """A one-trial search whose space holds only ``config``'s hyperparameters."""
    h = config.hyperparameters()
    space = SearchSpace(
        learning_rate=(h["learning_rate"],) * 2, dropout=(h["dropout"],) * 2,
        optimizers=(h["optimizer"],), momentum=(h["momentum"],) * 2,
        beta_1=(h["beta_1"],) * 2, beta_2=(h["beta_2"],) * 2,
        dense_units=(h["dense_units"],) * 2, epochs=(h["epochs"],) * 2,
    )
    return SearchConfig(train=config, n_trials=1, n_startup_trials=1, sampler="tpe",
                        space=space)


def _dermviz(models: Path, *args: str) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "dermviz", "--models-dir", str(models), *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=360,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> tuple[Suite, Suite]:
    tmp = tmp_path_factory.mktemp("equivalence")
    models = tmp / "models"
    train_file = tmp / "train.json"
    train_file.write_text(json.dumps(POINT.to_dict()))
    search_file = tmp / "search.yaml"
    search_file.write_text(_at_the_point(POINT).to_yaml())
    _dermviz(models, "train", "--config", str(train_file), "--name", "trained",
             "--deterministic", "--no-prepare", *DATA)
    _dermviz(models, "search", "--config", str(search_file), "--name", "searched",
             "--deterministic", "--no-progress", "--no-prepare", *DATA)
    return Suite(models / "trained"), Suite(models / "searched")


def test_same_point_and_seed_give_the_same_holdout_predictions(suites):
    trained, searched = suites
    assert trained.complete and searched.complete
    a, b = trained.predictions("m00"), searched.predictions("m00")
    assert a["image_id"].tolist() == b["image_id"].tolist()
    p = a["p_melanoma"].to_numpy()
    assert np.ptp(p) > 0, "a constant model would make the comparison meaningless"
    np.testing.assert_array_equal(p, b["p_melanoma"].to_numpy())
    pd.testing.assert_frame_equal(a, b)


def test_same_member_record(suites):
    trained, searched = suites
    t, s = trained.member("m00"), searched.member("m00")
    for key in ("seed", "fit_seed", "threshold", "best_epoch", "split", "holdout", "val_auc",
                "policy", "steps_per_epoch"):
        assert t[key] == s[key], key
    assert s["search"]["trial_seed"] == t["fit_seed"]
    saved = [json.loads((x.member_dir("m00") / "member.json").read_text())["config"]
             for x in (trained, searched)]
    assert saved[0] == saved[1] == POINT.to_dict()
    assert trained.history("m00").equals(searched.history("m00"))
