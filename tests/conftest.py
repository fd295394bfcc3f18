"""Shared fixtures: one smoke-profile demo suite per test run, shared by xdist workers."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import patch_dx_type

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Members run in float32 unless a test asks otherwise (issue 25's measured choice would
# differ between CPUs), and no test reads or writes the user's precision-choice cache.
os.environ["DERMVIZ_PRECISION"] = "float32"
os.environ["DERMVIZ_PRECISION_CACHE"] = tempfile.mkdtemp(prefix="dermviz-precision-")
REPO_ROOT = Path(__file__).resolve().parents[1]


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str,
               build: Callable[[Path], None]) -> Path:
    """A folder that ``build(folder)`` fills, built once per test run.

    Under pytest-xdist (``-n 2``) the first worker to ask builds it in the run's shared
    temporary folder, under a file lock, and every worker gets its own copy: tests write
    caches into these suites, and one worker's must not surprise the other's.
    """
    root = tmp_path_factory.mktemp(name)
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        build(root)
        return root
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / f"shared-{name}"
    with FileLock(f"{shared}.lock"):
        done = shared / ".built"
        if not done.is_file():
            shutil.rmtree(shared, ignore_errors=True)  # a build that died half-way
            shared.mkdir()
            build(shared)
            done.touch()
    shutil.copytree(shared, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".built"))
    return root


def _build_smoke_demo(root: Path) -> None:
    from dermviz.background import build_paths
    from dermviz.demo import run_demo
    from dermviz.store.status import StatusFile, set_status_sink

    # Built as the dashboard's background build would be: reporting to its status file
    # (tests/test_background.py reads it back).
    status = StatusFile(build_paths(root, "demo-smoke")[0])
    set_status_sink(status)
    try:
        run_demo(profile="smoke", out_dir=root / "demo-smoke", progress=False)
    finally:
        set_status_sink(None)
    status.finish()


@pytest.fixture(scope="session")
def smoke_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the smoke demo suite (trained once per test run)."""
    root = built_once(tmp_path_factory, "models", _build_smoke_demo)
    # What lives this long (TensorFlow, Keras, the suite's objects) stays: keep Python's full
    # collections from walking it again after every few hundred thousand new objects.
    gc.collect()
    gc.freeze()
    return root


@pytest.fixture(scope="session")
def smoke_suite(smoke_models_dir: Path):
    from dermviz.models.suite import Suite

    return Suite(smoke_models_dir / "demo-smoke")


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance (2 CPUs) shared by every Ray test; shut down at session end.

    Ray allows one ``ray.init`` per process, so tests must not start their own.
    """
    try:
        import ray  # optional: the `ray` extra
    except ImportError:
        pytest.skip("ray is not installed (pip install -e '.[ray]' or requirements-extra.txt)")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def smoke_probe_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding a smoke-size spurious-correlation probe suite, built through
    ``dermviz probe`` (once per session). Plain training: a GradMask fit costs 2-3x, and
    tests/models/test_gradmask_training.py already runs one through ``dermviz train``."""
    from dermviz.cli import main

    def build(root: Path) -> None:
        rc = main(["--models-dir", str(root), "probe", "--size", "smoke", "--no-prepare"])
        assert rc == 0

    return built_once(tmp_path_factory, "probe-models", build)


@pytest.fixture(scope="session")
def smoke_probe_suite(smoke_probe_models_dir: Path):
    from dermviz.models.suite import Suite

    return Suite(smoke_probe_models_dir / "probe-smoke")


# Confounder tests cache baselines and counterfactuals in the suite folder: on copies.
@pytest.fixture(scope="module")
def confound_models(smoke_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with a copy of the smoke suite (without confounder results that
    other tests' pages cached in it: these tests compute their own)."""
    root = tmp_path_factory.mktemp("confound-models")
    shutil.copytree(smoke_models_dir / "demo-smoke", root / "demo-smoke",
                    ignore=shutil.ignore_patterns("confounders"))
    return root


@pytest.fixture
def histo_models(smoke_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> Path:
    """A copy of the smoke suite whose data set records ``dx_type`` (patched into every
    suite opened while the test runs). Without the caches of confounder results that other
    tests' pages left in the session suite: those were computed without ``dx_type``."""
    shutil.copytree(smoke_models_dir / "demo-smoke", tmp_path / "demo-smoke",
                    ignore=shutil.ignore_patterns("confounders"))
    patch_dx_type(monkeypatch)
    return tmp_path


#: The report card the smoke build runs (``dermviz.demo.SMOKE_REPORT_CARD``), as
#: ``dermviz.evaluate`` takes it: the API and command-line tests read it from the cache.
REPORT_OPTIONS = {"members": ["m00"], "methods": ["gradcam"],
                  "metrics": ["deletion", "insertion", "sparseness", "complexity"],
                  "n_images": 4, "metric_params": {"deletion": {"n_steps": 10},
                                                   "insertion": {"n_steps": 10}}}
