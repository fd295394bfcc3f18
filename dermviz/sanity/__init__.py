"""Sanity checks for saliency maps: randomization, reproducibility, cross-model.

Backend only (no CLI, no UI). The main entry points:

* layer sets: :func:`paper_stages` / :func:`paper_layers` (the paper's six layers,
  found by structure) and :func:`block_layers` (whole Inception blocks);
* :func:`randomize`: randomized copies of a model, cascading or independent;
* :func:`run_randomization_study`, :func:`run_reproducibility`,
  :func:`run_cross_model`: long tables of similarities + maps, with baselines;
* :func:`ssim_maps`, :func:`spearman`, :func:`ssim_paper_overlay` and the
  :data:`SIMILARITIES` registry;
* :func:`save_study` / :func:`load_study`, and :data:`PAPER_REFERENCE`.

References
----------
.. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
.. [2] Wang et al., "Image quality assessment: from error visibility to
   structural similarity", IEEE TIP 2004.
.. [3] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019.
"""

from dermviz.sanity.baselines import BASELINES, edge_map, random_map
from dermviz.sanity.randomization import (
    PAPER_STAGES,
    as_stages,
    block_layers,
    branch_layers,
    paper_layers,
    paper_stages,
    randomize,
)
from dermviz.sanity.similarity import (
    SIMILARITIES,
    mean_abs_successive_change,
    normalise_signed,
    register_similarity,
    render_paper_overlay,
    spearman,
    ssim_maps,
    ssim_paper_overlay,
    ssim_to_original_curve,
)
from dermviz.sanity.studies import (
    DEFAULT_SIMILARITIES,
    PAPER_REFERENCE,
    ComparisonResult,
    RandomizationResult,
    StudySpec,
    export_csv,
    load_or_run_study,
    load_study,
    paper_image_ids,
    paper_study_spec,
    resolve_stages,
    run_cross_model,
    run_randomization_study,
    run_reproducibility,
    save_study,
    stage_summary,
    step_summary,
    study_folder,
)

__all__ = [
    "BASELINES",
    "DEFAULT_SIMILARITIES",
    "PAPER_REFERENCE",
    "PAPER_STAGES",
    "SIMILARITIES",
    "ComparisonResult",
    "RandomizationResult",
    "StudySpec",
    "as_stages",
    "block_layers",
    "branch_layers",
    "edge_map",
    "export_csv",
    "load_or_run_study",
    "load_study",
    "mean_abs_successive_change",
    "normalise_signed",
    "paper_image_ids",
    "paper_layers",
    "paper_stages",
    "paper_study_spec",
    "random_map",
    "randomize",
    "register_similarity",
    "render_paper_overlay",
    "resolve_stages",
    "run_cross_model",
    "run_randomization_study",
    "run_reproducibility",
    "save_study",
    "spearman",
    "ssim_maps",
    "ssim_paper_overlay",
    "ssim_to_original_curve",
    "stage_summary",
    "step_summary",
    "study_folder",
]
