"""The Ray backend: a small real search on a local Ray instance (2 CPUs).

Two members x one trial, run as two Ray tasks at once (smoke size, eager mode):
50-150 s on the shared 2-core machine, so marked slow (``pytest -m slow`` runs it).
"""

from __future__ import annotations

import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.search_config import PROFILES

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_backend_completes_a_small_suite(tmp_path, local_ray):
    from dermviz.models.backends import RayBackend
    from dermviz.models.search import search_suite

    profile = PROFILES["smoke"]
    config = profile.config.replace(n_trials=1, train={"run_eagerly": True})
    backend = RayBackend()
    suite = search_suite(make_synthetic(profile.data), config, out_dir=tmp_path / "r",
                         backend=backend, progress=False)
    assert backend.capacity == 2  # two trials at once on two CPUs
    assert suite.complete and suite.member_ids == ["m00", "m01"]
    assert suite.manifest["search"]["backend"]["backend"] == "ray"
    for mid in suite.member_ids:
        assert suite.member(mid)["search"]["n_complete"] == 1
        assert suite.load_model(mid).output_shape == (None, 1)
    assert ray.is_initialized()  # an instance the caller started is left running
