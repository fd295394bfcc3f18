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

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Names are imported on first use (PEP 562), so ``import dermviz.sanity.command`` (the
# CLI's start-up) does not pull in Keras and TensorFlow.
_LAZY = {
    "BASELINES": "baselines",
    "edge_map": "baselines",
    "random_map": "baselines",
    "PAPER_STAGES": "randomization",
    "as_stages": "randomization",
    "block_layers": "randomization",
    "branch_layers": "randomization",
    "paper_layers": "randomization",
    "paper_stages": "randomization",
    "randomize": "randomization",
    "SIMILARITIES": "similarity",
    "mean_abs_successive_change": "similarity",
    "normalise_signed": "similarity",
    "register_similarity": "similarity",
    "render_paper_overlay": "similarity",
    "spearman": "similarity",
    "ssim_maps": "similarity",
    "ssim_paper_overlay": "similarity",
    "ssim_to_original_curve": "similarity",
    "DEFAULT_SIMILARITIES": "studies",
    "PAPER_REFERENCE": "studies",
    "ComparisonResult": "studies",
    "RandomizationResult": "studies",
    "StudySpec": "studies",
    "export_csv": "studies",
    "load_or_run_study": "studies",
    "load_study": "studies",
    "paper_image_ids": "studies",
    "paper_study_spec": "studies",
    "resolve_stages": "studies",
    "run_cross_model": "studies",
    "run_randomization_study": "studies",
    "run_reproducibility": "studies",
    "save_study": "studies",
    "stage_summary": "studies",
    "step_summary": "studies",
    "study_folder": "studies",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"dermviz.sanity.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
