"""benchmarks/bench_shap_convergence.py at a tiny size: the study's table, verdicts, doc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import bench_shap_convergence as bench
from tests.helpers import tiny_blocks_image, tiny_conv_model


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    model, image = tiny_conv_model(64), tiny_blocks_image(64)
    return bench.study_image(model, image, nsamples=(40, 120), seeds=2,
                             reference_nsamples=500, n_segments=12)


def test_study_table(study):
    assert len(study) == 2 * 2 * 2  # samplers x budgets x seeds
    assert set(study["sampler"]) == {"kernel", "leverage"}
    assert study[["spearman", "ssim", "run_to_run_ssim"]].le(1.0 + 1e-9).all().all()
    assert (study["rms_error"] >= 0).all() and (study["seconds"] > 0).all()
    lev = study[study["sampler"] == "leverage"]
    assert lev["estimated_error"].gt(0).all()
    assert study.loc[study["sampler"] == "kernel", "estimated_error"].isna().all()
    # the two seeds of one (sampler, budget) share its run-to-run SSIM
    assert study.groupby(["sampler", "nsamples"])["run_to_run_ssim"].nunique().eq(1).all()
    # more samples, closer to the reference (mean over both samplers and seeds)
    by_budget = study.groupby("nsamples")["rms_error"].mean()
    assert by_budget[120] < by_budget[40]


def _summary(kernel: list[float], leverage: list[float]) -> pd.DataFrame:
    rows = []
    for sampler, spearmans in (("kernel", kernel), ("leverage", leverage)):
        for n, rho in zip((500, 1250, 2500), spearmans, strict=True):
            rows.append({"sampler": sampler, "nsamples": n, "spearman": rho,
                         "ssim": rho, "run_to_run_ssim": rho, "rms_error": 1 - rho,
                         "estimated_error": np.nan, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_samples_needed_and_goal():
    summary = _summary([0.80, 0.90, 0.96], [0.90, 0.97, 0.99])
    assert bench.samples_needed(summary) == {"kernel": 2500, "leverage": 1250}
    verdict = bench.goal(summary)
    assert verdict["met"] and verdict["ssim_ok"] and verdict["error_ok"]
    worse = _summary([0.80, 0.90, 0.96], [0.70, 0.80, 0.90])
    assert bench.samples_needed(worse)["leverage"] is None
    assert not bench.goal(worse)["met"]
    assert bench.goal(summary[summary["nsamples"] != 1250]) is None


def test_render_and_write_doc(study, tmp_path):
    meta = {"suite": "tiny", "member": "m00", "size": 64, "n_segments": 12,
            "reference_nsamples": 500, "seeds": 2}
    text = bench.render(study.assign(image_id="x"), meta=meta)
    assert "| leverage | 120 |" in text and "| kernel | 40 |" in text
    assert "Samples needed for a mean Spearman >= 0.95" in text
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{bench.BEGIN}\nOLD-TEXT\n{bench.END}\nafter\n")
    bench.write_doc(text, doc)
    again = doc.read_text()
    assert again.startswith(f"intro\n{bench.BEGIN}\n") and again.endswith(f"{bench.END}\nafter\n")
    assert "OLD-TEXT" not in again and "| leverage | 120 |" in again
    # the real doc has the markers the script writes between
    real = bench.DOC.read_text()
    assert real.index(bench.BEGIN) < real.index(bench.END)


def test_plot(study, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.png"
    assert bench.plot(study, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
