"""One case at a time, as a clinician meets it: the members' calls, similar training cases,
the case report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.report import case_report_html, png_bytes
from dermviz.analysis.retrieval import pool_similar_cases, suite_similar_cases
from dermviz.api.suites import suite_dataset
from dermviz.models.suite import Suite

__all__ = [
    "MAX_SIMILAR",
    "case_report_html",
    "embedded_similar_cases",
    "png_bytes",
    "holdout_similar",
    "member_calls",
    "similar_cases",
]

#: Similar cases kept per hold-out image by :func:`holdout_similar`; pages show the first k.
MAX_SIMILAR = 12
#: Metadata of a similar case shown beside it, where the data set has it.
SIMILAR_METADATA = ("dx", "y", "localization", "age", "sex")


def member_calls(p_melanoma: Sequence[float] | np.ndarray,
                 thresholds: Sequence[float] | np.ndarray,
                 members: Sequence[str]) -> pd.DataFrame:
    """``member, p_melanoma, threshold, call`` per member: each calls melanoma at or above
    its own threshold."""
    p = np.asarray(p_melanoma, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    if not p.shape == t.shape == (len(members),):
        raise ValueError(f"one probability and one threshold per member: got {p.shape}, "
                         f"{t.shape} for {len(members)} members")
    return pd.DataFrame({"member": list(members), "p_melanoma": p, "threshold": t,
                         "call": np.where(p >= t, "melanoma", "naevus")})


def similar_cases(suite: Suite, images: np.ndarray, *, members: Sequence[str],
                  k: int) -> pd.DataFrame:
    """The ``k`` training lesions closest to each image (``(n, size, size, 3)`` at the
    suite's size; ``query`` numbers them), by the members' mean embedding similarity
    (:func:`dermviz.analysis.retrieval.suite_similar_cases`), with their diagnoses and
    metadata. The members are loaded through the suite."""
    dataset = suite_dataset(suite)
    found = suite_similar_cases(suite, images, k=k, members=list(members), dataset=dataset,
                                model_loader=suite.model)
    return _with_diagnoses(dataset, found)


def embedded_similar_cases(suite: Suite, query: dict[str, np.ndarray], *, k: int
                           ) -> pd.DataFrame:
    """As :func:`similar_cases` for images already embedded: ``query`` maps each member to
    its embeddings of them (:func:`dermviz.analysis.retrieval.pool_similar_cases`)."""
    dataset = suite_dataset(suite)
    found = pool_similar_cases(suite, query, k=k, dataset=dataset, model_loader=suite.model)
    return _with_diagnoses(dataset, found)


def _with_diagnoses(dataset: Any, found: pd.DataFrame) -> pd.DataFrame:
    meta = [c for c in SIMILAR_METADATA if c in dataset.table.columns]
    found = found.merge(dataset.table[meta].reset_index(), on="image_id", how="left")
    return found.drop(columns="member")


def holdout_similar(suite: Suite, *, members: Sequence[str]) -> pd.DataFrame:
    """The :data:`MAX_SIMILAR` training lesions closest to each hold-out image
    (``query_id`` names it), with their diagnoses.

    All hold-out images at once, in batches: a caller that keeps the table pays one pass
    over the hold-out set for every case it opens.
    """
    dataset = suite_dataset(suite)
    ids = [str(i) for i in dataset.holdout["image_id"]]
    images = dataset.load_images(ids, size=suite.image_size)
    found = similar_cases(suite, images, members=members, k=MAX_SIMILAR)
    found.insert(0, "query_id", np.asarray(ids)[found.pop("query").to_numpy()])
    return found
