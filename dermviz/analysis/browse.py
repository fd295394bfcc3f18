"""The lesion browser's data: one row per hold-out lesion, filters that round-trip a URL.

:func:`lesion_table` joins each hold-out image's verdicts (:func:`image_summary`) with its
metadata; :class:`LesionFilter` says which rows to show and in which order, and turns
into and back from URL query parameters, so a filtered view can be shared and reloaded.
Pure functions over DataFrames: the page only lays them out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd

from dermviz.analysis.errors import PAPER_RULE, image_summary
from dermviz.analysis.lesion_localization import columns
from dermviz.analysis.predictions import predictions_table

#: Metadata columns offered as filters when the data set has them (HAM10000 does).
METADATA_FILTERS = ("localization", "sex", "dx_type")
#: Columns the browser can sort by; the first is the default.
SORT_KEYS = ("n_wrong", "mean_p", "sd_p", "frac_against", "test_index", "age")
CLASSES = ("melanoma", "naevus")
#: The column :attr:`LesionFilter.misses_lesion` reads: the suite's GradCAM maps miss the
#: lesion (:func:`dermviz.analysis.lesion_localization.join_localization` adds it).
MISSES_LESION = columns("gradcam")["misses"]
#: The column :attr:`LesionFilter.misses_evidence` reads: the GradCAM maps miss the
#: evidence of an evidence-mode synthetic image (docs/evidence-benchmark.md).
MISSES_EVIDENCE = columns("gradcam", "evidence")["misses"]
#: The column of the "unusual for this suite" filter (bool).
UNUSUAL = "unusual"


def lesion_table(suite: Any, *, dataset: Any = None, min_wrong_rule: Any = PAPER_RULE
                 ) -> pd.DataFrame:
    """One row per hold-out image: verdicts, disagreement and metadata.

    Parameters
    ----------
    suite : dermviz.models.suite.Suite
        Its stored hold-out predictions are read; no model is loaded.
    dataset : Dataset, optional
        For metadata columns (``dx``, ``localization``, ``age``, ``sex``, ``dx_type`` where
        present); without it, the table has the verdicts only.
    min_wrong_rule : KOfN
        Sets the ``consistent`` column: wrong in at least the rule's share of members.

    Returns
    -------
    DataFrame
        :func:`image_summary`'s columns, plus ``true_class`` and ``verdict`` (words),
        ``consistent`` (bool) and the metadata; ordered by ``test_index``.
    """
    summary = image_summary(predictions_table(suite))
    n_members = int(summary["n_members"].max()) if len(summary) else 0
    summary["true_class"] = summary["y_true"].map({1: "melanoma", 0: "naevus"})
    summary["verdict"] = summary["majority_vote"].map({1: "melanoma", 0: "naevus"})
    threshold = min_wrong_rule.min_wrong(n_members) if n_members else 1
    summary["consistent"] = summary["n_wrong"] >= threshold
    if dataset is not None:
        meta_cols = [c for c in ("dx", "age", *METADATA_FILTERS) if c in dataset.table.columns]
        meta = dataset.table.loc[:, meta_cols].reset_index()
        summary = summary.merge(meta, on="image_id", how="left")
    order = "test_index" if "test_index" in summary.columns else "image_id"
    return summary.sort_values(order, kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class LesionFilter:
    """Which lesions to show, in which order.

    Attributes
    ----------
    true_class, verdict : {"melanoma", "naevus"} or None
        The image's true class; the suite's majority vote.
    min_wrong, max_wrong : int, int or None
        Members wrong, inclusive bounds.
    consistent_only : bool
        Only images wrong in at least the paper's share of members (25 of 30).
    p_min, p_max : float
        Bounds on the members' mean p(melanoma).
    min_disagreement : float
        Lower bound on ``frac_against``, the share of members against the vote (0-0.5).
    misses_lesion : bool
        Only images whose GradCAM maps miss the lesion (the :data:`MISSES_LESION`
        column: the members' mean mass on the lesion below chance, or the peak off the
        lesion for most members).
    misses_evidence : bool
        Only images whose GradCAM maps miss the evidence that decides their class (the
        :data:`MISSES_EVIDENCE` column; evidence-mode synthetic suites only): the members'
        mean mass on the evidence below chance, or the peak off it for most members.
    unusual_only : bool
        Only images unusual for the suite (the :data:`UNUSUAL` column: beyond the
        hold-out's 99th percentile of the out-of-distribution score,
        :mod:`dermviz.analysis.ood`).
    localization, sex, dx_type : tuple of str
        Keep only these metadata values (empty: all).
    sort : str
        One of :data:`SORT_KEYS`; ``descending`` for worst first.
    """

    true_class: str | None = None
    verdict: str | None = None
    min_wrong: int = 0
    max_wrong: int | None = None
    consistent_only: bool = False
    p_min: float = 0.0
    p_max: float = 1.0
    min_disagreement: float = 0.0
    misses_lesion: bool = False
    misses_evidence: bool = False
    unusual_only: bool = False
    localization: tuple[str, ...] = field(default_factory=tuple)
    sex: tuple[str, ...] = field(default_factory=tuple)
    dx_type: tuple[str, ...] = field(default_factory=tuple)
    sort: str = "n_wrong"
    descending: bool = True

    def __post_init__(self) -> None:
        for name in ("true_class", "verdict"):
            value = getattr(self, name)
            if value is not None and value not in CLASSES:
                raise ValueError(f"{name} must be one of {CLASSES} or None, got {value!r}")
        if self.min_wrong < 0 or (self.max_wrong is not None and self.max_wrong < self.min_wrong):
            raise ValueError(f"need 0 <= min_wrong <= max_wrong, got {self.min_wrong}, "
                             f"{self.max_wrong}")
        if not 0.0 <= self.p_min <= self.p_max <= 1.0:
            raise ValueError(f"need 0 <= p_min <= p_max <= 1, got {self.p_min}, {self.p_max}")
        if not 0.0 <= self.min_disagreement <= 0.5:
            raise ValueError(f"min_disagreement must be in [0, 0.5], got {self.min_disagreement}")
        if self.sort not in SORT_KEYS:
            raise ValueError(f"sort must be one of {SORT_KEYS}, got {self.sort!r}")
        for name in METADATA_FILTERS:
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of a :func:`lesion_table` that pass, sorted."""
        keep = pd.Series(True, index=table.index)
        if self.true_class is not None:
            keep &= table["true_class"] == self.true_class
        if self.verdict is not None:
            keep &= table["verdict"] == self.verdict
        keep &= table["n_wrong"] >= self.min_wrong
        if self.max_wrong is not None:
            keep &= table["n_wrong"] <= self.max_wrong
        if self.consistent_only:
            keep &= table["consistent"]
        keep &= table["mean_p"].between(self.p_min, self.p_max)
        if self.min_disagreement > 0:
            keep &= table["frac_against"] >= self.min_disagreement
        if self.misses_lesion:
            if MISSES_LESION not in table.columns:
                raise ValueError(f"the table has no {MISSES_LESION!r} column: join the maps' "
                                 "localization first (lesion_localization.join_localization)")
            keep &= table[MISSES_LESION].astype(bool)
        if self.misses_evidence:
            if MISSES_EVIDENCE not in table.columns:
                raise ValueError(f"the table has no {MISSES_EVIDENCE!r} column: only an "
                                 "evidence-mode suite's maps can miss the evidence")
            keep &= table[MISSES_EVIDENCE].astype(bool)
        if self.unusual_only:
            if UNUSUAL not in table.columns:
                raise ValueError(f"the table has no {UNUSUAL!r} column: join the suite's "
                                 "out-of-distribution scores first")
            keep &= table[UNUSUAL].astype(bool)
        for name in METADATA_FILTERS:
            allowed = getattr(self, name)
            if allowed and name in table.columns:
                keep &= table[name].astype(str).isin(allowed)
        out = table[keep]
        if self.sort in out.columns:
            out = out.sort_values(self.sort, ascending=not self.descending, kind="stable",
                                  na_position="last")
        return out

    def to_query(self) -> dict[str, str]:
        """URL query parameters holding every non-default setting."""
        default = LesionFilter()
        query: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if isinstance(value, tuple):
                query[f.name] = ",".join(value)
            elif isinstance(value, bool):
                query[f.name] = "1" if value else "0"
            else:
                query[f.name] = str(value)
        return query

    @classmethod
    def from_query(cls, query: Mapping[str, Any]) -> tuple[LesionFilter, list[str]]:
        """The filter a URL describes, and the parameters that were ignored (and why).

        A hand-edited or stale URL never breaks the page: each bad value is dropped with a
        note, the rest is kept.
        """
        values: dict[str, Any] = {}
        notes: list[str] = []
        names = {f.name: f for f in fields(cls)}
        for key, raw in query.items():
            if key not in names:
                continue
            text = str(raw[-1] if isinstance(raw, list) else raw)
            try:
                values[key] = _parse(key, text)
                cls(**{key: values[key]})  # validate this one alone
            except (TypeError, ValueError) as err:
                values.pop(key, None)
                notes.append(f"ignored {key}={text!r}: {err}")
        try:
            return cls(**values), notes
        except ValueError as err:  # valid alone, inconsistent together
            return cls(), [*notes, f"ignored the filter: {err}"]


#: One click: melanomas the suite's vote calls naevi.
MISSED_MELANOMAS = LesionFilter(true_class="melanoma", verdict="naevus")


def _parse(key: str, text: str) -> Any:
    if key in ("true_class", "verdict"):
        return text or None
    if key in ("min_wrong",):
        return int(text)
    if key == "max_wrong":
        return int(text) if text else None
    if key in ("consistent_only", "descending", "misses_lesion", "misses_evidence",
               "unusual_only"):
        if text not in ("0", "1"):
            raise ValueError("expected 0 or 1")
        return text == "1"
    if key in ("p_min", "p_max", "min_disagreement"):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if key in METADATA_FILTERS:
        return tuple(v for v in text.split(",") if v)
    return text


def paginate(table: pd.DataFrame, *, page: int, per_page: int) -> tuple[pd.DataFrame, int]:
    """Rows of page ``page`` (1-based, clamped into range) and the number of pages."""
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    n_pages = max(1, -(-len(table) // per_page))
    page = min(max(1, int(page)), n_pages)
    return table.iloc[(page - 1) * per_page : page * per_page], n_pages
