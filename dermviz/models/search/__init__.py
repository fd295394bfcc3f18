"""Hyperparameter search for a model suite: Optuna studies, one per member.

A searched suite is an ordinary suite folder (read by :class:`dermviz.models.suite.Suite`)
whose members are each the best trial of their own search (docs/protocol.md §6)::

    models/<suite>/
      suite.json             ... plus a "search" block (config, storage, summary)
      suite_config.yaml      the suite config file ([train] + [search]), reloadable
      search.db              Optuna storage (SQLite) unless --storage names another
      cache/images-<size>/   pool.npy, holdout.npy: decoded uint8 images, read per batch
      members/<id>/
        model.keras, member.json, history.json, holdout_predictions.csv  (best trial)
        trials.csv           one row per trial: state, value, hyperparameters, timings
        split.json           the member's split as rows of the image cache
        trials/<nnn>/        one folder per trial (see dermviz.models.search.trial)

Modules: :mod:`~.driver` (the loop), :mod:`~.plan` (a member's study and trial
bookkeeping), :mod:`~.promote`, :mod:`~.sampling`, :mod:`~.storage`, :mod:`~.lock`,
:mod:`~.summary` (figures and display, light) and :mod:`~.trial` (the trial process).
"""

from dermviz.models.search.driver import search_suite
from dermviz.models.search.lock import SuiteLock
from dermviz.models.search.plan import trials_table
from dermviz.models.search.promote import promote_member
from dermviz.models.search.sampling import gp_available, make_pruner, make_sampler, suggest_params
from dermviz.models.search.storage import (
    default_storage_url,
    display_storage,
    open_storage,
    study_name,
)
from dermviz.models.search.summary import search_info, suite_summary, summary_frame

__all__ = [
    "SuiteLock", "default_storage_url", "display_storage", "gp_available", "make_pruner",
    "make_sampler", "open_storage", "promote_member", "search_info", "search_suite",
    "study_name", "suggest_params", "suite_summary", "summary_frame", "trials_table",
]
