"""The Ray backend: a small real search on the session's local Ray instance (2 CPUs).

Two members x one trial, run as two Ray tasks at once (smoke size: 75 px, 48
images, one epoch, eager mode). Skipped only when ray is not installed.
"""

from __future__ import annotations

import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.search_config import PROFILES

# Ray is an optional backend: about 2 minutes, so only in the slow run (-m slow).
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


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
    assert local_ray.is_initialized()  # an instance the caller started is left running
