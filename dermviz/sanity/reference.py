"""The paper's sanity-check design and numbers (Young et al. [1]_, docs/protocol.md §10).

Keras-free: the 16 hold-out images and the reported similarities, for display
beside a study's. The six randomization stages, by structural role, are
:data:`dermviz.models.blocks.PAPER_STAGES`.

References
----------
.. [1] Young, Booth, Simpson, Dutton and Shrapnel, "Deep neural network or
   dermatologist?", iMIMIC 2019, arXiv:1908.06612.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dermviz.models.blocks import PAPER_STAGES

__all__ = [
    "PAPER_MEL_TEST_INDEXES",
    "PAPER_NV_TEST_INDEXES",
    "PAPER_REFERENCE",
    "paper_image_ids",
]


#: The paper's randomization images (docs/protocol.md §10.2), as hold-out ``test_index``.
PAPER_MEL_TEST_INDEXES: tuple[int, ...] = (1, 6, 13, 17, 18, 21, 72, 80)
PAPER_NV_TEST_INDEXES: tuple[int, ...] = (200, 204, 210, 212, 217, 219, 223, 226)

#: The paper's numbers (docs/protocol.md §10), for display beside a study's. All are SSIM
#: on RGBA overlays (measure ``"ssim_paper"``), not on raw maps; the method keys
#: are registry names. ``ssim_to_original`` is indexed by stage like a study's
#: table (stage 0, the original against itself, is 1 by definition);
#: ``mean_abs_step`` holds the five steps the paper reported; ``mean_abs_step_all``
#: adds the sixth (``conv2d_1``), in the data but not in the paper's list.
PAPER_REFERENCE: dict[str, Any] = {
    "measure": "ssim_paper",
    "randomization": {
        "stages": [s.role for s in PAPER_STAGES],
        "paper_layer_names": [s.paper_name for s in PAPER_STAGES],
        "order": "cascading",
        "n_images": 16,
        "ssim": {"win_size": 9, "use_sample_covariance": True},
        "gradcam": {
            "ssim_to_original": [1.0, 0.768, 0.760, 0.764, 0.756, 0.769, 0.807],
            "mean_abs_step": [0.232, 0.044, 0.030, 0.018, 0.043],
            "mean_abs_step_all": [0.232, 0.044, 0.030, 0.018, 0.043, 0.039],
        },
        "kernelshap": {
            "ssim_to_original": [1.0, 0.827, 0.837, 0.843, 0.832, 0.763, 0.824],
            "mean_abs_step": [0.173, 0.032, 0.046, 0.033, 0.070],
            "mean_abs_step_all": [0.173, 0.032, 0.046, 0.033, 0.070, 0.066],
        },
    },
    "reproducibility": {
        "ssim": {"win_size": 3, "use_sample_covariance": False},
        "gradcam": {"mean": 0.9999992, "min": 0.999995, "n": 200},
        "kernelshap": {"mean": 0.929, "sd": 0.029, "min": 0.859, "max": 1.0, "n": 199},
    },
    "cross_model": {
        "ssim": {"win_size": 9, "use_sample_covariance": True},
        "reference": "seed 5",
        "n_images": 200,
        "gradcam": {
            "5 vs 8": {"mean": 0.789, "sd": 0.047},
            "5 vs 11": {"mean": 0.816, "sd": 0.061},
        },
        "kernelshap": {
            "5 vs 8": {"mean": 0.785, "sd": 0.046},
            "5 vs 11": {"mean": 0.812, "sd": 0.047},
        },
    },
}


def paper_image_ids(holdout_table: pd.DataFrame) -> list[str]:
    """The paper's 16 randomization images, or a stand-in on a small hold-out.

    Parameters
    ----------
    holdout_table : DataFrame
        Hold-out rows with ``image_id``, ``test_index`` and ``y`` (or ``dx``).

    Returns
    -------
    list of str
        The images at test indexes 1, 6, 13, 17, 18, 21, 72, 80 (melanomas) and
        200, 204, 210, 212, 217, 219, 223, 226 (naevi) when all 16 exist with those
        labels (the 400-image hold-out); otherwise the first 8 melanomas and the
        first 8 naevi by ``test_index`` (fewer if the hold-out has fewer).
    """
    t = holdout_table
    if "test_index" not in t or "image_id" not in t:
        raise ValueError("the hold-out table needs 'image_id' and 'test_index' columns")
    y = t["y"].astype(int) if "y" in t else (t["dx"] == "mel").astype(int)
    t = t.assign(_y=y.to_numpy()).sort_values("test_index")
    by_index = t.set_index("test_index")
    wanted = [(i, 1) for i in PAPER_MEL_TEST_INDEXES] + [(i, 0) for i in PAPER_NV_TEST_INDEXES]
    if by_index.index.is_unique and all(
        i in by_index.index and int(by_index.at[i, "_y"]) == lab for i, lab in wanted
    ):
        return [str(by_index.at[i, "image_id"]) for i, _ in wanted]
    mel = t.loc[t["_y"] == 1, "image_id"].head(8)
    nv = t.loc[t["_y"] == 0, "image_id"].head(8)
    ids = [str(i) for i in mel] + [str(i) for i in nv]
    if not ids:
        raise ValueError("the hold-out table is empty")
    return ids
