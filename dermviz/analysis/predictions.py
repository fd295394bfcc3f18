"""The tidy hold-out predictions table every clinician-facing analysis reads.

One row per (member, hold-out image)::

    image_id     str    the image
    y_true       int    1 melanoma, 0 naevus (melanoma is the positive class)
    member       str    the suite member
    p_melanoma   float  the member's p(melanoma), in [0, 1]
    threshold    float  the member's operating threshold (chosen on its validation data)

Optional columns (``test_index``, ...) are carried along. Analyses take this
table rather than a suite, so they are tested on hand-built predictions and
work on predictions from anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PREDICTION_COLUMNS = ("image_id", "y_true", "member", "p_melanoma", "threshold")


def predictions_table(suite: Any) -> pd.DataFrame:
    """The tidy predictions table of a suite's completed members.

    Parameters
    ----------
    suite : dermviz.models.suite.Suite
        Read through its stored hold-out predictions and thresholds; no model
        is loaded and nothing heavy is imported.

    Returns
    -------
    pandas.DataFrame
        :data:`PREDICTION_COLUMNS` plus ``test_index``, ordered by member then
        ``test_index``. Empty (with those columns) for a suite without members.
    """
    frames = []
    for member in suite.member_ids:
        pred = suite.predictions(member)
        frames.append(pd.DataFrame({
            "image_id": pred["image_id"].astype(str),
            "y_true": pred["y"].astype(int),
            "member": member,
            "p_melanoma": pred["p_melanoma"].astype(float),
            "threshold": suite.threshold(member),
            "test_index": pred["test_index"].astype(int),
        }))
    if not frames:
        return pd.DataFrame(columns=[*PREDICTION_COLUMNS, "test_index"])
    return pd.concat(frames, ignore_index=True)


def check_predictions(table: pd.DataFrame) -> pd.DataFrame:
    """Validate a predictions table; return a copy with the members' calls.

    Adds ``called_melanoma`` (bool, ``p_melanoma >= threshold``) and ``wrong``
    (bool, the call differs from ``y_true``).

    Raises
    ------
    ValueError
        Missing columns, no rows, labels other than 0/1, probabilities outside
        [0, 1] or not finite, duplicate (member, image) rows, an image with two
        labels, a member with two thresholds, or an incomplete grid (every
        member must have predicted every image, as members of one suite do).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"predictions must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"predictions table lacks columns {missing}; needs {PREDICTION_COLUMNS}")
    if table.empty:
        raise ValueError("predictions table is empty (a suite without completed members?)")
    out = table.copy()
    out["image_id"] = out["image_id"].astype(str)
    out["member"] = out["member"].astype(str)
    if not out["y_true"].isin((0, 1)).all():
        raise ValueError("y_true must contain only 0 (naevus) and 1 (melanoma)")
    out["y_true"] = out["y_true"].astype(int)
    for col in ("p_melanoma", "threshold"):
        values = out[col].to_numpy(dtype=float)
        if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
            raise ValueError(f"{col} must be finite and in [0, 1]")
        out[col] = values
    if out.duplicated(["member", "image_id"]).any():
        raise ValueError("predictions table has duplicate (member, image_id) rows")
    if (out.groupby("image_id")["y_true"].nunique() > 1).any():
        raise ValueError("an image has more than one y_true label")
    if (out.groupby("member")["threshold"].nunique() > 1).any():
        raise ValueError("a member has more than one threshold")
    n_members, n_images = out["member"].nunique(), out["image_id"].nunique()
    if len(out) != n_members * n_images:
        raise ValueError(
            f"incomplete predictions: {len(out)} rows for {n_members} members x "
            f"{n_images} images; every member must predict every image"
        )
    out["called_melanoma"] = out["p_melanoma"] >= out["threshold"]
    out["wrong"] = out["called_melanoma"] != (out["y_true"] == 1)
    return out


def member_order(table: pd.DataFrame) -> list[str]:
    """Members in order of first appearance (the suite's training order)."""
    return list(dict.fromkeys(table["member"].astype(str)))


def wrong_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Boolean images x members matrix: True where the member's call is wrong.

    Rows follow the images' first appearance, columns :func:`member_order`.
    """
    checked = check_predictions(table)
    images = list(dict.fromkeys(checked["image_id"]))
    wide = checked.pivot(index="image_id", columns="member", values="wrong")
    return wide.loc[images, member_order(checked)].astype(bool)
