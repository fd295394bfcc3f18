"""``dermviz confounders`` on a copy of the smoke suite."""

from __future__ import annotations

from dermviz.cli import main


def test_confounders_prints_the_baselines_beside_the_suite(confound_models, capsys):
    root = ["--models-dir", str(confound_models)]
    assert main([*root, "confounders", "--suite", "demo-smoke", "--bootstrap", "50",
                 "--counterfactuals", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "reading every pool and hold-out image" in err  # the first run computes
    assert "skin outside the lesion (no CNN)" in out and "ensemble" in out
    assert "95% intervals" in out  # the overlap sentence, one way or the other
    assert "records no dx_type" in out
    assert "By ink" in out and "By ruler" in out  # the artefact flags are the strata
    assert "lesion_removed" in out and "surround_replaced" in out
    assert main([*root, "confounders", "--suite", "demo-smoke", "--bootstrap", "50",
                 "--by", "ink"]) == 0
    out, err = capsys.readouterr()
    assert "read from the suite's cache" in out and "reading every" not in err
    assert "By ink" in out and "By ruler" not in out


def test_confounders_refuses_histo_only_without_dx_type(confound_models, capsys):
    code = main(["--models-dir", str(confound_models), "confounders", "--suite", "demo-smoke",
                 "--histo-only", "--bootstrap", "20"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "dermviz: error: suite 'demo-smoke': its data set records no dx_type")


def test_train_refuses_the_histo_holdout_on_synthetic_data(tmp_path, capsys):
    code = main(["--models-dir", str(tmp_path), "train", "--name", "x", "--holdout", "histo"])
    assert code == 2
    assert "needs HAM10000" in capsys.readouterr().err
