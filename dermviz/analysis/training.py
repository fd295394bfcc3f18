"""What a suite's records say about its training: the result and what it cost.

Read from ``suite.json`` alone (no model, no TensorFlow): the hold-out AUC of every
member and its mean and standard deviation, the options that shaped the fits (epochs,
learning-rate schedule, early-stopping patience), the fits' wall time and the CPU they
ran on, where the members recorded them (members trained before dermviz recorded them
have none: those fields are None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Training options the summary repeats from the suite's configuration.
CONFIG_KEYS = ("n_members", "image_size", "epochs", "lr_schedule", "patience",
               "learning_rate", "batch_size")


def training_summary(suite: Any) -> dict[str, Any]:
    """The suite's hold-out result and training record, for its Home page.

    Parameters
    ----------
    suite : dermviz.models.suite.Suite

    Returns
    -------
    dict
        ``members`` (count of complete members), ``auc_mean``, ``auc_sd`` (sample
        standard deviation, ``ddof=1``; NaN for fewer than 2 members), ``auc_min``,
        ``auc_max``; ``config``: the :data:`CONFIG_KEYS` present in the configuration;
        ``fit_seconds_total`` and ``fit_seconds_mean`` over the members that recorded
        a fit time (None if none did) and ``fits_timed`` (how many did); ``cpus``: the
        distinct CPU models recorded, sorted.
    """
    entries = suite.manifest.get("members", [])
    auc = np.array([float(m["holdout"]["auc"]) for m in entries], dtype=np.float64)
    times = [float(m["fit_seconds"]) for m in entries if m.get("fit_seconds") is not None]
    cpus = sorted({str(m["machine"]["cpu"]) for m in entries
                   if isinstance(m.get("machine"), dict) and m["machine"].get("cpu")})
    config = suite.config
    return {
        "members": len(entries),
        "auc_mean": float(auc.mean()) if len(auc) else float("nan"),
        "auc_sd": float(auc.std(ddof=1)) if len(auc) > 1 else float("nan"),
        "auc_min": float(auc.min()) if len(auc) else float("nan"),
        "auc_max": float(auc.max()) if len(auc) else float("nan"),
        "config": {k: config[k] for k in CONFIG_KEYS if k in config},
        "fit_seconds_total": float(sum(times)) if times else None,
        "fit_seconds_mean": float(np.mean(times)) if times else None,
        "fits_timed": len(times),
        "cpus": cpus,
    }
