"""Sanity checks for saliency maps: randomization, reproducibility, cross-model.

Backend only (no CLI, no UI). Every check is a typed spec run by one runner:

* specs: :class:`RandomizationSpec` (classic MPRT, top-down, bottom-up or
  independent), :class:`SmoothRandomizationSpec` (sMPRT),
  :class:`EfficientRandomizationSpec` (eMPRT), :class:`ReproducibilitySpec`,
  :class:`CrossModelSpec` (all :class:`SanitySpec`; a new check registers its
  spec, computation and result with :func:`register_check`), built for a suite
  by :func:`randomization_spec` / :func:`smprt_spec` / :func:`emprt_spec` /
  :func:`comparison_spec`; the report card of explanation methods,
  :class:`EvaluationSpec` (:func:`evaluation_spec`: methods x metrics of
  :mod:`dermviz.evaluation` on members x images, stored image by image);
* :func:`run` (load or compute, cached under ``<suite>/sanity/<kind>-<key>/``),
  :func:`list_studies`, :func:`load_study`;
* tables: :func:`stage_table`, :func:`step_table`, :func:`baseline_table`,
  :func:`comparison_table` (also methods of the results), beside
  :data:`PAPER_REFERENCE`;
* the pieces: layer sets (:func:`paper_stages`, :func:`block_layers`, found in
  the graph by :mod:`dermviz.models.graph`), :func:`randomize`, the array-level
  runs (:func:`run_randomization_study`,
  :func:`run_smooth_randomization`, :func:`run_efficient_randomization`,
  :func:`run_reproducibility`, :func:`run_cross_model`), the
  :data:`SIMILARITIES` registry and :func:`discrete_entropy`.

References
----------
.. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
.. [2] Wang et al., "Image quality assessment: from error visibility to
   structural similarity", IEEE TIP 2004.
.. [3] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019.
.. [4] Hedstroem et al., "Sanity Checks Revisited: An Exploration to Repair the
   Model Parameter Randomisation Test", arXiv:2401.06465 (sMPRT, eMPRT).
"""

from importlib import import_module
from typing import Any

# The public names, by the module that defines them. They are imported on first use
# (PEP 562): listing and loading studies need no Keras, and ``import dermviz.sanity``
# stays light.
_PUBLIC: dict[str, tuple[str, ...]] = {
    "dermviz.sanity.base": (
        "DEFAULT_SIMILARITIES", "Loaders", "SanitySpec", "check_kinds", "get_check",
        "register_check", "spec_from_dict",
    ),
    "dermviz.sanity.baselines": ("BASELINES", "edge_map", "random_map"),
    "dermviz.sanity.checks": (
        "ComparisonResult", "CrossModelSpec", "EfficientRandomizationResult",
        "EfficientRandomizationSpec", "EvaluationResult", "EvaluationSpec",
        "RandomizationResult", "RandomizationSpec",
        "ReproducibilitySpec", "SmoothRandomizationSpec", "SmoothedExplainer",
        "discrete_entropy", "resolve_stages", "run_cross_model",
        "run_efficient_randomization", "run_randomization_study", "run_reproducibility",
        "run_smooth_randomization", "select_stages", "smoothed_factory",
    ),
    "dermviz.sanity.design": (
        "CROSS_MODEL_MEMBERS", "METHODS", "comparison_spec", "default_image_ids",
        "default_layer_set", "emprt_spec", "evaluation_image_ids", "evaluation_spec",
        "layer_sets", "method_params",
        "paper_study_spec", "randomization_spec", "smprt_spec", "stage_names",
    ),
    "dermviz.sanity.layer_randomization": ("ORDERS", "as_stages", "randomize"),
    "dermviz.sanity.reference": ("PAPER_REFERENCE", "paper_image_ids"),
    "dermviz.sanity.runner": ("StudyInfo", "cached_study", "list_studies", "run", "study_folder"),
    "dermviz.sanity.similarity": (
        "SIMILARITIES", "mean_abs_successive_change", "normalise_signed",
        "register_similarity", "spearman", "ssim_maps", "ssim_paper_overlay",
        "ssim_to_original_curve",
    ),
    "dermviz.sanity.storage": ("StudyDamagedError", "export_csv", "load_study", "save_study"),
    "dermviz.sanity.tables": (
        "DISPLAY_MEASURES", "baseline_table", "comparison_table", "paper_comparable",
        "paper_comparison_reference", "stage_summary", "stage_table", "step_summary",
        "step_table",
    ),
    # Defined below the sanity layer, re-exported for the studies' users.
    "dermviz.models.blocks": ("PAPER_STAGES",),
    "dermviz.models.graph": ("block_layers", "branch_layers", "paper_layers", "paper_stages"),
    "dermviz.explain.overlay": ("render_paper_overlay",),
}
_HOME = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
