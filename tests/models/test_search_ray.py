"""The Ray backend: a small real search on the session's local Ray instance (2 CPUs).

Two members x one trial, run as two Ray tasks at once (smoke size shrunk: 75 px, 16
training images, one epoch, eager mode: each trial is one training step). In the
default run: the distributed path is what users grow into. Skipped only when ray is
not installed.
"""

from __future__ import annotations

import pytest

from dermviz.data.synthetic import make_synthetic
from dermviz.models.search_config import PROFILES

pytestmark = pytest.mark.timeout(600)


def test_ray_backend_completes_a_small_suite(tmp_path, local_ray):
    from dermviz.models.backends import RayBackend
    from dermviz.models.search import search_suite

    profile = PROFILES["smoke"]
    config = profile.config.replace(n_trials=1, train={"run_eagerly": True})
    backend = RayBackend()
    data = make_synthetic(profile.data, n_train=16, n_test=4)  # one batch per trial
    suite = search_suite(data, config, out_dir=tmp_path / "r",
                         backend=backend, progress=False)
    assert backend.capacity == 2  # two trials at once on two CPUs
    assert suite.complete and suite.member_ids == ["m00", "m01"]
    assert suite.manifest["search"]["backend"]["backend"] == "ray"
    for mid in suite.member_ids:
        assert suite.member(mid)["search"]["n_complete"] == 1
        assert suite.load_model(mid).output_shape == (None, 1)
    assert local_ray.is_initialized()  # an instance the caller started is left running
