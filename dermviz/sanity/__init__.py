"""Sanity checks for saliency maps: randomization, reproducibility, cross-model.

Backend only (no CLI, no UI). Every check is a typed spec run by one runner:

* specs: :class:`RandomizationSpec` (classic MPRT, top-down, bottom-up or
  independent), :class:`SmoothRandomizationSpec` (sMPRT),
  :class:`EfficientRandomizationSpec` (eMPRT), :class:`ReproducibilitySpec`,
  :class:`CrossModelSpec` (all :class:`SanitySpec`; a new check registers its
  spec, computation and result with :func:`register_check`), built for a suite
  by :func:`randomization_spec` / :func:`smprt_spec` / :func:`emprt_spec` /
  :func:`comparison_spec`;
* :func:`run` (load or compute, cached under ``<suite>/sanity/<kind>-<key>/``),
  :func:`list_studies`, :func:`load_study`;
* tables: :func:`stage_table`, :func:`step_table`, :func:`baseline_table`,
  :func:`comparison_table` (also methods of the results), beside
  :data:`PAPER_REFERENCE`;
* the pieces: layer sets (:func:`paper_stages`, :func:`block_layers`),
  :func:`randomize`, the array-level runs (:func:`run_randomization_study`,
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dermviz.sanity.base import (
        DEFAULT_SIMILARITIES,
        Loaders,
        SanitySpec,
        check_kinds,
        get_check,
        register_check,
        spec_from_dict,
    )
    from dermviz.sanity.baselines import (
        BASELINES,
        edge_map,
        random_map,
    )
    from dermviz.sanity.checks import (
        ComparisonResult,
        CrossModelSpec,
        EfficientRandomizationResult,
        EfficientRandomizationSpec,
        RandomizationResult,
        RandomizationSpec,
        ReproducibilitySpec,
        SmoothedExplainer,
        SmoothRandomizationSpec,
        discrete_entropy,
        resolve_stages,
        run_cross_model,
        run_efficient_randomization,
        run_randomization_study,
        run_reproducibility,
        run_smooth_randomization,
        select_stages,
        smoothed_factory,
    )
    from dermviz.sanity.design import (
        CROSS_MODEL_MEMBERS,
        METHODS,
        comparison_spec,
        default_image_ids,
        emprt_spec,
        method_params,
        paper_study_spec,
        randomization_spec,
        smprt_spec,
        stage_names,
    )
    from dermviz.sanity.randomization import (
        ORDERS,
        as_stages,
        block_layers,
        branch_layers,
        paper_layers,
        paper_stages,
        randomize,
    )
    from dermviz.sanity.reference import (
        PAPER_REFERENCE,
        PAPER_STAGES,
        paper_image_ids,
    )
    from dermviz.sanity.runner import (
        StudyInfo,
        cached_study,
        list_studies,
        run,
        study_folder,
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
    from dermviz.sanity.storage import (
        StudyDamagedError,
        export_csv,
        load_study,
        save_study,
    )
    from dermviz.sanity.tables import (
        DISPLAY_MEASURES,
        baseline_table,
        comparison_table,
        paper_comparable,
        paper_comparison_reference,
        stage_summary,
        stage_table,
        step_summary,
        step_table,
    )

# Names are imported on first use (PEP 562): listing and loading studies need no
# Keras, and ``import dermviz.sanity`` stays light.
_LAZY = {
    "DEFAULT_SIMILARITIES": "base",
    "Loaders": "base",
    "SanitySpec": "base",
    "check_kinds": "base",
    "get_check": "base",
    "register_check": "base",
    "spec_from_dict": "base",
    "BASELINES": "baselines",
    "edge_map": "baselines",
    "random_map": "baselines",
    "ComparisonResult": "checks",
    "CrossModelSpec": "checks",
    "RandomizationResult": "checks",
    "RandomizationSpec": "checks",
    "ReproducibilitySpec": "checks",
    "resolve_stages": "checks",
    "run_cross_model": "checks",
    "run_randomization_study": "checks",
    "run_reproducibility": "checks",
    "EfficientRandomizationResult": "checks",
    "EfficientRandomizationSpec": "checks",
    "SmoothRandomizationSpec": "checks",
    "SmoothedExplainer": "checks",
    "discrete_entropy": "checks",
    "run_efficient_randomization": "checks",
    "run_smooth_randomization": "checks",
    "select_stages": "checks",
    "smoothed_factory": "checks",
    "CROSS_MODEL_MEMBERS": "design",
    "METHODS": "design",
    "comparison_spec": "design",
    "default_image_ids": "design",
    "emprt_spec": "design",
    "smprt_spec": "design",
    "method_params": "design",
    "paper_study_spec": "design",
    "randomization_spec": "design",
    "stage_names": "design",
    "ORDERS": "randomization",
    "as_stages": "randomization",
    "block_layers": "randomization",
    "branch_layers": "randomization",
    "paper_layers": "randomization",
    "paper_stages": "randomization",
    "randomize": "randomization",
    "PAPER_REFERENCE": "reference",
    "PAPER_STAGES": "reference",
    "paper_image_ids": "reference",
    "StudyInfo": "runner",
    "cached_study": "runner",
    "list_studies": "runner",
    "run": "runner",
    "study_folder": "runner",
    "SIMILARITIES": "similarity",
    "mean_abs_successive_change": "similarity",
    "normalise_signed": "similarity",
    "register_similarity": "similarity",
    "render_paper_overlay": "similarity",
    "spearman": "similarity",
    "ssim_maps": "similarity",
    "ssim_paper_overlay": "similarity",
    "ssim_to_original_curve": "similarity",
    "StudyDamagedError": "storage",
    "export_csv": "storage",
    "load_study": "storage",
    "save_study": "storage",
    "DISPLAY_MEASURES": "tables",
    "baseline_table": "tables",
    "comparison_table": "tables",
    "paper_comparable": "tables",
    "paper_comparison_reference": "tables",
    "stage_summary": "tables",
    "stage_table": "tables",
    "step_summary": "tables",
    "step_table": "tables",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"dermviz.sanity.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BASELINES",
    "CROSS_MODEL_MEMBERS",
    "ComparisonResult",
    "CrossModelSpec",
    "DEFAULT_SIMILARITIES",
    "DISPLAY_MEASURES",
    "EfficientRandomizationResult",
    "EfficientRandomizationSpec",
    "Loaders",
    "METHODS",
    "ORDERS",
    "PAPER_REFERENCE",
    "PAPER_STAGES",
    "RandomizationResult",
    "RandomizationSpec",
    "ReproducibilitySpec",
    "SIMILARITIES",
    "SanitySpec",
    "SmoothRandomizationSpec",
    "SmoothedExplainer",
    "StudyDamagedError",
    "StudyInfo",
    "as_stages",
    "baseline_table",
    "block_layers",
    "branch_layers",
    "cached_study",
    "check_kinds",
    "comparison_spec",
    "comparison_table",
    "default_image_ids",
    "discrete_entropy",
    "edge_map",
    "emprt_spec",
    "export_csv",
    "get_check",
    "list_studies",
    "load_study",
    "mean_abs_successive_change",
    "method_params",
    "normalise_signed",
    "paper_comparable",
    "paper_comparison_reference",
    "paper_image_ids",
    "paper_layers",
    "paper_stages",
    "paper_study_spec",
    "random_map",
    "randomization_spec",
    "randomize",
    "register_check",
    "register_similarity",
    "render_paper_overlay",
    "resolve_stages",
    "run",
    "run_cross_model",
    "run_efficient_randomization",
    "run_randomization_study",
    "run_reproducibility",
    "run_smooth_randomization",
    "save_study",
    "select_stages",
    "smoothed_factory",
    "smprt_spec",
    "spearman",
    "spec_from_dict",
    "ssim_maps",
    "ssim_paper_overlay",
    "ssim_to_original_curve",
    "stage_names",
    "stage_summary",
    "stage_table",
    "step_summary",
    "step_table",
    "study_folder",
]
