"""Hyperparameter search: config, image cache, sampler, and the driver's bookkeeping.

The driver tests replace the trial process with a fake (``LocalBackend(run=...)``)
that writes a trial folder in milliseconds, so resume, failure and promotion logic
are tested without TensorFlow. Real trials: test_search_kill.py, test_search_ray.py.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.backends import LocalBackend, TrialJob
from dermviz.models.image_cache import ImageCache, build_cache, iter_batches
from dermviz.models.search import (
    SuiteLock,
    default_storage_url,
    make_sampler,
    open_storage,
    search_info,
    search_suite,
    study_name,
    suggest_params,
    suite_summary,
)
from dermviz.models.search_config import PROFILES, SearchConfig, SearchSpace
from dermviz.models.seeds import member_seed
from dermviz.models.suite import Suite

SMOKE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def tiny_data():
    return make_synthetic(n_train=48, n_test=16, seed=0)


def _config(**search) -> SearchConfig:
    """The smoke config; TPE unless asked (the GP's first use imports PyTorch, ~6 s)."""
    return SMOKE.config.replace(**{"sampler": "tpe", **search})


class FakeTrials:
    """Stands in for the trial process: writes a complete trial folder.

    The objective is a smooth function of the hyperparameters; ``fail`` lists call
    indices (0-based) that crash without writing a result.
    """

    def __init__(self, fail: tuple[int, ...] = (), prune: tuple[int, ...] = ()) -> None:
        self.calls: list[dict] = []
        self.fail = set(fail)
        self.prune = set(prune)
        self.lock = threading.Lock()

    def __call__(self, job: TrialJob, env: dict[str, str]) -> int:
        spec = json.loads(job.spec_path.read_text())
        with self.lock:
            index = len(self.calls)
            self.calls.append(spec)
        folder = Path(spec["trial_dir"])
        if index in self.fail:
            (folder / ".model.keras.x.tmp.keras").write_bytes(b"half")
            return 1
        p = spec["params"]
        value = float(1.0 - abs(np.log10(p["learning_rate"]) + 3) / 10 - p["dropout"] / 10)
        split = json.loads(Path(spec["split_file"]).read_text())
        rng = np.random.default_rng(spec["seed"])
        n_test = ImageCache(spec["holdout_cache"]).shape[0]
        yv = np.asarray(split["val"]["y"])
        np.save(folder / "val_predictions.npy",
                np.clip(yv * value + rng.random(len(yv)) * 0.5, 0, 1).astype(np.float32))
        np.save(folder / "holdout_predictions.npy", rng.random(n_test).astype(np.float32))
        (folder / "history.json").write_text(json.dumps({"loss": [0.7], "val_auc": [value]}))
        (folder / "model.keras").write_bytes(f"model {spec['member']} {spec['number']}".encode())
        (folder / "result.json").write_text(json.dumps({
            "status": "pruned" if index in self.prune else "complete", "value": value,
            "objective": spec["objective"],
            "params": p, "seed": spec["seed"], "best_epoch": 0, "epochs_run": 1,
            "seconds": 0.01, "peak_rss_mb": 100.0, "diverged": False,
        }))
        return 0


def _run(data, out: Path, config: SearchConfig, fake: FakeTrials, **kw) -> Suite:
    return search_suite(data, config, out_dir=out, backend=LocalBackend(1, gpus=[], run=fake),
                        progress=False, **kw)


def _states(out: Path, name: str, mid: str) -> dict[str, int]:
    study = optuna.load_study(study_name=study_name(name, mid),
                              storage=open_storage(default_storage_url(out)))
    return pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()


# --------------------------------------------------------------------------- config


def test_config_file_round_trip(tmp_path):
    toml = tmp_path / "suite.toml"
    toml.write_text(
        "[train]\nimage_size = 96\nn_members = 3\nseed = 4\n\n"
        "[search]\nn_trials = 5\nn_startup_trials = 2\nsampler = 'tpe'\n"
        "objective = 'val_accuracy'\nseeds = [7, 8, 9]\n\n"
        "[search.space]\nlearning_rate = [1e-5, 1e-3]\nepochs = [2, 4]\noptimizers = ['adam']\n"
    )
    config = SearchConfig.from_file(toml)
    assert config.train.image_size == 96 and config.n_members == 3
    assert config.member_seeds() == [7, 8, 9]
    assert config.space.learning_rate == (1e-5, 1e-3) and config.space.epochs == (2, 4)
    assert config.space.dropout == (0.1, 0.8)  # the paper's default
    yaml_path = tmp_path / "suite.yaml"
    yaml_path.write_text(config.to_yaml())
    assert SearchConfig.from_file(yaml_path) == config
    with pytest.raises(ValueError, match="unknown search option"):
        SearchConfig.from_dict({"search": {"n_trail": 3}})
    with pytest.raises(ValueError, match="seeds has 2 entries"):
        config.replace(seeds=[1, 2])
    with pytest.raises(ValueError, match="low <= high"):
        SearchSpace(dropout=(0.5, 0.2))


def test_defaults_are_the_papers_search():
    config = SearchConfig()
    assert (config.n_trials, config.n_startup_trials, config.sampler) == (25, 7, "gp")
    assert config.objective == "val_auc"
    s = config.space
    assert s.learning_rate == (1e-6, 1e-2) and s.dense_units == (50, 225)
    assert s.epochs == (9, 20) and set(s.optimizers) == {"sgd", "adam"}


def test_member_seeds_are_distinct_and_derived_from_the_suite_seed():
    seeds = SearchConfig().replace(train={"n_members": 30}).member_seeds()
    assert len(set(seeds)) == 30
    assert seeds[:5] == [member_seed(0, i) for i in range(5)]
    assert SearchConfig().replace(train={"seed": 1}).member_seeds()[0] != seeds[0]


def test_suggest_params_draws_the_whole_static_space():
    space = SearchSpace()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = suggest_params(study.ask(), space)
        assert set(params) == {"learning_rate", "dropout", "optimizer", "momentum", "beta_1",
                               "beta_2", "dense_units", "epochs"}
        assert 1e-6 <= params["learning_rate"] <= 1e-2
        assert 50 <= params["dense_units"] <= 225 and 9 <= params["epochs"] <= 20


def test_gp_sampler_or_a_clear_fallback(monkeypatch):
    import dermviz.models.search.sampling as search

    sampler, used = make_sampler("tpe", seed=1, n_startup_trials=3)
    assert used == "tpe" and isinstance(sampler, optuna.samplers.TPESampler)
    if search.gp_available():
        sampler, used = make_sampler("gp", seed=1, n_startup_trials=3)
        assert used == "gp" and isinstance(sampler, optuna.samplers.GPSampler)
    monkeypatch.setattr(search, "gp_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="needs PyTorch"):
        sampler, used = make_sampler("gp", seed=1, n_startup_trials=3)
    assert used.startswith("tpe") and isinstance(sampler, optuna.samplers.TPESampler)


# --------------------------------------------------------------------------- image cache


def test_image_cache_reads_rows_without_loading_the_file(tmp_path, tiny_data):
    ids = tiny_data.pool["image_id"].tolist()[:10]
    path = build_cache(tiny_data, ids, tmp_path, "pool", size=32, batch_size=4)
    cache = ImageCache(path)
    assert cache.shape == (10, 32, 32, 3)
    expected = tiny_data.load_images(ids, size=32)
    np.testing.assert_array_equal(cache.read([3, 0, 9]), expected[[3, 0, 9]])
    np.testing.assert_array_equal(cache[2:5], expected[2:5])
    mtime = path.stat().st_mtime_ns
    assert build_cache(tiny_data, ids, tmp_path, "pool", size=32) == path
    assert path.stat().st_mtime_ns == mtime  # reused, not rebuilt
    # A truncated cache is detected and rebuilt.
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated"):
        ImageCache(path)
    build_cache(tiny_data, ids, tmp_path, "pool", size=32)
    np.testing.assert_array_equal(ImageCache(path).read([9]), expected[[9]])


def test_batches_are_seeded(tmp_path, tiny_data):
    ids = tiny_data.pool["image_id"].tolist()[:12]
    cache = ImageCache(build_cache(tiny_data, ids, tmp_path, "pool", size=16))
    rows, y = np.arange(12), np.arange(12) % 2

    def epoch(seed):
        return [b for b in iter_batches(cache, rows, y, batch_size=5, shuffle_seed=seed,
                                        flips=True)]

    a, b, c = epoch(1), epoch(1), epoch(2)
    assert [len(x) for x, _, _ in a] == [5, 5, 2]
    for (xa, ya, _), (xb, yb, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(xa, xc) for (xa, _, _), (xc, _, _) in zip(a, c, strict=True))
    plain = [x for x, _, _ in iter_batches(cache, rows, y, batch_size=12)][0]
    np.testing.assert_array_equal(plain, cache.read(rows))


# --------------------------------------------------------------------------- driver


def test_search_writes_a_suite_that_suite_reads(tmp_path, tiny_data):
    fake = FakeTrials()
    out = tmp_path / "s"
    suite = _run(tiny_data, out, _config(n_trials=3, sampler="gp"), fake)
    assert suite.complete and suite.member_ids == ["m00", "m01"]
    assert len(fake.calls) == 6
    for mid in suite.member_ids:
        folder = suite.member_dir(mid)
        for name in ("model.keras", "member.json", "history.json", "holdout_predictions.csv",
                     "trials.csv", "split.json"):
            assert (folder / name).is_file(), name
        member = suite.member(mid)
        s = member["search"]
        assert s["n_finished"] == 3 and s["n_complete"] == 3
        trials = pd.read_csv(folder / "trials.csv")
        assert len(trials) == 3 and trials["value"].max() == pytest.approx(s["best_value"])
        # The promoted model is the best trial's; only its model is kept.
        models = sorted(folder.glob("trials/*/model.keras"))
        assert [p.parent.name for p in models] == [f"{s['best_trial']:03d}"]
        assert (folder / "model.keras").read_bytes() == models[0].read_bytes()
        config = json.loads((folder / "member.json").read_text())["config"]
        assert config["learning_rate"] == s["hyperparameters"]["learning_rate"]
        assert set(member["holdout"]) >= {"auc", "accuracy", "sensitivity", "specificity",
                                          "tp", "tn", "fp", "fn", "brier"}
        assert len(suite.predictions(mid)) == 16
    # Members differ in seed, split and trial seeds; every trial seed is distinct.
    assert len({c["seed"] for c in fake.calls}) == 6
    assert suite.member("m00")["seed"] != suite.member("m01")["seed"]
    block = suite.manifest["search"]
    assert block["storage"] == "sqlite:///<suite>/search.db"
    assert block["summary"]["auc"]["n"] == 2
    assert (out / "suite_config.yaml").is_file()
    assert SearchConfig.from_file(out / "suite_config.yaml") == _config(n_trials=3,
                                                                        sampler="gp")
    info = search_info(suite)
    assert len(info["trials"]) == 6 and list(info["best"]["member"]) == ["m00", "m01"]


def test_search_is_reproducible(tmp_path, tiny_data):
    a, b = FakeTrials(), FakeTrials()
    _run(tiny_data, tmp_path / "a", _config(n_trials=3), a)
    _run(tiny_data, tmp_path / "b", _config(n_trials=3), b)
    assert [c["params"] for c in a.calls] == [c["params"] for c in b.calls]


def test_rerun_does_nothing_and_more_trials_extend(tmp_path, tiny_data):
    out = tmp_path / "s"
    _run(tiny_data, out, _config(n_trials=2), FakeTrials())
    again = FakeTrials()
    _run(tiny_data, out, _config(n_trials=2), again)
    assert again.calls == []
    more = FakeTrials()
    suite = _run(tiny_data, out, _config(n_trials=3), more)
    assert len(more.calls) == 2
    assert all(suite.member(m)["search"]["n_finished"] == 3 for m in suite.member_ids)


def test_resume_after_a_crash_keeps_finished_trials(tmp_path, tiny_data):
    """A dead driver leaves RUNNING trials: one whose result was written (kept as
    COMPLETE), one without (FAIL, asked again)."""
    out = tmp_path / "s"
    name = "s"
    _run(tiny_data, out, _config(n_trials=1), FakeTrials())
    storage = open_storage(default_storage_url(out))
    study = optuna.load_study(study_name=study_name(name, "m00"), storage=storage)
    finished_trial, dead_trial = study.ask(), study.ask()
    for t in (finished_trial, dead_trial):
        suggest_params(t, SMOKE.config.space)
    spec = {"trial_dir": str(out / "members/m00/trials" / f"{finished_trial.number:03d}"),
            "member": "m00", "number": finished_trial.number, "params": finished_trial.params,
            "seed": 5, "objective": "val_auc",
            "split_file": str(out / "members/m00/split.json"),
            "holdout_cache": str(out / "cache/images-75/holdout.npy")}
    Path(spec["trial_dir"]).mkdir(parents=True)
    (Path(spec["trial_dir"]) / "spec.json").write_text(json.dumps(spec))
    FakeTrials()(TrialJob(Path(spec["trial_dir"]) / "spec.json", Path("/dev/null")), {})
    dead = out / "members/m00/trials" / f"{dead_trial.number:03d}"
    dead.mkdir(parents=True)
    (dead / ".model.keras.abc.tmp.keras").write_bytes(b"half-written")
    (out / "members/m00/member.json").unlink()  # the crash also hit a promotion

    resumed = FakeTrials()
    suite = _run(tiny_data, out, _config(n_trials=3), resumed)
    assert _states(out, name, "m00") == {"COMPLETE": 3, "FAIL": 1}
    assert _states(out, name, "m01") == {"COMPLETE": 3}
    # m00: 1 before + 1 salvaged + 1 new; m01: 2 new.
    assert [c["member"] for c in resumed.calls] == ["m00", "m01", "m01"]
    assert not list(dead.glob(".*tmp*"))
    assert suite.complete and suite.member("m00")["search"]["n_finished"] == 3


def test_failed_trials_are_asked_again_then_give_up(tmp_path, tiny_data):
    out = tmp_path / "s"
    fake = FakeTrials(fail=(0,))
    suite = _run(tiny_data, out, _config(n_trials=2), fake)
    assert suite.complete and len(fake.calls) == 5
    assert _states(out, "s", "m00") == {"COMPLETE": 2, "FAIL": 1}
    assert (out / "members/m00/trials/000/log.txt").parent.is_dir()
    with pytest.raises(RuntimeError, match="2 trial\\(s\\) failed"):
        _run(tiny_data, tmp_path / "t", _config(n_trials=2), FakeTrials(fail=(0, 1)))


def test_pruned_trials_count_but_are_never_promoted(tmp_path, tiny_data):
    out = tmp_path / "s"
    suite = _run(tiny_data, out, _config(n_trials=2, pruner="median"), FakeTrials(prune=(1,)))
    assert _states(out, "s", "m00") == {"COMPLETE": 1, "PRUNED": 1}
    s = suite.member("m00")["search"]
    assert (s["n_finished"], s["n_pruned"], s["best_trial"]) == (2, 1, 0)
    assert not (out / "members/m00/trials/001/model.keras").exists()


def test_config_changes_and_fixed_suites_are_refused(tmp_path, tiny_data, smoke_suite_stub):
    out = tmp_path / "s"
    _run(tiny_data, out, _config(n_trials=1), FakeTrials())
    with pytest.raises(ValueError, match="different config"):
        _run(tiny_data, out, _config(n_trials=1, objective="val_accuracy"), FakeTrials())
    with pytest.raises(ValueError, match="fixed hyperparameters"):
        _run(tiny_data, smoke_suite_stub, _config(n_trials=1), FakeTrials())
    suite = _run(tiny_data, out, _config(n_trials=1, objective="val_accuracy"), FakeTrials(),
                 overwrite=True)
    assert suite.manifest["search"]["config"]["objective"] == "val_accuracy"


@pytest.fixture
def smoke_suite_stub(tmp_path):
    folder = tmp_path / "fixed"
    folder.mkdir()
    (folder / "suite.json").write_text(json.dumps({
        "name": "fixed", "config": {"image_size": 75}, "members": [], "dataset": {}}))
    return folder


def test_one_driver_per_suite(tmp_path):
    with SuiteLock(tmp_path), pytest.raises(RuntimeError, match="another search"):
        with SuiteLock(tmp_path):
            pass
    with SuiteLock(tmp_path):  # released
        pass


def test_shared_storage_url_is_used_and_recorded_without_password(tmp_path, tiny_data):
    from dermviz.models.search import display_storage

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    suite = _run(tiny_data, tmp_path / "s", _config(n_trials=1), FakeTrials(), storage=url)
    assert (tmp_path / "shared.db").is_file() and not (tmp_path / "s" / "search.db").exists()
    assert suite.manifest["search"]["storage"] == url
    shown = display_storage("postgresql://bob:secret@db:5432/optuna", tmp_path)
    assert "secret" not in shown and "bob" in shown


def test_backends_from_cli_options():
    from dermviz.models.backends import RayBackend, make_backend

    local = make_backend("local", workers=2, gpus="none")
    assert isinstance(local, LocalBackend) and local.capacity == 2 and local.gpus == []
    assert local.trial_threads() >= 1
    pinned = make_backend("local", gpus="0,1")
    assert pinned.workers == 2  # one trial per GPU
    with pytest.raises(ValueError, match="one trial per GPU"):
        make_backend("local", workers=3, gpus="0,1")
    assert isinstance(make_backend("ray", address="auto"), RayBackend)
    with pytest.raises(ValueError, match="--address is for --backend ray"):
        make_backend("local", address="auto")


def test_suite_summary_mean_variance_sd():
    members = [{"holdout": {"auc": a, "accuracy": 0.8}, "holdout_at_0.5": {"accuracy": 0.7}}
               for a in (0.8, 0.9)]
    s = suite_summary(members)
    assert s["auc"]["mean"] == pytest.approx(0.85)
    assert s["auc"]["variance"] == pytest.approx(0.005)
    assert s["auc"]["sd"] == pytest.approx(np.sqrt(0.005))
    assert s["argmax_accuracy"]["mean"] == pytest.approx(0.7)


# --------------------------------------------------------------------------- CLI


def test_cli_arguments_override_the_config(tmp_path, capsys):
    from dermviz.cli.search import add_search_arguments, resolve_config, run_search

    parser = add_search_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--profile", "smoke", "--trials", "4", "--members", "3",
                              "--sampler", "tpe", "--name", "x"])
    config, profile = resolve_config(args)
    assert (config.n_trials, config.n_members, config.sampler) == (4, 3, "tpe")
    assert profile is PROFILES["smoke"] and config.train.image_size == 75
    path = tmp_path / "c.yaml"
    run_search(parser.parse_args(["--profile", "paper", "--write-config", str(path)]))
    assert SearchConfig.from_file(path) == PROFILES["paper"].config
    assert "wrote" in capsys.readouterr().out
