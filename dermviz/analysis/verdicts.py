"""Every member's verdict on hold-out images, from the suite's saved predictions."""

from __future__ import annotations

import pandas as pd

from dermviz.data.dataset import CLASS_NAMES
from dermviz.models.suite import Suite


def verdicts(suite: Suite, *, image_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per (member, image): p(melanoma), threshold, verdict, correctness.

    Columns: ``member, image_id, test_index, y, truth, p_melanoma, threshold,
    predicted, verdict, correct``. ``predicted`` uses each member's own
    operating threshold (chosen on its validation data).
    """
    table = suite.all_predictions()
    if table.empty:
        return table
    table["threshold"] = table["member"].map({m: suite.threshold(m) for m in suite.member_ids})
    table["truth"] = table["y"].map(lambda y: CLASS_NAMES[int(y)])
    table["verdict"] = table["predicted"].map(lambda y: CLASS_NAMES[int(y)])
    table["correct"] = table["predicted"] == table["y"]
    if image_ids is not None:
        table = table[table["image_id"].isin(image_ids)]
    cols = ["member", "image_id", "test_index", "y", "truth", "p_melanoma", "threshold",
            "predicted", "verdict", "correct"]
    return table[cols].reset_index(drop=True)


def misclassification_counts(suite: Suite) -> pd.DataFrame:
    """Per hold-out image: how many members got it wrong, ordered worst first."""
    table = verdicts(suite)
    if table.empty:
        return pd.DataFrame(columns=["image_id", "test_index", "truth", "n_wrong", "n_members"])
    grouped = table.groupby(["image_id", "test_index", "truth"], as_index=False).agg(
        n_wrong=("correct", lambda c: int((~c).sum())), n_members=("member", "size"),
        mean_p_melanoma=("p_melanoma", "mean"),
    )
    return grouped.sort_values(["n_wrong", "test_index"], ascending=[False, True]).reset_index(
        drop=True
    )
