"""benchmarks/gpu_check.py and gpu_check.sh: the estimates, the CPU smoke run, clear failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import gpu_check
from tests.conftest import REPO_ROOT

TRIAL = {"train_images_per_s": 100.0, "predict_images_per_s": 400.0,
         "compile_overhead_s": 30.0, "build_s": 5.0}


def test_paper_estimates():
    est = gpu_check.paper_estimates(TRIAL, {"maps_per_s": 20.0},
                                    {"coalitions_per_s": 5000.0})
    per_trial = 14.5 * (828 / 100 + 828 / 400) + 35.0
    assert est["trial_s"] == pytest.approx(per_trial)
    assert est["search_h"] == pytest.approx(30 * 25 * per_trial / 3600)
    assert est["gradcam_h"] == pytest.approx(400 * 30 / 20 / 3600)
    assert est["kernelshap_forward_floor_h"] == pytest.approx(400 * 30 * 2500 / 5000 / 3600)


def test_synthetic_images():
    images = gpu_check.synthetic_images(3, 32)
    assert images.shape == (3, 32, 32, 3) and images.dtype == "uint8"
    assert images[0].std() > 0


@pytest.mark.slow
def test_cpu_smoke(tmp_path):
    """Every step at a tiny size on the CPU; the files it writes hold positive rates."""
    report = gpu_check.main(["--cpu-smoke", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "gpu_check.json").read_text())
    assert saved["mode"] == "cpu-smoke" and saved["trial"]["steps_per_epoch"] == 2
    for rate in (report["trial"]["train_images_per_s"], report["gradcam"]["maps_per_s"],
                 report["kernelshap"]["coalitions_per_s"]):
        assert rate > 0
    assert set(report["kernelshap"]["seconds_per_map"]) == {"kernel", "leverage"}
    text = (tmp_path / "gpu_check.md").read_text()
    assert "30 members x 25 trials" in text and "KernelSHAP coalition images per s" in text


def _gpu_check(tmp_path, **env_vars: str) -> tuple[subprocess.CompletedProcess, dict]:
    # Hide any GPU, so that a GPU host checks the failure paths too (not a 5-minute run).
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", **env_vars}
    out = tmp_path / "out"
    run = subprocess.run(["bash", str(REPO_ROOT / "benchmarks" / "gpu_check.sh"), str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    return run, json.loads((out / "gpu_check.json").read_text())


def _tensorflow_cpu_installed() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "show", "--quiet", "tensorflow-cpu"],
                          capture_output=True).returncode == 0


def test_script_changes_nothing_without_an_explicit_install(tmp_path):
    """No GPU for TensorFlow: exit 3 and the reason, in JSON; this venv left alone."""
    assert _tensorflow_cpu_installed()
    run, saved = _gpu_check(tmp_path)
    assert run.returncode == 3, run.stderr
    assert saved["status"] == "failed" and "GPU_CHECK_INSTALL=1" in saved["reason"]
    assert _tensorflow_cpu_installed()


def test_a_failing_install_leaves_the_venv_as_it_was(tmp_path):
    """GPU_CHECK_INSTALL=1 with an empty wheelhouse: the dry run fails, nothing removed."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    run, saved = _gpu_check(tmp_path, GPU_CHECK_INSTALL="1", WHEELHOUSE=str(wheels))
    assert run.returncode == 3, run.stderr
    assert "tensorflow[and-cuda]==2.21.0" in saved["reason"]
    assert "nothing was changed" in saved["reason"]
    assert _tensorflow_cpu_installed()
