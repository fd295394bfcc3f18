"""Member records and the manifest: one writer for trained and searched suites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.config import TrainConfig
from dermviz.models.records import (
    cpu_info,
    cpu_model,
    finish_manifest,
    save_member,
    start_manifest,
)
from dermviz.models.suite import Suite


class _Model:
    """Stands in for a Keras model: ``save`` writes a file."""

    def save(self, path):  # noqa: ANN001, ANN201
        with open(path, "wb") as fh:
            fh.write(b"model")


@pytest.fixture(scope="module")
def tiny():
    return make_synthetic(n_train=20, n_test=6, seed=0)


def test_save_member_writes_files_then_member_json(tiny, tmp_path):
    config = TrainConfig(image_size=32, n_members=1)
    manifest = start_manifest(tmp_path, name="s", dataset=tiny, config=config)
    holdout = tiny.holdout
    p_test = np.linspace(0.1, 0.9, len(holdout)).astype(np.float32)
    val_y = np.array([0, 0, 1, 1])
    entry = save_member(
        tmp_path / "members" / "m00", model=_Model(), mid="m00", seed=11, config=config,
        split_summary={"n_train": 4}, history={"loss": [0.5]}, best_epoch=0, val_y=val_y,
        p_val=np.array([0.1, 0.3, 0.2, 0.9]), holdout=holdout, p_test=p_test,
        extra={"fit_seed": 12}, fit_seconds=12.34,
    )
    manifest["members"].append(entry)
    finish_manifest(tmp_path, manifest)
    suite = Suite(tmp_path)
    assert suite.complete and suite.member_ids == ["m00"]
    member = suite.member("m00")
    assert member["fit_seed"] == 12 and member["seed"] == 11
    assert member["fit_seconds"] == 12.3
    assert member["machine"]["cpu"] == cpu_model() and member["machine"]["cores"] >= 1
    assert member["threshold"] == pytest.approx(0.9)  # Youden's J on the validation data
    assert member["val_auc"] == pytest.approx(0.75)
    preds = suite.predictions("m00")
    assert (preds["predicted"] == (preds["p_melanoma"] >= 0.9)).all()
    assert (tmp_path / "members" / "m00" / "model.keras").read_bytes() == b"model"
    # A saved model file can be copied instead (promotion of a search trial).
    other = tmp_path / "trial.keras"
    other.write_bytes(b"trial")
    save_member(tmp_path / "members" / "m01", model=other, mid="m01", seed=1, config=config,
                split_summary={}, history={}, best_epoch=0, val_y=val_y,
                p_val=np.array([0.1, 0.3, 0.2, 0.9]), holdout=holdout, p_test=p_test)
    assert (tmp_path / "members" / "m01" / "model.keras").read_bytes() == b"trial"
    assert isinstance(pd.read_csv(tmp_path / "members" / "m01" / "holdout_predictions.csv"),
                      pd.DataFrame)


def test_resume_checks(tiny, tmp_path):
    config = TrainConfig(image_size=32)
    start_manifest(tmp_path / "fixed", name="f", dataset=tiny, config=config)
    # Same config resumes (a config written before newer options existed too).
    again = start_manifest(tmp_path / "fixed", name="f", dataset=tiny, config=config)
    assert again["status"] == "training"
    with pytest.raises(ValueError, match="different config"):
        start_manifest(tmp_path / "fixed", name="f", dataset=tiny, config=config.replace(epochs=2))
    with pytest.raises(ValueError, match="fixed hyperparameters"):
        start_manifest(tmp_path / "fixed", name="f", dataset=tiny, config=config,
                       search={"config": {}, "storage": "x"})
    with pytest.raises(ValueError, match="another data set"):
        start_manifest(tmp_path / "fixed", name="f", dataset=make_synthetic(
            n_train=20, n_test=6, seed=1), config=config)
    search = {"config": {"n_trials": 2, "sampler": "tpe"}, "storage": "x"}
    start_manifest(tmp_path / "searched", name="s", dataset=tiny, config=config, search=search)
    with pytest.raises(ValueError, match="searched suite"):
        start_manifest(tmp_path / "searched", name="s", dataset=tiny, config=config)
    more = {"config": {"n_trials": 5, "sampler": "tpe"}, "storage": "y"}
    resumed = start_manifest(tmp_path / "searched", name="s", dataset=tiny, config=config,
                             search=more)
    assert resumed["search"]["config"]["n_trials"] == 5 and resumed["search"]["storage"] == "y"
    with pytest.raises(ValueError, match="only n_trials may change"):
        start_manifest(tmp_path / "searched", name="s", dataset=tiny, config=config,
                       search={"config": {"n_trials": 5, "sampler": "gp"}, "storage": "y"})


def test_cpu_info_reads_the_first_processor():
    text = ("processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu avx2 avx512_bf16\n\n"
            "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
    info = cpu_info(text)
    assert info.model == "AMD EPYC 9R14"
    assert info.flags == frozenset({"fpu", "avx2", "avx512_bf16"})
    assert cpu_info("model name : X\n").flags == frozenset()  # a CPU without a flags line
    assert cpu_info("").flags is None  # nothing to read: unknown, not empty
    assert cpu_info().model == cpu_model()
