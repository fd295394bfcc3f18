"""The command line, end to end on the smoke profile."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dermviz.cli import main
from tests.conftest import REPO_ROOT


def test_info_lists_suites(smoke_models_dir, capsys):
    assert main(["--models-dir", str(smoke_models_dir), "info"]) == 0
    out = capsys.readouterr().out
    assert "demo-smoke" in out and "2 member(s)" in out
    assert main(["--models-dir", str(smoke_models_dir), "info", "--suite", "demo-smoke"]) == 0
    assert "m01" in capsys.readouterr().out


def test_info_warns_of_a_member_no_better_than_chance(tmp_path, capsys):
    from tests.helpers import write_prediction_suite

    y = [1, 0] * 20
    suite = write_prediction_suite(tmp_path / "s", y=y, members={
        "m00": (0.5, [0.1 + 0.8 * v for v in y]), "m01": (0.5, [0.5] * len(y))})
    manifest = json.loads((suite.path / "suite.json").read_text())
    manifest["dataset"] = {"name": "synthetic"}
    for entry, auc in zip(manifest["members"], (1.0, 0.5), strict=True):  # what training records
        entry["holdout"] = {"auc": auc, "accuracy": auc, "sensitivity": auc,
                            "specificity": auc, "threshold": 0.5}
    (suite.path / "suite.json").write_text(json.dumps(manifest))
    assert main(["--models-dir", str(tmp_path), "info", "--suite", "s"]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("warning:")]
    assert "1 of 2 members" in line and "m01 0.50" in line and "m00" not in line


def test_info_without_suites_says_what_to_do(tmp_path, capsys):
    assert main(["--models-dir", str(tmp_path), "info"]) == 0
    assert "dermviz demo" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["--models-dir", str(tmp_path), "explain", "--suite", "absent"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dermviz: error: no suite 'absent' under")
    assert main(["train", "--name", "x", "--data", str(tmp_path / "nowhere")]) == 2
    assert "HAM10000_metadata.csv" in capsys.readouterr().err


def test_train_with_imagenet_offline_fails_fast(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    code = main(["--models-dir", str(tmp_path), "train", "--name", "x", "--weights", "imagenet"])
    assert code == 2
    assert "not available offline" in capsys.readouterr().err


def test_train_flags_override_the_config_file(tmp_path, monkeypatch):
    """`--lr-schedule` and `--epochs` replace the file's values; the rest of the file stays."""
    seen = {}

    class Stop(Exception):
        pass

    def capture(dataset, config, **kwargs):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr("dermviz.models.training.train_suite", capture)
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"lr_schedule": "cosine", "epochs": 10, "patience": 4}))
    with pytest.raises(Stop):
        main(["--models-dir", str(tmp_path), "train", "--data", "synthetic",
              "--synthetic-train", "8", "--synthetic-test", "4", "--config", str(config),
              "--name", "x", "--lr-schedule", "constant", "--epochs", "2"])
    got = seen["config"]
    assert (got.lr_schedule, got.epochs, got.patience) == ("constant", 2, 4)
    with pytest.raises(SystemExit):  # argparse refuses a schedule it does not know
        main(["train", "--name", "x", "--lr-schedule", "step"])


def test_explain_layer_option_fills_the_store(smoke_models_dir, smoke_suite, capsys):
    ids = smoke_suite.dataset().holdout["image_id"].tolist()[:3]
    args = ["--models-dir", str(smoke_models_dir), "explain", "--suite", "demo-smoke",
            "--layer", "mixed5", "--members", "m00", "--images", ",".join(ids)]
    assert main(args) == 0
    assert "computed 3" in capsys.readouterr().out
    assert main(args) == 0
    assert "already cached 3" in capsys.readouterr().out


@pytest.mark.parametrize("entry", [["dermviz"], [sys.executable, "-m", "dermviz"]])
def test_entry_points(entry):
    result = subprocess.run([*entry, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "demo" in result.stdout and "explain" in result.stdout


@pytest.mark.realdata
def test_the_reference_ham10000_config_trains_at_a_tiny_size(tmp_path, capsys):
    """`dermviz train` end to end on the real images: configs/ham10000-auc.toml (cosine
    decay, early stopping) shrunk to 75 px, one member, 96 training images, two epochs."""
    import tomllib

    from dermviz.data.ham10000 import find_ham10000
    from dermviz.models.suite import Suite

    root = find_ham10000()
    if root is None:
        pytest.skip("shared HAM10000 copy not found (../shared/data/ham10000-200x150)")
    shipped = tomllib.loads((REPO_ROOT / "configs" / "ham10000-auc.toml").read_text())["train"]
    small = {**shipped, "image_size": 75, "n_members": 1, "max_train": 96, "epochs": 2,
             "batch_size": 16, "patience": 1, "gradcam_layer": "mixed2"}
    config = tmp_path / "small.json"
    config.write_text(json.dumps(small))
    assert main(["--models-dir", str(tmp_path), "train", "--data", str(root), "--config",
                 str(config), "--name", "ham-small", "--no-prepare"]) == 0
    suite = Suite(tmp_path / "ham-small")
    assert suite.dataset_info["name"] == "ham10000"
    preds = suite.predictions("m00")  # the paper's balanced hold-out, in its order
    assert len(preds) == 400
    assert preds["y"].sum() == 200 and (preds["test_index"] == range(400)).all()
    assert "ham-small" in capsys.readouterr().out
    assert suite.config["lr_schedule"] == "cosine" and suite.config["patience"] == 1
    history = json.loads((suite.path / "members" / "m00" / "history.json").read_text())
    assert 1 <= len(history["loss"]) <= 2
    assert 0.0 <= suite.member("m00")["holdout"]["auc"] <= 1.0


@pytest.mark.parametrize("command", ["info", "explain", "sanity"])
def test_a_missing_or_escaping_suite_is_one_line(tmp_path, capsys, command):
    for name, words in [("nope", "no suite 'nope' under"), ("../elsewhere", "'..'")]:
        argv = ["--models-dir", str(tmp_path), command, "--suite", name]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("dermviz: error:") and words in err[0]


def test_info_prints_each_members_precision(smoke_models_dir, capsys, monkeypatch):
    from dermviz.cli.suite import precision_line

    monkeypatch.setenv("DERMVIZ_PRECISION", "float32")  # restored after the test
    root = ["--models-dir", str(smoke_models_dir)]
    assert main([*root, "info", "--suite", "demo-smoke"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("precision: float32") and "m01 runs in float32 (forced)" in out
    assert main([*root, "info", "--suite", "demo-smoke", "--precision", "bfloat16"]) == 0
    out = capsys.readouterr().out
    assert "m00 runs in bfloat16 (forced, agreement with float32 not checked yet)" in out
    with pytest.raises(SystemExit):  # argparse refuses it
        main([*root, "--precision", "half", "info"])
    assert "invalid choice" in capsys.readouterr().err
    assert "bfloat16 native (avx512_bf16)" in precision_line("flags : avx2 avx512_bf16\n")
    assert "emulated (slow): auto keeps float32" in precision_line("flags : avx2\n")
