"""Suites: open one, list them, what it holds and how it was built.

A :class:`Suite` is opened once and passed around as an object: it reads ``suite.json``
once, and keeps the members (:func:`load_model`) and the data set (:func:`suite_dataset`)
it loads, so a caller that keeps the object pays for each once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dermviz.analysis.training import training_summary
from dermviz.data.dataset import Dataset
from dermviz.explain.base import available_methods, get_explainer
from dermviz.models.adapter import PREPROCESSING_TEXT
from dermviz.models.search import search_info, summary_frame
from dermviz.models.search_config import REFERENCES as SEARCH_REFERENCES
from dermviz.models.suite import (
    MANIFEST,
    MemberModelError,
    Suite,
    SuiteNotFoundError,
    list_suites,
    require_suite_folder,
)
from dermviz.store import DamagedFileWarning, resolve_within

__all__ = [
    "SEARCH_REFERENCES",
    "DamagedFileWarning",
    "MemberModelError",
    "Suite",
    "SuiteNotFoundError",
    "applicable_methods",
    "explained_score",
    "first_member",
    "holdout",
    "list_suites",
    "load_model",
    "model_adapter",
    "open_suite",
    "suite_path",
    "search_info",
    "search_summary",
    "suite_dataset",
    "suite_names",
    "suite_stamp",
    "training_summary",
]


def open_suite(name_or_path: str | Path, *, root: str | Path | None = None,
               measure_precision: bool = True) -> Suite:
    """A trained suite by name (under ``root``, default ``$DERMVIZ_MODELS`` or ``./models``)
    or by path. ``measure_precision=False``: loading a member never measures its precision
    choice (it runs the cached one, else float32), as the dashboard opens suites."""
    return Suite.open(name_or_path, root=root, measure_precision=measure_precision)


def suite_path(root: str | Path, name: str) -> Path:
    """The folder of the suite called ``name`` under ``root``, by name only: a name that
    would leave ``root`` (``..``, an absolute path, a symlink out) is refused. Reads
    nothing: pair it with :func:`suite_stamp` to key a cache of opened suites.

    Raises
    ------
    SuiteNotFoundError
        No suite of that name under ``root``.
    ValueError
        A name that leaves ``root``.
    """
    return require_suite_folder(resolve_within(Path(root), name))


def suite_names(root: str | Path) -> list[str]:
    """The names of the suites under ``root``, sorted (:func:`list_suites`)."""
    return [suite.path.name for suite in list_suites(root)]


def suite_stamp(suite: Suite | str | Path) -> int:
    """Changes whenever the suite does (a member lands, a threshold moves): the modification
    time of its ``suite.json``, in ns. A cache keyed by a suite's path and stamp is
    recomputed after a change."""
    path = suite.path if isinstance(suite, Suite) else Path(suite)
    return (path / MANIFEST).stat().st_mtime_ns


def holdout(suite: Suite) -> pd.DataFrame:
    """The suite's hold-out images (``image_id``, ``dx``, ``test_index``, metadata...)."""
    return suite_dataset(suite).holdout.reset_index(drop=True)


def suite_dataset(suite: Suite) -> Dataset:
    """The data set the suite was trained on, opened once per :class:`Suite` object.

    Raises
    ------
    FileNotFoundError, ValueError
        Its data folder moved, or its metadata is damaged (the message says how to fix it).
    """
    return suite.dataset()


def load_model(suite: Suite, member: str) -> Any:
    """A member's Keras model, loaded once per :class:`Suite` object (:meth:`Suite.model`).

    Raises
    ------
    MemberModelError
        Its model file is missing or damaged (the message says how to retrain it).
    """
    return suite.model(member)


def first_member(suite: Suite) -> str:
    """The suite's first trained member.

    Raises
    ------
    ValueError
        The suite has no trained member yet.
    """
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    return suite.member_ids[0]


def search_summary(suite: Suite) -> pd.DataFrame:
    """A searched suite's hold-out metrics across members: mean, variance and sd
    (:func:`dermviz.models.search.summary_frame`)."""
    return summary_frame(suite.manifest.get("members", []))


def model_adapter(suite: Suite, member: str | None = None) -> dict[str, Any]:
    """How a member (default: the first) meets dermviz's model contract, as a dict
    (:class:`dermviz.models.adapter.ModelAdapter`; a dermviz member's is the default), with
    ``preprocessing_text`` and ``score`` in words."""
    adapter = suite.adapter(member or first_member(suite))
    return {**adapter.to_dict(), "preprocessing_text": PREPROCESSING_TEXT[adapter.preprocessing],
            "score": adapter.score_description()}


def explained_score(suite: Suite, member: str | None = None) -> str:
    """What the gradient methods explain on this suite's member, in words (the melanoma
    logit of a sigmoid, the melanoma-vs-rest logit of a softmax...)."""
    return suite.adapter(member or first_member(suite)).score_description()


def applicable_methods(suite: Suite) -> dict[str, str | None]:
    """Every saliency method, and why it cannot apply to this suite (None: it applies).

    The CAMs need a feature layer (a 4-D output after a convolution); a model without one
    (its adapter's ``layer`` is None) gets the gradient-free methods only.
    """
    adapter = suite.adapter(first_member(suite))
    out: dict[str, str | None] = {}
    for method in available_methods():
        needs_layer = "layer" in get_explainer(method).canonical_params()
        out[method] = ("no feature layer: the model has no 4-D output after a convolution"
                       if needs_layer and adapter.layer is None else None)
    return out
