"""Layout pieces shared by the Case and New image pages: the suite's vote, the members'
probabilities, and similar cases beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz.analysis.errors import majority_vote

TSCHANDL_CAPTION = (
    "Similar cases are shown beside the members' probabilities and their disagreement, "
    "never instead of them: in Tschandl et al. (Nature Medicine 2020) class probabilities "
    "helped dermatologists most, and a faulty AI misled even experts. Similarity: cosine "
    "between the members' penultimate-layer embeddings, averaged over all members."
)


def members_table(p_melanoma: pd.Series | np.ndarray, thresholds: pd.Series | np.ndarray,
                  members: list[str]) -> pd.DataFrame:
    """``member, p_melanoma, threshold, call`` for the vote, the chart and the report."""
    p = np.asarray(p_melanoma, dtype=float)
    t = np.asarray(thresholds, dtype=float)
    return pd.DataFrame({"member": members, "p_melanoma": p, "threshold": t,
                         "call": np.where(p >= t, "melanoma", "naevus")})


def show_vote(table: pd.DataFrame) -> None:
    """The suite's majority vote, the mean probability and the members' disagreement."""
    called = int((table["call"] == "melanoma").sum())
    n = len(table)
    vote = "melanoma" if majority_vote(called, n) else "naevus"
    against = n - called if vote == "melanoma" else called
    cols = st.columns(3)
    cols[0].metric("Suite vote", vote, f"{called} of {n} call melanoma", delta_color="off")
    cols[1].metric("Mean p(melanoma)", f"{table['p_melanoma'].mean():.2f}",
                   f"sd {table['p_melanoma'].std(ddof=1):.2f}" if n > 1 else None,
                   delta_color="off")
    cols[2].metric("Members against the vote", f"{against} of {n}")


def probability_chart(table: pd.DataFrame) -> go.Figure:
    """Each member's p(melanoma) as a bar, its own threshold as a tick across it."""
    colours = np.where(table["call"] == "melanoma", "#d62728", "#1f77b4")
    fig = go.Figure()
    fig.add_trace(go.Bar(x=table["member"], y=table["p_melanoma"], marker_color=colours,
                         name="p(melanoma)", text=[f"{p:.2f}" for p in table["p_melanoma"]],
                         textposition="outside"))
    fig.add_trace(go.Scatter(x=table["member"], y=table["threshold"], mode="markers",
                             name="threshold",
                             marker={"symbol": "line-ew", "size": 36,
                                     "line": {"width": 3, "color": "black"}}))
    fig.update_layout(yaxis_range=[0, 1.1], yaxis_title="p(melanoma)", height=300,
                      margin={"t": 10, "b": 10}, legend={"orientation": "h"})
    return fig


def show_similar(suite_path: str, similar: pd.DataFrame, *, per_row: int = 3) -> None:
    """Thumbnails of similar training cases with their diagnoses and similarity."""
    thumbs = state.thumbnails(suite_path, tuple(similar["image_id"]))
    rows = list(zip(similar.itertuples(), thumbs, strict=True))
    for start in range(0, len(rows), per_row):
        for col, (row, thumb) in zip(st.columns(per_row), rows[start:start + per_row],
                                     strict=False):
            dx = getattr(row, "dx", "?")
            col.image(thumb, width="stretch",
                      caption=f"{row.rank}. {dx} · {row.image_id} · sim {row.similarity:.2f}")
    st.caption(TSCHANDL_CAPTION)
