"""``dermviz sanity`` end to end on the smoke suite (tiny settings), and its helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from dermviz.cli import main


@pytest.fixture(scope="module")
def models_dir(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder whose demo-smoke shares the session suite's members (read-only)
    but has its own ``sanity/`` cache."""
    root = tmp_path_factory.mktemp("sanity-models")
    src = smoke_models_dir / "demo-smoke"
    (root / "demo-smoke").mkdir()
    shutil.copy(src / "suite.json", root / "demo-smoke" / "suite.json")
    (root / "demo-smoke" / "members").symlink_to(src / "members", target_is_directory=True)
    return root


def _ids(models_dir: Path, n_mel: int = 1, n_nv: int = 1) -> list[str]:
    from dermviz.models.suite import Suite

    holdout = Suite(models_dir / "demo-smoke").dataset().holdout
    mel = holdout.loc[holdout["dx"] == "mel", "image_id"].tolist()[:n_mel]
    nv = holdout.loc[holdout["dx"] == "nv", "image_id"].tolist()[:n_nv]
    return mel + nv


def test_sanity_runs_caches_and_exports(models_dir, tmp_path, capsys, monkeypatch):
    ids = _ids(models_dir)
    csv = tmp_path / "out" / "sanity.csv"
    args = [
        "--models-dir", str(models_dir), "sanity", "--suite", "demo-smoke",
        "--study", "custom", "--stages", "head_dense", "--target", "predicted",
        "--methods", "gradcam,kernelshap", "--images", ",".join(ids),
        "--nsamples", "50", "--n-segments", "10", "--also", "reproducibility,cross-model",
        "--csv", str(csv), "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for title in ("gradcam layer randomization", "kernelshap layer randomization",
                  "reproducibility (same member twice)", "cross-model similarity"):
        assert title in out
    assert "computed in" in out and "baseline" in out and "mean |change|" in out
    assert "explainer seeds [0, 1]" in out  # KernelSHAP: one seed per run
    table = pd.read_csv(csv)
    assert set(table["study"]) == {"randomization", "reproducibility", "cross_model"}
    assert set(table["method"]) == {"gradcam", "kernelshap"}
    assert set(table["image_id"]) == set(ids)
    stages = table.loc[table["study"] == "randomization", "stage_name"]
    assert set(stages) >= {"original", "head_dense"}
    saved = list((models_dir / "demo-smoke" / "sanity").glob("*/study.json"))
    assert len(saved) == 6  # 2 methods x (randomization, reproducibility, cross-model)

    # A second run is a cache hit: no model is loaded, the same numbers come back.
    from dermviz.models.suite import Suite

    def no_load(self, member_id):  # noqa: ANN001, ANN202
        raise AssertionError("a cached study loaded a model")

    monkeypatch.setattr(Suite, "load_model", no_load)
    csv2 = tmp_path / "again.csv"
    assert main([*args[:-3], "--csv", str(csv2), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "computed in" not in out and out.count("[cached") == 6
    pd.testing.assert_frame_equal(pd.read_csv(csv2), table)


def test_saved_studies_and_tables(models_dir):
    from dermviz import sanity

    studies = sanity.list_studies(models_dir / "demo-smoke")
    if not studies:
        pytest.skip("needs the studies of test_sanity_runs_caches_and_exports")
    kinds = {(s.kind, s.method) for s in studies}
    assert ("randomization", "gradcam") in kinds and ("cross_model", "kernelshap") in kinds
    assert all(s.folder.name == s.spec.folder_name() for s in studies)
    assert [s.kind for s in sanity.list_studies(models_dir / "demo-smoke", ["cross_model"])] == [
        "cross_model", "cross_model"]
    rnd = sanity.load_study(next(s.folder for s in studies if s.kind == "randomization"))
    stages = rnd.stage_table()
    assert list(stages["stage_name"]) == ["original", "head_dense"]
    assert stages.loc[0, "ssim"] == pytest.approx(1.0)
    assert "paper_ssim_paper" not in stages  # a subset of the paper's stages
    assert len(rnd.step_table()) == 1
    assert set(rnd.baseline_table()["baseline"]) == {"random", "edge"}
    cross = sanity.load_study(next(s.folder for s in studies if s.kind == "cross_model"))
    table = cross.comparison_table()
    assert table.loc[table["kind"] == "pair", "paper_ssim_paper"].str.len().min() > 0


def test_smprt_and_emprt_from_the_command_line(models_dir, tmp_path, capsys):
    ids = _ids(models_dir, n_nv=0)
    common = ["--models-dir", str(models_dir), "sanity", "--suite", "demo-smoke",
              "--study", "custom", "--methods", "gradcam", "--images", ",".join(ids),
              "--stages", "head_dense", "--also", "none", "--no-progress"]
    csv = tmp_path / "smprt.csv"
    assert main([*common, "--test", "smprt", "--n-noisy", "2", "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "smooth layer randomization (sMPRT, 2 copies at noise 0.1)" in out
    assert "paper layers, bottom_up" in out and "baseline" in out
    assert set(pd.read_csv(csv)["study"]) == {"smprt"}
    assert main([*common, "--test", "emprt", "--layer-set", "paper", "--n-bins", "50"]) == 0
    out = capsys.readouterr().out
    assert "efficient layer randomization (eMPRT)" in out and "mean ratio:" in out
    assert "baseline:constant" in out and "1 layers (paper) randomized, 50 bins" in out
    saved = {p.parent.name.split("-")[0]
             for p in (models_dir / "demo-smoke" / "sanity").glob("*/study.json")}
    assert {"smprt", "emprt"} <= saved


def test_paper_spec_matches_the_paper_design(smoke_suite):
    from dermviz import sanity
    from dermviz.cli import sanity as command

    spec = sanity.randomization_spec(smoke_suite, method="gradcam")
    assert spec.layer_set == "paper" and spec.order == "cascading"
    assert spec.target == "predicted" and len(spec.image_ids) == 16
    assert spec.method_params == {"layer": smoke_suite.config["gradcam_layer"]}
    assert sanity.paper_comparable(spec)
    shap = sanity.method_params(smoke_suite, "kernelshap")
    assert shap["nsamples"] == 2500  # the paper's, the KernelSHAP default
    # The dashboard's custom spec with the paper's options is the same study (same cache).
    custom = sanity.randomization_spec(
        smoke_suite, method="gradcam", study="custom", target="predicted"
    )
    assert custom.key() == spec.key()
    cross = sanity.comparison_spec(smoke_suite, "cross_model", method="kernelshap", params=shap)
    assert cross.member_ids == tuple(smoke_suite.member_ids[:3])
    assert cross.reference == smoke_suite.member_ids[0]
    assert cross.explainer_seeds() == [0, 1]
    repro = sanity.comparison_spec(smoke_suite, "reproducibility", method="gradcam")
    assert repro.runs == 2 and repro.explainer_seeds() is None
    # The CLI's parser-time constants are the backend's.
    assert command._METHODS == sanity.METHODS
    assert command._CROSS_MODEL_MEMBERS == sanity.CROSS_MODEL_MEMBERS


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--member", "m99"], "has no member 'm99'"),
        (["--images", "nope"], "not in the hold-out: nope"),
        (["--order", "independent"], "the paper study fixes order"),
        (["--methods", "lime"], "unknown method"),
        (["--also", "everything"], "unknown --also"),
        (["--study", "custom", "--stages", "mixed11"], "unknown stage(s) ['mixed11']"),
        (["--test", "smprt"], "add --study custom"),
        (["--study", "custom", "--test", "emprt", "--order", "bottom_up"],
         "--order does not apply to emprt"),
        (["--study", "custom", "--test", "smprt", "--n-noisy", "0"], "n_noisy must be"),
    ],
)
def test_user_errors_are_one_line(models_dir, capsys, extra, message):
    code = main(["--models-dir", str(models_dir), "sanity", "--suite", "demo-smoke", *extra])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dermviz: error:")
    assert message in err[0]
