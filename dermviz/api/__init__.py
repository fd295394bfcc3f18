"""The notebook API: a suite, its maps, its sanity checks and its statistics in a few lines.

Everything is also reachable from ``dermviz`` itself::

    import dermviz
    suite = dermviz.open_suite("demo")
    maps = dermviz.saliency(suite, dermviz.holdout(suite).image_id[:4], method="gradcam")
    study = dermviz.sanity_check(suite, "reproducibility")
    study.comparison_table()

Maps go through the suite's map cache: computed once, read back after. Sanity checks go
through the one sanity runner and its cache. Tables are pandas DataFrames. Importing this
module imports no TensorFlow; computing a map or a check does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dermviz import sanity
from dermviz.analysis.browse import lesion_table
from dermviz.analysis.localization import localization_table
from dermviz.analysis.predictions import predictions_table
from dermviz.analysis.statistics import suite_statistics
from dermviz.explain.base import available_methods, get_explainer
from dermviz.explain.maps import SaliencyMaps
from dermviz.explain.precompute import default_params, load_or_compute_batch
from dermviz.models.suite import Suite, list_suites

__all__ = [
    "available_methods",
    "holdout",
    "lesions",
    "list_suites",
    "localization",
    "method_defaults",
    "open_suite",
    "predictions",
    "saliency",
    "sanity_check",
    "statistics",
]

SANITY_KINDS = ("randomization", "smprt", "emprt", "reproducibility", "cross_model")


def open_suite(name_or_path: str | Path, *, root: str | Path | None = None) -> Suite:
    """A trained suite by name (under ``root``, default ``$DERMVIZ_MODELS`` or ``./models``)
    or by path."""
    return Suite.open(name_or_path, root=root)


def holdout(suite: Suite) -> pd.DataFrame:
    """The suite's hold-out images (``image_id``, ``dx``, ``test_index``, metadata...)."""
    return suite.dataset().holdout.reset_index(drop=True)


def saliency(
    suite: Suite,
    image_ids: Sequence[str],
    *,
    method: str = "gradcam",
    member: str | None = None,
    **params: Any,
) -> SaliencyMaps:
    """Maps of hold-out images by one member, from the map cache (computed on a miss).

    Parameters
    ----------
    suite : Suite
    image_ids : sequence of str
        Hold-out (or pool) image ids, in the order wanted.
    method : str
        A registered method (:func:`available_methods`).
    member : str, optional
        Default: the suite's first member.
    **params
        The method's parameters (default: its defaults for this suite, e.g. GradCAM's
        layer from the suite's config); they are part of the cache key.
    """
    member = member or _first_member(suite)
    return load_or_compute_batch(suite, member, [str(i) for i in image_ids], method=method,
                                 params=params)


def sanity_check(suite: Suite, kind: str = "randomization", *, progress: bool = False,
                 force: bool = False, **options: Any) -> Any:
    """Run (or read from its cache) one sanity check on the suite.

    Parameters
    ----------
    kind : {"randomization", "smprt", "emprt", "reproducibility", "cross_model"}
    **options
        The spec's options: ``member``, ``method``, ``params``, ``image_ids``; for
        randomization also ``study`` ("paper" or "custom"), ``layer_set``, ``order``...
        (:func:`dermviz.sanity.randomization_spec`, :func:`dermviz.sanity.smprt_spec`,
        :func:`dermviz.sanity.emprt_spec`, :func:`dermviz.sanity.comparison_spec`).

    Returns
    -------
    RandomizationResult, EfficientRandomizationResult or ComparisonResult
        With ``stage_table()`` / ``scores()`` / ``comparison_table()`` etc. as DataFrames.
    """
    if kind not in SANITY_KINDS:
        raise ValueError(f"unknown sanity check {kind!r}; choose from {SANITY_KINDS}")
    if kind == "randomization":
        spec = sanity.randomization_spec(suite, **options)
    elif kind == "smprt":
        spec = sanity.smprt_spec(suite, **options)
    elif kind == "emprt":
        spec = sanity.emprt_spec(suite, **options)
    else:
        spec = sanity.comparison_spec(suite, kind, **options)
    return sanity.run(suite, spec, progress=progress, force=force)


def predictions(suite: Suite) -> pd.DataFrame:
    """Every member's hold-out p(melanoma) and threshold, one row per member and image."""
    return predictions_table(suite)


def statistics(suite: Suite) -> dict[str, pd.DataFrame]:
    """Errors, agreement and calibration tables (:func:`suite_statistics`)."""
    return suite_statistics(suite)


def lesions(suite: Suite) -> pd.DataFrame:
    """One row per hold-out lesion: verdicts, disagreement, metadata (the browser's table)."""
    return lesion_table(suite, dataset=suite.dataset())


def localization(
    suite: Suite,
    image_ids: Sequence[str],
    *,
    method: str = "gradcam",
    member: str | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Localization scores of a member's maps against the lesion masks, per image, beside
    chance and the centred Gaussian (:func:`localization_table`)."""
    member = member or _first_member(suite)
    ids = [str(i) for i in image_ids]
    maps = saliency(suite, ids, method=method, member=member, **params)
    masks = suite.dataset().load_masks(ids, size=suite.image_size)
    return localization_table(maps.maps, masks, image_ids=ids,
                              signed=get_explainer(method).signed,
                              labels={"member": member, "method": method})


def method_defaults(suite: Suite, method: str) -> dict[str, Any]:
    """A method's parameters for this suite (what :func:`saliency` uses by default)."""
    return default_params(suite, method)


def _first_member(suite: Suite) -> str:
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    return suite.member_ids[0]


# Building suites and their maps (what the command line calls): dermviz.api.build.
from dermviz.api.build import (  # noqa: E402
    build_demo,
    build_probe,
    check_weights,
    explain_suite,
    load_dataset,
    search_suite,
    search_summary,
    train_suite,
)

__all__ += [
    "build_demo", "build_probe", "check_weights", "explain_suite", "load_dataset",
    "search_suite", "search_summary", "train_suite",
]
