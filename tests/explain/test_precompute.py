"""Precomputing maps into the store: process pool, resumability, backends, the CLI.

KernelSHAP at tiny settings (60 coalitions, 15 superpixels, 3 images, one
member of the 75 px smoke suite) so the file stays well under a minute on 2
cores; most of that is the two spawned workers importing TensorFlow.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dermviz.cli import main
from dermviz.explain import parallel
from dermviz.explain.base import make_explainer
from dermviz.explain.cache import MapCache
from dermviz.explain.precompute import (
    cached_maps,
    default_params,
    explain_suite,
)

TINY = {"nsamples": 60, "n_segments": 15}
MEMBER = "m00"


@pytest.fixture(scope="module")
def ids(smoke_suite) -> list[str]:
    return smoke_suite.dataset().holdout["image_id"].tolist()[:3]


@pytest.fixture(scope="module")
def pooled(smoke_suite, ids) -> dict[str, int]:
    """KernelSHAP for 3 images through a 2-process pool (run once for the module)."""
    return explain_suite(
        smoke_suite, method="kernelshap", params=TINY, members=[MEMBER], image_ids=ids,
        workers=2, progress=False,
    )


@pytest.fixture(scope="module")
def model(smoke_suite):
    """The member's model, loaded (and its forward pass traced) once for the serial runs."""
    return smoke_suite.load_model(MEMBER)


@pytest.fixture
def one_model(smoke_suite, model, monkeypatch):
    """In-process runs reuse :func:`model` instead of loading the member again."""
    monkeypatch.setattr(smoke_suite, "load_model", lambda member: model)
    return model


def test_process_pool_fills_store_like_a_serial_run(smoke_suite, ids, pooled, model):
    assert pooled == {"computed": 3, "cached": 0}
    params = default_params(smoke_suite, "kernelshap", **TINY)
    stored = MapCache.of(smoke_suite).get_many(MEMBER, ids, "kernelshap", params)
    assert list(stored) == ids

    serial = make_explainer(model, "kernelshap", params).explain(
        smoke_suite.dataset().load_images(ids, size=smoke_suite.image_size),
        threshold=smoke_suite.threshold(MEMBER),
    )
    # The workers predict one image per batch on one TensorFlow thread, the serial run three
    # images on all cores: float32 differs in the low bits, so values agree to 1e-4, not exactly.
    for k, image_id in enumerate(ids):
        got = stored[image_id]
        assert got.params == params
        np.testing.assert_allclose(got.maps[0], serial.maps[k], atol=1e-4, rtol=0)
        np.testing.assert_allclose(got.p_melanoma, serial.p_melanoma[k : k + 1], atol=1e-4)
        np.testing.assert_array_equal(got.extras["segments"][0], serial.extras["segments"][k])
        np.testing.assert_allclose(
            got.extras["shap_values"][0], serial.extras["shap_values"][k], atol=1e-4, rtol=0
        )
        assert got.target_class[0] == serial.target_class[k]


def test_rerun_skips_cached_maps_and_recomputes_a_deleted_one(
    smoke_suite, ids, pooled, one_model
):
    params = default_params(smoke_suite, "kernelshap", **TINY)
    kwargs = {"method": "kernelshap", "params": TINY, "members": [MEMBER], "image_ids": ids,
              "progress": False}
    assert explain_suite(smoke_suite, **kwargs) == {"computed": 0, "cached": 3}
    cache = MapCache.of(smoke_suite)
    before = cache.get(MEMBER, ids[1], "kernelshap", params)
    cache.path(MEMBER, ids[1], "kernelshap", params).unlink()
    assert explain_suite(smoke_suite, **kwargs) == {"computed": 1, "cached": 2}
    after = cache.get(MEMBER, ids[1], "kernelshap", params)
    # before: a one-thread pool worker; after: this process (float32 low bits may differ)
    np.testing.assert_allclose(after.maps, before.maps, atol=1e-4, rtol=0)


def test_cached_maps_never_computes(smoke_suite, ids, pooled):
    found = cached_maps(smoke_suite, ["m00", "m01"], ids[0], method="kernelshap", params=TINY)
    assert found["m00"] is not None and found["m01"] is None


def test_ray_backend_without_ray_says_how_to_install_it(smoke_suite, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(parallel.MissingDependencyError, match=r'pip install "ray\[default\]"'):
        explain_suite(smoke_suite, method="kernelshap", params=TINY, backend="ray",
                      progress=False)


def test_ray_backend_runs_the_same_tasks(smoke_suite, ids, local_ray):
    counts = explain_suite(smoke_suite, method="kernelshap", params={**TINY, "seed": 7},
                           members=[MEMBER], image_ids=ids[:2], backend="ray", progress=False)
    assert counts == {"computed": 2, "cached": 0}


def test_keep_models_leaves_each_member_loaded_once_on_the_suite(smoke_suite, ids, model,
                                                                  monkeypatch):
    """The demo's build: maps first, then pages on the same suite object and models."""
    from dermviz.models.suite import Suite

    loads = []

    def load(member: str):  # noqa: ANN202
        loads.append(member)
        return model

    kwargs = {"method": "kernelshap", "members": [MEMBER], "image_ids": ids[:1],
              "progress": False}
    suite = Suite(smoke_suite.path)
    monkeypatch.setattr(suite, "load_model", load)
    counts = explain_suite(suite, params={**TINY, "seed": 11}, keep_models=True, **kwargs)
    assert counts["computed"] == 1 and loads == [MEMBER]
    assert suite.model(MEMBER) is model and loads == [MEMBER]  # kept: no second load
    other = Suite(smoke_suite.path)
    monkeypatch.setattr(other, "load_model", load)
    assert explain_suite(other, params={**TINY, "seed": 12}, **kwargs)["computed"] == 1
    other.model(MEMBER)
    assert loads == [MEMBER] * 3  # without keep_models, the run's model was its own
    with pytest.raises(ValueError, match="keep_models needs a serial run"):
        explain_suite(suite, workers=2, keep_models=True, **kwargs)


def test_bad_backend_and_workers_are_value_errors(smoke_suite):
    with pytest.raises(ValueError, match="unknown backend"):
        explain_suite(smoke_suite, backend="dask", progress=False)
    with pytest.raises(ValueError, match="workers"):
        explain_suite(smoke_suite, workers=0, progress=False)
    with pytest.raises(ValueError, match="ray_address"):
        explain_suite(smoke_suite, ray_address="auto", progress=False)


def test_tasks_are_member_major_chunks_and_threads_split_the_cores():
    todo = {"a": ["1", "2", "3"], "b": ["4"]}
    tasks = parallel.make_tasks("/s", todo, method="kernelshap", params={}, chunk_size=2,
                                batch_size=8, threads=(1, 1))
    assert [(t.member, t.image_ids) for t in tasks] == [
        ("a", ("1", "2")), ("a", ("3",)), ("b", ("4",))
    ]
    assert all(t.intra_threads == 1 for t in tasks)
    assert parallel.thread_split(2, cores=2) == (1, 1)
    assert parallel.thread_split(2, cores=16) == (8, 2)
    assert parallel.thread_split(4, cores=2) == (1, 1)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "gradcam", "--nsamples", "10"], "--nsamples applies to --method kernelshap"),
        (["--method", "gradcam", "--n-segments", "10"],
         "--n-segments applies to --method kernelshap"),
        (["--method", "kernelshap", "--layer", "mixed2"], "--layer applies to --method gradcam"),
        (["--method", "kernelshap", "--nsamples", "0"], "nsamples must be an integer >= 1"),
        (["--method", "lime"], "unknown method 'lime'"),
        (["--workers", "0"], "workers must be an integer >= 1, got 0"),
        (["--ray-address", "auto"], "ray_address is only used with backend='ray'"),
    ],
)
def test_cli_rejects_options_of_the_wrong_method(smoke_models_dir, capsys, extra, message):
    code = main(["--models-dir", str(smoke_models_dir), "explain", "--suite", "demo-smoke",
                 *extra])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_cli_ray_backend_without_ray_is_one_line(smoke_models_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["--models-dir", str(smoke_models_dir), "explain", "--suite", "demo-smoke",
                 "--method", "kernelshap", "--backend", "ray"])
    assert code == 2
    assert 'pip install "ray[default]"' in capsys.readouterr().err


def test_cli_passes_method_options_and_backend(smoke_models_dir, capsys, monkeypatch):
    import dermviz.explain.precompute as precompute

    seen = {}

    def fake(suite, **kwargs):
        seen.update(kwargs, suite=suite.name)
        return {"computed": 2, "cached": 1}

    monkeypatch.setattr(precompute, "explain_suite", fake)
    args = ["--models-dir", str(smoke_models_dir), "explain", "--suite", "demo-smoke",
            "--method", "kernelshap", "--nsamples", "60", "--n-segments", "12",
            "--members", "m00,m01", "--images", "a,b", "--workers", "2"]
    assert main(args) == 0
    assert "kernelshap: computed 2, already cached 1" in capsys.readouterr().out
    assert seen["params"] == {"nsamples": 60, "n_segments": 12}
    assert seen["members"] == ["m00", "m01"] and seen["image_ids"] == ["a", "b"]
    assert (seen["workers"], seen["backend"], seen["ray_address"]) == (2, "local", None)
