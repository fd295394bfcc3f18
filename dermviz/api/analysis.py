"""Hold-out analyses from stored predictions and maps: statistics, the lesion browser's
table, where stored maps sit on the lesion, two suites compared. Nothing here computes a
map."""

from __future__ import annotations

import pandas as pd

from dermviz.analysis.browse import (
    CLASSES,
    METADATA_FILTERS,
    MISSED_MELANOMAS,
    MISSES_EVIDENCE,
    SORT_KEYS,
    UNUSUAL,
    LesionFilter,
    lesion_table,
    paginate,
)
from dermviz.analysis.calibration import ENSEMBLE
from dermviz.analysis.errors import (
    PAPER_CONSISTENT_COUNT,
    PAPER_RULE,
    REPRODUCTION_ALWAYS_WRONG_TEST_ID,
    REPRODUCTION_CONSISTENT_COUNT,
    REPRODUCTION_MELANOMAS_CALLED_NAEVI,
    REPRODUCTION_NAEVI_CALLED_MELANOMA,
    chance_sentence,
    majority_vote,
    member_summary,
)
from dermviz.analysis.lesion_localization import columns, join_localization, suite_localization
from dermviz.analysis.predictions import predictions_table
from dermviz.analysis.safety import load_safety
from dermviz.analysis.statistics import suite_statistics
from dermviz.analysis.suite_comparison import (
    HoldoutMismatchError,
    SuiteComparison,
    compare_suites,
)
from dermviz.analysis.verdicts import verdicts
from dermviz.api.evidence import evidence_localization
from dermviz.api.suites import suite_dataset
from dermviz.models.suite import Suite

__all__ = [
    "CLASSES",
    "ENSEMBLE",
    "METADATA_FILTERS",
    "MISSED_MELANOMAS",
    "MISSES_EVIDENCE",
    "PAPER_CONSISTENT_COUNT",
    "PAPER_RULE",
    "REPRODUCTION_ALWAYS_WRONG_TEST_ID",
    "REPRODUCTION_CONSISTENT_COUNT",
    "REPRODUCTION_MELANOMAS_CALLED_NAEVI",
    "REPRODUCTION_NAEVI_CALLED_MELANOMA",
    "SORT_KEYS",
    "UNUSUAL",
    "HoldoutMismatchError",
    "LesionFilter",
    "SuiteComparison",
    "chance_sentence",
    "chance_warning",
    "majority_vote",
    "paginate",
    "compare",
    "lesion_browser_table",
    "lesions",
    "n_scored",
    "predictions",
    "statistics",
    "verdicts",
]


def predictions(suite: Suite) -> pd.DataFrame:
    """Every member's hold-out p(melanoma) and threshold, one row per member and image."""
    return predictions_table(suite)


def statistics(suite: Suite) -> dict[str, pd.DataFrame]:
    """Errors, agreement and calibration tables (:func:`suite_statistics`)."""
    return suite_statistics(suite)


def chance_warning(suite: Suite) -> str | None:
    """:func:`chance_sentence` of the suite's members, from their stored hold-out
    predictions (only the per-member table, not every statistic), or None: every member
    beats chance, or none has stored predictions to judge it by."""
    table = predictions_table(suite)
    return None if table.empty else chance_sentence(member_summary(table))


def lesions(suite: Suite) -> pd.DataFrame:
    """One row per hold-out lesion: verdicts, disagreement, metadata (the browser's table)."""
    return lesion_table(suite, dataset=suite_dataset(suite))


def lesion_browser_table(suite: Suite, *, method: str = "gradcam") -> pd.DataFrame:
    """:func:`lesions` with the localization of the stored ``method`` maps of each lesion
    (:func:`dermviz.analysis.lesion_localization.suite_localization`; nothing is computed:
    lesions without stored maps score 0 maps), and, once the suite's safety data are
    prepared (:mod:`dermviz.api.safety`), each lesion's ``ood_score`` and ``unusual``.
    An evidence-mode suite's table also scores the maps against the evidence
    (:func:`dermviz.api.evidence.evidence_localization`)."""
    localization = suite_localization(suite, dataset=suite_dataset(suite), method=method)
    table = join_localization(lesions(suite), localization)
    evidence = evidence_localization(suite, method=method)
    if evidence is not None:
        table = join_localization(table, evidence)
    safety = load_safety(suite)  # the "unusual for this suite" filter, once prepared
    if safety is not None:
        ood = safety.holdout_ood()[["image_id", "ood_score", "unusual"]]
        table = table.merge(ood, on="image_id", how="left")
    return table


def n_scored(table: pd.DataFrame, *, method: str = "gradcam") -> int:
    """How many lesions of a :func:`lesion_browser_table` have stored ``method`` maps
    scored against their mask."""
    column = columns(method)["maps"]
    if column not in table.columns:
        raise ValueError(f"the table has no {column!r} column: not a lesion_browser_table "
                         f"of {method!r} maps")
    return int((table[column] > 0).sum())


def compare(first: Suite, second: Suite) -> SuiteComparison:
    """Two suites side by side on the same hold-out, with their stored GradCAM maps' mass
    on the lesion (:func:`dermviz.analysis.suite_comparison.compare_suites`).

    Raises
    ------
    HoldoutMismatchError
        The suites were not tested on the same hold-out images.
    ValueError
        A suite without a trained member.
    """
    return compare_suites(first, second)
