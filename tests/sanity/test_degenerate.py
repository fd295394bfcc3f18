"""Sanity results flag KernelSHAP maps whose reference gap is degenerate."""

from __future__ import annotations

import numpy as np

from dermviz.explain.maps import SaliencyMaps
from dermviz.sanity import run_reproducibility
from dermviz.sanity.scoring import degenerate_map_warnings


def _maps(f_x: list[float], base: list[float], *, extras: bool = True,
          size: int = 8) -> SaliencyMaps:
    n = len(f_x)
    rng = np.random.default_rng(n)
    return SaliencyMaps(
        method="toy_shap",
        maps=rng.normal(size=(n, size, size)).astype(np.float32),
        target_class=np.ones(n, np.int64),
        p_melanoma=np.asarray(f_x, np.float32),
        grid=None,
        params={},
        extras={"f_x": np.float32(f_x), "base_value": np.float32(base)} if extras else {},
    )


def test_degenerate_map_warnings_count_per_source() -> None:
    runs = {
        "white": _maps([0.999, 0.6, 0.998], [1.0, 1.0, 0.97]),
        "blur": _maps([0.999, 0.6, 0.998], [0.3, 0.1, 0.2]),
        "gradcam": _maps([0.999], [0.999], extras=False),  # no gap: not concerned
    }
    warnings = degenerate_map_warnings(runs)
    assert len(warnings) == 1
    assert warnings[0].startswith("white: 2 of 3 maps have a degenerate reference gap")


class _SaturatedToy:
    """A signed toy explainer whose model scores the background like the image."""

    name = "toy_shap"
    signed = True

    def explain(self, images, *, target_class=None, threshold=0.5):
        n = len(images)
        return _maps([0.9995] * n, [1.0] * n, size=images.shape[1])


def test_a_study_on_degenerate_maps_says_so() -> None:
    images = np.random.default_rng(0).integers(0, 255, (2, 75, 75, 3)).astype(np.uint8)
    result = run_reproducibility(lambda _model: _SaturatedToy(), None, images, ["a", "b"],
                                 similarities=("ssim",), progress=False)
    assert any("run1: 2 of 2 maps have a degenerate reference gap" in w
               for w in result.warnings)
