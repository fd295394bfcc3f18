"""Tests for the lesion-blind report of a Dataset: the demo set and, when present, HAM10000."""

from __future__ import annotations

import numpy as np
import pytest

from dermviz.analysis.blind.dataset import dataset_blind_report, default_acquisition
from dermviz.data.ham10000 import find_ham10000, load_ham10000
from dermviz.data.synthetic import make_synthetic


def test_report_on_a_synthetic_set_with_an_ink_shortcut() -> None:
    # Ink on the skin of most melanomas and few naevi: the skin predicts both the ink
    # (the acquisition check) and, through it, the label.
    ds = make_synthetic(n_train=120, n_test=60, seed=4, artefacts={"ink": (0.8, 0.1)})
    report = dataset_blind_report(ds, size=48, n_bootstrap=100)
    baselines = report["baselines"].set_index("region")
    assert baselines.loc["outside", "auc"] > 0.7
    assert report["baselines_histo"] is None  # no dx_type on the synthetic set
    acq = report["acquisition"].set_index("target")
    assert acq.loc["ink == True", "auc"] >= 0.85 and acq.loc["ink == True", "within"] == "all"
    assert any("ruler" in note for note in report["notes"])  # no ruler anywhere: skipped
    # The features are plain arrays, and passing them back skips reading the images.
    features = report["features"]
    assert isinstance(features["train"]["outside"], np.ndarray)
    again = dataset_blind_report(ds, size=48, n_bootstrap=100, features=features)
    assert again["baselines"].equals(report["baselines"])
    with pytest.raises(ValueError, match="same images"):
        dataset_blind_report(ds, size=48, max_train=50, features=features)
    with pytest.raises(ValueError, match="not in the dataset"):
        dataset_blind_report(ds, size=48, features=features, acquisition={"dx_type": ("x", None)})


def test_max_train_draws_a_class_stratified_subset() -> None:
    ds = make_synthetic(n_train=60, n_test=20, seed=2)
    report = dataset_blind_report(ds, size=32, max_train=30, n_bootstrap=0, acquisition={})
    assert (report["baselines"]["n_train"] == 30).all()
    assert report["acquisition"].empty
    assert default_acquisition(ds.table) == {"ink": (True, None), "ruler": (True, None)}


@pytest.mark.realdata
def test_ham10000_blind_baselines_and_the_follow_up_shortcut() -> None:
    root = find_ham10000()
    if root is None:
        pytest.skip("HAM10000 not found: set DERMVIZ_HAM10000 (see find_ham10000)")
    ham = load_ham10000(root)
    report = dataset_blind_report(ham, size=64, max_train=1500, n_bootstrap=200)
    paper = report["baselines"].set_index("region")
    histo = report["baselines_histo"].set_index("region")
    # The skin outside the lesion alone scores high on the paper's hold-out...
    assert paper.loc["outside", "auc"] >= 0.8
    # ...because it tells follow-up naevi from the others...
    acq = report["acquisition"].set_index("target").loc["dx_type == follow_up"]
    assert acq["within"] == "nv" and acq["auc"] >= 0.85 and acq["n_test"] == 200
    # ...and much less on the histo-confirmed images (200 melanomas, 43 naevi).
    assert (histo["n_test"] == 243).all()
    assert histo.loc["outside", "auc"] < paper.loc["outside", "auc"] - 0.1
