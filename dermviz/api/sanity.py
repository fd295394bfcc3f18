"""Sanity checks of saliency maps through the one sanity runner (:mod:`dermviz.sanity`):
build a check's spec, run it (or read it from the suite's study cache), list and open the
studies saved in the suite folder.

The members a check needs are loaded through the suite (:meth:`Suite.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dermviz import sanity
from dermviz.api.suites import suite_dataset
from dermviz.models.suite import Suite
from dermviz.sanity import (  # noqa: F401 - the rest re-exported, see below
    CROSS_MODEL_MEMBERS,
    DEFAULT_SIMILARITIES,
    DISPLAY_MEASURES,
    METHODS,
    PAPER_REFERENCE,
    SIMILARITIES,
    SanitySpec,
    StudyDamagedError,
    StudyInfo,
    comparison_spec,
    default_image_ids,
    default_layer_set,
    emprt_spec,
    layer_sets,
    load_study,
    method_params,
    paper_comparable,
    paper_comparison_reference,
    randomization_spec,
    smprt_spec,
    stage_names,
    study_folder,
)

# The dashboard's sanity pages build their own studies: they read the spec builders and
# the measures' names above as ``api.sanity.<name>`` (re-exported, not part of the flat
# ``dermviz.api`` namespace, where ``METHODS`` or ``method_params`` would be ambiguous).
__all__ = [
    "SANITY_KINDS",
    "StudyDamagedError",
    "StudyInfo",
    "load_study",
    "run_check",
    "sanity_check",
    "saved_studies",
]

SANITY_KINDS = ("randomization", "smprt", "emprt", "reproducibility", "cross_model")


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


def run_check(suite: Suite, spec: SanitySpec, *,
              progress: bool | Callable[[int, int, str], None] = False) -> Any:
    """The result of a built ``spec`` (e.g. :func:`dermviz.sanity.smprt_spec`): read from
    the suite's study cache, or computed and saved, with the suite's loaded members and
    data set.

    Parameters
    ----------
    progress : bool or callable
        False: silent; True: a tqdm bar; a callable gets ``(done, total, step name)``
        after each step (e.g. a dashboard's progress bar).
    """
    return sanity.run(suite, spec, dataset=suite_dataset(suite), load_model=suite.model,
                      progress=progress)


def saved_studies(suite: Suite, kinds: Sequence[str]) -> list[StudyInfo]:
    """The suite's saved studies of the given kinds, newest first; damaged ones included,
    with ``damaged`` saying why and what to do, and outdated ones (saved by code whose
    scores have since changed, ``outdated``) included too
    (:func:`dermviz.sanity.list_studies`)."""
    return sanity.list_studies(suite, list(kinds), include_damaged=True,
                               include_outdated=True)
