"""The benchmark result writers: machine description, sections, start-up labels side by side."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from benchmarks import bench_demo_budget, bench_ham10000, bench_probe, bench_startup
from benchmarks.results import command_line, cpu_line, provenance, write_section

INTEL = "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx avx2 avx512f\n"
AMD = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx avx2\n\nprocessor\t: 1\n"


def test_cpu_line_names_the_widest_vector_extension():
    assert cpu_line(INTEL) == "Intel(R) Xeon(R) Processor, avx512f, bfloat16 emulated"
    assert cpu_line(AMD) == "AMD EPYC, avx2 (no avx512f), bfloat16 emulated"
    assert cpu_line("model name\t: Old\nflags\t\t: fpu sse2\n") == (
        "Old, neither avx512f nor avx2, bfloat16 emulated")
    assert cpu_line("model name\t: Zen 4\nflags\t\t: avx2 avx512f avx512_bf16\n") == (
        "Zen 4, avx512f, bfloat16: avx512_bf16")
    assert cpu_line("").endswith("vector extensions unknown")


def test_provenance_has_command_date_and_machine():
    repo = Path(__file__).resolve().parents[1]
    argv = [str(repo / "benchmarks" / "bench_demo.py"), "--profile", "smoke"]
    assert command_line(argv) == "python benchmarks/bench_demo.py --profile smoke"
    line = provenance(argv)
    assert line.startswith("Written by `python benchmarks/bench_demo.py --profile smoke` on 20")
    assert " UTC on " in line and "vCPU (" in line and "Python " in line


def test_write_section_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    write_section("A", "first a", path=path)
    write_section("B", "only b", path=path)
    write_section("A", r"second a with a backslash \1 and \n", path=path)
    text = path.read_text()
    assert text.count("## A") == 1 and "first a" not in text
    assert r"second a with a backslash \1 and \n" in text
    assert text.index("## A") < text.index("## B") and "only b" in text


def test_startup_labels_are_kept_side_by_side(tmp_path):
    path = tmp_path / "RESULTS.md"
    result = {"times": [0.5, 0.4, 0.6], "median": 0.5, "heavy": []}
    data = {"before": {"provenance": "Written by x.", "repeats": 3, "suite": "s",
                       "results": {"dermviz --help": {**result, "heavy": ["tensorflow"]}}}}
    write_section(bench_startup.TITLE, bench_startup.render(data), path=path)
    data = bench_startup.read_data(path)
    data["after"] = {"provenance": "Written by y.", "repeats": 3, "suite": "s",
                     "results": {"dermviz --help": result}}
    write_section(bench_startup.TITLE, bench_startup.render(data), path=path)
    text = path.read_text()
    assert bench_startup.read_data(path) == data
    row = next(line for line in text.splitlines() if line.startswith("| `dermviz --help`"))
    assert row == "| `dermviz --help` | 0.50 | 0.40-0.60 | tensorflow | 0.50 | 0.40-0.60 | no |"


def test_probe_sections_name_their_artefact_and_keep_apart(tmp_path):
    share = {"artefact_share": 0.30, "artefact_chance": 0.08, "lesion_share": 0.20,
             "lesion_chance": 0.28, "images": 12, "layer": None}
    row = {"name": "probe-ruler", "gradmask": None, "members": 2, "auc": 0.6, "acc_all": 0.55,
           "acc_with": 0.5, "acc_without": 0.6, "fit_minutes": None,
           "shares": {"KernelSHAP, blur reference": share}}
    text = bench_probe.render([row], "default", artefact="ruler", shap_nsamples=400)
    assert "| with ruler | without ruler |" in text
    assert "| probe-ruler | KernelSHAP, blur reference | 12 | 30.0% (3.75x) | 20.0% (0.71x) " \
           "| yes |" in text
    path = tmp_path / "RESULTS.md"
    write_section(bench_probe.title("ink"), "ink numbers", path=path)
    write_section(bench_probe.title("ruler"), text, path=path)
    assert bench_probe.title("ink") == "Spurious-correlation probe"
    assert "ink numbers" in path.read_text() and "probe-ruler" in path.read_text()


def test_demo_variants_set_training_and_data_options():
    import pytest

    from benchmarks.bench_demo import variant
    from dermviz.models.profiles import PROFILES

    base = PROFILES["default"]
    changed, changes = variant(base, ["epochs=4", "n_train=480", "gradcam_layer=mixed6"])
    assert (changed.train.epochs, changed.data.n_train) == (4, 480)
    assert changed.train.gradcam_layer == "mixed6" and changes["epochs"] == 4
    assert changed.train.image_size == base.train.image_size  # the rest is the profile's
    no_xla, changes = variant(base, ["xla=off"])
    assert no_xla.xla == "off" and no_xla.train == base.train and changes == {"xla": "off"}
    with pytest.raises(SystemExit, match="not a training or data option"):
        variant(base, ["colour=blue"])


def test_demo_budget_report_names_the_least_budget_that_meets_both_goals():
    def row(epochs: int, aucs: list[float], drop: float) -> bench_demo_budget.Budget:
        return bench_demo_budget.Budget(
            epochs=epochs, steps=15 * epochs, wall=35.0 * epochs, fit_seconds=[30.0] * 3,
            aucs=aucs, best_epochs=[epochs - 1] * 3, drop=drop, drop_lo=drop - 0.05,
            drop_hi=drop + 0.05)

    rows = [row(4, [0.80, 0.90, 0.93], 0.50), row(6, [0.94, 0.96, 0.97], 0.55),
            row(8, [0.97, 0.98, 0.98], 0.35)]
    text = bench_demo_budget.report(rows, label="default", n_members=3, image_size=96,
                                    n_train=600)
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    # the 8-epoch run has the AUC but not the drop: it fails the goals
    assert [line.rsplit("|", 2)[-2].strip() for line in table] == [
        "**not met**", "met", "**not met**"]
    assert "| 6 | 90 | 30, 30, 30 | 210 | 0.940, 0.960, 0.970 | 6, 6, 6 | 0.957 |" in text
    assert "is **6 epochs (90 steps a member)**: 210 s of training, 0.75x the 8-epoch" in text
    assert "Below it: 4 epochs, mean AUC 0.877 (lowest member 0.800), drop 0.500." in text
    none = bench_demo_budget.report(rows[:1], label="default", n_members=3, image_size=96,
                                    n_train=600)
    assert "**No budget here meets both goals**" in none


def test_fit_step_table_compares_steady_steps_with_the_defaults_at_each_size():
    from benchmarks.bench_fit_step import render

    def fits(first: float, steady: float) -> list[dict]:
        return [{"first_step": first, "steady_step": steady, "steps": 15,
                 "member_seconds": 60.0},
                {"first_step": 1.5, "steady_step": steady, "steps": 15, "member_seconds": 25.0}]

    text = render([{"variant": "base", "size": 128, "fits": fits(40.0, 3.0)},
                   {"variant": "xla", "size": 128, "fits": fits(55.0, 2.0)},
                   {"variant": "xla", "size": 112, "fits": fits(50.0, 1.5)},
                   {"variant": "bf16", "size": 128, "fits": fits(41.0, 2.4)},
                   {"variant": "avx2_xla", "size": 128, "fits": fits(50.0, 4.0)}],
                  "Written by x")
    rows = [line for line in text.splitlines() if line.startswith("| XLA")]
    assert "| 128 | 15 | 55.0 | 2.00 | 1.50x | 1.5 | 60, 25 |" in rows[0]
    assert "| n/a |" in rows[1]  # no defaults measured at 112 px
    assert ("| mixed_bfloat16 (float32 variables and loss) | 128 | 15 | 41.0 | 2.40 | 1.25x |"
            in text)
    assert "| instruction set capped at AVX2, XLA | 128 | 15 | 50.0 | 4.00 | 0.75x |" in text
    assert text.startswith("Written by x")


def test_fit_step_sections_are_kept_per_cpu_kind():
    from benchmarks.bench_fit_step import section_title

    assert "(AVX-512)" in section_title(frozenset({"avx2", "avx512f"}))
    assert "(AVX2 only)" in section_title(frozenset({"avx2", "fma"}))
    assert "(AVX-512 with AMX)" in section_title(frozenset({"avx2", "avx512f", "amx_bf16"}))


def test_ham_report_says_what_keeping_the_best_epoch_bought(tmp_path):
    histories = {"m00": [0.80, 0.91, 0.86], "m01": [0.70, 0.75, 0.88]}
    kept = {"m00": 1, "m01": 2}
    suite = SimpleNamespace(member_ids=list(histories),
                            history=lambda mid: pd.DataFrame({"val_auc": histories[mid]}),
                            member=lambda mid: {"best_epoch": kept[mid]})
    rows = [line for line in bench_ham10000.epoch_lines(suite) if line.startswith("| m0")]
    assert rows == ["| m00 | 3 | 2 | 0.910 | 0.860 | +0.050 |",
                    "| m01 | 3 | 3 | 0.880 | 0.880 | +0.000 |"]


def test_ham_report_pairs_members_by_seed_with_a_baseline(tmp_path):
    def fake(name, config, members):
        records = {mid: {"seed": seed, "holdout": {"auc": auc}, "val_auc": val,
                         "best_epoch": kept, "fit_seconds": 600, "machine": {"cpu": "X"}}
                   for mid, seed, auc, val, kept in members}
        return SimpleNamespace(path=tmp_path / name, config=config,
                               member_ids=list(records), member=records.__getitem__,
                               history=lambda mid: pd.DataFrame({"val_auc": [0.5] * 9 + [0.75]}))

    cosine = fake("cos", {"lr_schedule": "cosine", "n_members": 2, "epochs": 10},
                  [("m00", 7, 0.944, 0.931, 8), ("m01", 9, 0.950, 0.934, 7)])
    constant = fake("const", {"lr_schedule": "constant", "n_members": 1, "epochs": 10},
                    [("m00", 7, 0.930, 0.925, 5)])
    lines = bench_ham10000.ablation_lines(cosine, constant)
    assert "lr_schedule constant -> cosine" in lines[0] and "n_members" not in lines[0]
    rows = [line for line in lines if line.startswith("| m0")]
    assert rows == ["| m00 | 7 | 0.944 | 0.930 | +0.014 | 0.931 | 0.925 (6 / 10) | 0.750 |"]
    assert "The baseline's fit times, recorded by its trainer: m00 10 min on X." in lines
    assert lines[-1] == ("This suite's fit times, recorded by its trainer: m00 10 min on X; "
                         "m01 10 min on X.")
    # the same config trained in another precision: the members' policies are the change
    bf16 = fake("bf16", dict(constant.config), [("m00", 7, 0.935, 0.926, 6)])
    bf16.member("m00")["policy"] = "mixed_bfloat16"
    constant.member("m00")["policy"] = "float32"
    assert "(training policy float32 -> mixed_bfloat16)" in (
        bench_ham10000.ablation_lines(bf16, constant)[0])
    stranger = fake("other", {"lr_schedule": "constant"}, [("m00", 1, 0.9, 0.9, 0)])
    assert "shares no member seed" in bench_ham10000.ablation_lines(cosine, stranger)[0]


def test_metrics_bench_unbatched_curves_match_and_render_the_ratio():
    import numpy as np

    from benchmarks import bench_metrics
    from dermviz.evaluation import Deletion

    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3)).astype(np.uint8)
    maps = np.random.default_rng(1).random((2, 16, 16))
    metric = Deletion(n_steps=4, patch=4)

    def model_fn(x):
        return np.asarray(x, dtype=np.float64).mean(axis=(1, 2, 3))

    np.testing.assert_allclose(bench_metrics.unbatched_curves(model_fn, metric, images, maps),
                               metric.curves(model_fn, images, maps), rtol=1e-6)
    result = {"best": {"floor": 1.0, "dermviz": 1.1, "unbatched": 3.3},
              "median": {"floor": 1.0, "dermviz": 1.1, "unbatched": 3.3},
              "passes": 42, "max_curve_diff": 0.0}
    text = bench_metrics.render(result, size=112, n_images=2, steps=20, batch_size=32,
                                repeats=1)
    assert "| (b) dermviz deletion curve (batched) | 42 | 1.10 | 26.2 | **1.10** |" in text
    assert "Goal (b) / (a) <= 1.2: met (1.10" in text and "costs 3.0x the batched" in text


def test_confounders_section_renders_baselines_strata_and_counterfactuals(tmp_path):
    from benchmarks import bench_confounders

    def auc(**extra):
        return {"auc": 0.9, "auc_low": 0.85, "auc_high": 0.95, **extra}

    comparison = pd.DataFrame([
        {"model": "ensemble", "kind": "suite", "region": None, "holdout": "all", "n": 400,
         **auc()},
        {"model": "skin outside the lesion (no CNN)", "kind": "blind", "region": "outside",
         "holdout": "all", "n": 400, **auc(auc=0.88)},
        {"model": "ensemble", "kind": "suite", "region": None, "holdout": "histo-confirmed",
         "n": 243, **auc(auc=0.7)},
    ])
    acquisition = pd.DataFrame([{"target": "dx_type == follow_up", "within": "nv",
                                 "n_test": 200, "n_positive_test": 149, **auc(auc=0.99)}])
    cf = pd.DataFrame([{"model": "m00", "version": v, "n": 400, **auc()}
                       for v in ("original", "lesion_removed", "surround_replaced")])
    strata = pd.DataFrame([{"model": "ensemble", "column": "dx_type", "stratum": "histo",
                            "n": 243, "n_melanoma": 200, "n_naevus": 43, "sensitivity": 0.9,
                            "specificity": None, **auc()}])
    timing = {"blind_seconds": 30.0, "n_train": 2000, "make_ms": 40.0, "predict_ms": 20.0}
    data = {"name": "ham96", "members": ["m00"], "size": 96, "dataset": "ham10000",
            "holdout": "paper", "n_pool": 5617, "n_holdout": 400,
            "config": {"recipe": "full", "max_train": 3000, "epochs": 6, "batch_size": 32,
                       "weights": "none"},
            "max_train": 2000, "comparison": {"off": comparison, "on": comparison.iloc[:2]},
            "acquisition": {"off": acquisition, "on": acquisition},
            "counterfactual": {"off": cf, "on": cf}, "timing": {"off": timing, "on": timing},
            "notes": [], "sentence": {"all": "overlapping, says so"}, "strata": strata}
    body = bench_confounders.render([("HAM10000, paper hold-out", data)],
                                    provenance_line="Written by x.")
    lines = body.splitlines()
    assert "### HAM10000, paper hold-out: suite `ham96`" in lines
    assert "| all (n=400) | ensemble | 0.900 (0.850-0.950) | 0.900 (0.850-0.950) |" in lines
    assert "| histo-confirmed (n=243) | ensemble | 0.700 (0.850-0.950) | - |" in lines
    assert "| dx_type == follow_up | nv | 200 (149) | 0.990 (0.850-0.950) | " \
        "0.990 (0.850-0.950) |" in lines
    assert "| dx_type | histo | 243 (200 / 43) | 0.900 (0.850-0.950) | 0.900 | - |" in lines
    assert "| m00 | lesion_removed | 0.900 (0.850-0.950) | 0.900 (0.850-0.950) |" in lines
    assert "`--max-train 2000`" in body and "- Colour constancy off, all: overlapping" in body
    assert lines[-1] == "- Written by x."
    path = tmp_path / "RESULTS.md"
    write_section(bench_confounders.TITLE_HAM, body, path=path)
    assert path.read_text().count("## Confounders (issue 28): HAM10000") == 1


def test_precision_bench_measures_a_model_and_keeps_float32_when_bfloat16_strays():
    import keras
    import numpy as np

    from benchmarks import bench_precision

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(x))
    images = np.random.default_rng(0).uniform(0, 255, (6, 8, 8, 3)).astype(np.float32)
    rows = bench_precision.measure_member(keras.Model(inputs, out), images, batch=4, repeats=1)
    assert [r["candidate"] for r in rows] == ["float32", "bfloat16", "float32 + XLA",
                                              "bfloat16 + XLA"]
    assert rows[0]["max"] == 0.0 and rows[0]["speedup"] == 1.0
    assert rows[1]["max"] > 0.0  # bfloat16 rounds
    assert all(r["ms"] > 0 and r["median"] <= r["p95"] <= r["max"] for r in rows)

    def row(candidate, ms, gap):
        return {"candidate": candidate, "ms": ms, "speedup": 10 / ms, "max": gap,
                "p95": gap, "median": gap}

    per_member = {"m00": [row("float32", 10, 0.0), row("bfloat16", 5, 2e-2),
                          row("float32 + XLA", 8, 1e-7), row("bfloat16 + XLA", 6, 3e-2)],
                  "m01": [row("float32", 10, 0.0), row("bfloat16", 5, 4e-4),
                          row("float32 + XLA", 12, 0.0), row("bfloat16 + XLA", 6, 5e-4)]}
    text = bench_precision.report(SimpleNamespace(name="demo", image_size=112), per_member,
                                  n=6, batch=4, tolerance=1e-3)
    assert "| m00 | bfloat16 | 5.00 | 2.00x | 2.0e-02 |" in text
    assert "m00: the fastest candidate that agrees is **float32 + XLA** (1.25x" in text
    assert "m01: the fastest candidate that agrees is **bfloat16** (2.00x" in text
    assert "up to 2.0e-02 on m00: beyond 0.001, so a measured choice stays with float32" in text
    assert bench_precision.load_note(5.0, 3).startswith("- The machine was busy (load 5.0 on 3")
    assert bench_precision.load_note(1.0, 2) == ""


def test_report_card_rank_agreement_reads_both_orders():
    from benchmarks.bench_report_card import _markdown, _rank_agreement

    families = pd.DataFrame({"member": "m00", "family": "faithfulness",
                             "method": ["a", "b", "c"], "mean_rank": [1.0, 2.0, 3.0]})
    agree = pd.DataFrame({"member": "m00", "method": ["a", "b", "c"], "mass": [0.5, 0.4, 0.3]})
    [row] = _rank_agreement(families, agree).to_dict("records")
    assert row["spearman"] == 1.0 and row["faithfulness order"] == "a > b > c"
    reverse = agree.assign(mass=[0.3, 0.4, 0.5])
    [row] = _rank_agreement(families, reverse).to_dict("records")
    assert row["spearman"] == -1.0 and row["localization order"] == "c > b > a"
    table = _markdown(pd.DataFrame({"x": [0.12345, float("nan")], "y": ["p", "q"]}))
    assert table.splitlines() == ["| x | y |", "|---|---|", "| 0.123 | p |", "| - | q |"]


def test_suite_or_smoke_passes_a_given_suite_through(tmp_path):
    from benchmarks.results import suite_or_smoke

    with suite_or_smoke(tmp_path, prefix="never-") as path:
        assert path == tmp_path


def test_evidence_leaderboard_names_the_best_method_and_says_when_no_map_can_find_it():
    import argparse
    from types import SimpleNamespace

    import numpy as np
    import pandas as pd

    from benchmarks.bench_evidence import _report
    from dermviz.evaluation.baselines import bootstrap_ci

    def rows(method: str, mass: float, drop_full: float) -> pd.DataFrame:
        return pd.DataFrame({
            "method": method, "member": ["m00", "m01"] * 2, "image_id": ["a", "a", "b", "b"],
            "chance": 0.05, "mass": mass, "mass_gaussian": 0.1, "rank": 0.2,
            "rank_gaussian": 0.1, "pointing": 1.0, "pointing_gaussian": 0.0,
            "mass_x_chance": mass / 0.05, "drop": 0.3, "drop_random": 0.01,
            "drop_full": drop_full})

    suite = SimpleNamespace(name="ev", member_ids=["m00", "m01"], image_size=112,
                            metrics_table=lambda: pd.DataFrame({"auc": [0.97, 0.96]}))
    args = argparse.Namespace(fraction=0.1, nsamples=500)
    good = pd.concat([rows("gradcam", 0.4, 0.6), rows("layercam", 0.1, 0.6)])
    text = _report(suite, good, ["a", "b"], "hold-out melanomas", args, {"gradcam": 3.0},
                   bootstrap_ci)
    assert "**gradcam** puts the most on the evidence: 8.00x chance" in text
    assert "It meets the goal" in text and "barely use" not in text
    assert "| gradcam | 0.400 | 8.00 (8.00-8.00) |" in text
    assert "m00 +0.600, m01 +0.600" in text
    assert "+0.600 | 3 |" in text and "+0.600 | - |" in text  # layercam was not timed
    assert "no compute time was measured" not in text
    text = _report(suite, good, ["a", "b"], "hold-out melanomas", args,
                   {"gradcam": None, "layercam": 2.0}, bootstrap_ci)
    assert "+0.600 | stored |" in text and "+0.600 | 2 |" in text
    assert "no compute time was measured" in text
    blind = pd.concat([rows("gradcam", 0.06, 0.0), rows("layercam", 0.05, 0.0)])
    text = _report(suite, blind, ["a", "b"], "hold-out melanomas", args, {}, bootstrap_ci)
    assert "**No method meets the goal**" in text
    assert "The members barely use the evidence" in text
    assert np.isfinite(float(text.split("(mean ")[1].split(")")[0]))


def test_report_card_says_how_the_suite_differs_from_its_config():
    from benchmarks.bench_report_card import config_line
    from dermviz.models.config import TrainConfig
    from tests.conftest import REPO_ROOT

    path = REPO_ROOT / "configs" / "ham10000-auc.toml"
    shipped = TrainConfig.from_file(path).to_dict()
    assert config_line(dict(shipped), path).endswith("with every setting as shipped.")
    fewer = config_line({**shipped, "n_members": 1}, path)
    assert fewer.endswith("differs from the shipped settings in: n_members 1 (shipped: 3).")

def test_precision_variants_report_says_what_the_numbers_say():
    import numpy as np

    from benchmarks.bench_precision import variants_report

    def rows(gaps):
        names = ["bfloat16 (all but the output)", "bfloat16, stem float32",
                 "float32 on the bfloat16-rounded image"]
        return [{"variant": n, "ms": 5.0, "speedup": 2.0, "gap": np.array([0.0, g])}
                for n, g in zip(names, gaps, strict=True)]

    text = variants_report({"m00": rows([2e-2, 2e-3, 1e-5]), "m01": rows([8e-2, 3e-3, 1e-5])},
                           n=2, tolerance=1e-3)
    assert "| m00 | bfloat16, stem float32 | 5.00 | 2.00x | 2.0e-03 |" in text
    assert "stem float32: the largest disagreement is 0.069x the all-bfloat16" in text
    assert "No bfloat16 variant meets 0.001 on m00, m01" in text
    text = variants_report({"m00": rows([2e-4, 2e-4, 0.0])}, n=2, tolerance=1e-3)
    assert "Every member has a bfloat16 variant within 0.001" in text
