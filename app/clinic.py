"""Layout pieces shared by the Case and New image pages: the suite's vote, the members'
probabilities, and similar cases beside them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api
from dermviz.api import (
    EVIDENCE,
    GradCAM,
    SaliencyMaps,
    Suite,
    majority_vote,
    member_calls,
)
from dermviz.explain.overlay import (
    EVIDENCE_COLOUR,
    cam_overlay,
    diverging_overlay,
    outline_mask,
)

#: Width of an overlay on the Case and New image pages (the images are 75-299 px).
OVERLAY_WIDTH = 300
TSCHANDL_CAPTION = (
    "Similar cases are shown beside the members' probabilities and their disagreement, "
    "never instead of them: in Tschandl et al. (Nature Medicine 2020) class probabilities "
    "helped dermatologists most, and a faulty AI misled even experts. Closeness: the "
    "neighbour's distance (the members' mean cosine, in their penultimate-layer embeddings) "
    "placed among the distances of the suite's own hold-out images to their nearest "
    "training image: very close at or below their median, close up to their 95th "
    "percentile, far beyond it. Every neighbour of an image flagged unusual is far: the "
    "cosine ignores how far the image's embedding lies from the training pool, the "
    "unusualness score does not."
)
#: The toggle's label on the Case and New image pages.
SIGNED_TOGGLE = "Signed GradCAM (no ReLU)"
SIGNED_HELP = ("GradCAM without its ReLU: red regions raise the member's score for the class "
               "it predicts, blue regions lower it, white is zero (each map on its own scale, "
               "[-max|value|, +max|value|]).")
SIGNED_FLAT = ("Signed GradCAM is flat: no region changes this member's score for the class "
               "it predicts, so there is nothing to show.")


def members_table(p_melanoma: pd.Series | np.ndarray, thresholds: pd.Series | np.ndarray,
                  members: list[str]) -> pd.DataFrame:
    """``member, p_melanoma, threshold, call`` for the vote, the chart and the report
    (:func:`dermviz.api.member_calls`)."""
    return member_calls(p_melanoma, thresholds, members)


def show_vote(table: pd.DataFrame, suite: Suite) -> None:
    """The suite's majority vote, the mean probability and the members' disagreement, and a
    warning naming the members no better than chance on the suite's hold-out."""
    called = int((table["call"] == "melanoma").sum())
    n = len(table)
    vote = "melanoma" if majority_vote(called, n) else "naevus"
    against = n - called if vote == "melanoma" else called
    colour = "red" if vote == "melanoma" else "blue"
    st.markdown(f"#### Suite vote: :{colour}[{vote}]")
    st.caption(f"{called} of {n} members call melanoma, each at its own threshold "
               "(a tie calls melanoma).")
    cols = st.columns(2)
    cols[0].metric("Mean p(melanoma)", f"{table['p_melanoma'].mean():.2f}",
                   help="sd over members: " + (f"{table['p_melanoma'].std(ddof=1):.2f}"
                                               if n > 1 else "undefined for one member"))
    cols[1].metric("Against the vote", f"{against} of {n}",
                   help="Members whose call differs from the majority: their disagreement.")
    at_chance = state.chance_warning(suite)
    if at_chance:
        st.warning(at_chance, icon=":material/casino:")


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


def show_similar(suite: Suite, similar: pd.DataFrame, *, per_row: int = 3) -> None:
    """Thumbnails of similar training cases with their diagnoses and calibrated closeness
    (words and the distance's percentile among the hold-out's); a warning when every one
    is far."""
    if api.every_neighbour_far(similar):
        st.warning(api.ALL_FAR_SENTENCE, icon=":material/travel_explore:")
    thumbs = state.thumbnails(suite, tuple(similar["image_id"]))
    rows = list(zip(similar.itertuples(), thumbs, strict=True))
    for start in range(0, len(rows), per_row):
        for col, (row, thumb) in zip(st.columns(per_row), rows[start:start + per_row],
                                     strict=False):
            dx = getattr(row, "dx", "?")
            col.image(thumb, width="stretch",
                      caption=f"{row.rank}. {dx} · {row.image_id} · {row.closeness} "
                      f"({row.distance_percentile:.0f}th percentile)")
    st.caption(TSCHANDL_CAPTION)


def show_unusual(ood: pd.Series | None) -> None:
    """Above the verdict: the warning when the image is unusual for the suite, its score
    beside the hold-out's; a line saying the check is not ready when ``ood`` is None."""
    if ood is None:
        st.caption("The check for images unlike the suite's data is being prepared.")
        return
    score = (f"Unusualness {ood.ood_score:.2f}; the suite's hold-out images score 1.00 "
             f"typically and at most {ood.threshold:.2f} (99th percentile).")
    if ood.unusual:
        st.warning(f"**{api.UNUSUAL_SENTENCE}** {score}", icon=":material/warning:")
    else:
        st.caption(f"Within the suite's data: {score}")


def safety_pending(suite: Suite) -> None:
    """The suite's safety data are not prepared: start the background job (once) and show
    its progress, redrawn every few seconds; the page reruns when it is done."""
    job = state.safety_job(suite)
    if job.state == "done" and state.suite_safety(suite) is None:
        job = api.BuildStatus(state="none")  # done for an older version: prepare again
    if job.state in ("none", "stopped") and suite.complete:
        job = state.start_safety_job(suite)

    @st.fragment(run_every=state.POLL_SECONDS)
    def poll() -> None:
        now = state.safety_job(suite)
        if state.suite_safety(suite) is not None:
            st.rerun(scope="app")
        if now.state == "failed":
            st.error(f"Preparing the similar cases and the unusual-image check failed: "
                     f"{now.error}")
            return
        if not suite.complete:
            st.info("Similar cases and the unusual-image check are prepared when the "
                    "suite's build finishes.")
            return
        st.progress(now.fraction, text="Preparing similar cases and the unusual-image "
                    f"check (in the background): {now.detail or 'starting'}")

    del job
    poll()



def gradcam_shown(img: np.ndarray, cam: SaliencyMaps, member: str, *, signed: bool,
                  opacity: float) -> tuple[str, np.ndarray | str]:
    """``(caption, overlay)`` of a member's GradCAM on ``img``; the overlay is a sentence
    when the map is empty or flat. ``signed``: the map without its ReLU
    (:func:`dermviz.api.signed_cam`) in a blue-white-red colour map centred on zero."""
    signed_map = api.signed_cam(cam) if signed else None
    if signed_map is not None:
        name = f"Signed {GradCAM.display_name} {member}"
        if api.is_degenerate_map(signed_map):
            return name, SIGNED_FLAT
        return name, diverging_overlay(img, signed_map, vmax=1.0, alpha=opacity,
                                       scheme="perceptual")
    name = f"{GradCAM.display_name} {member}"
    if api.is_degenerate_map(cam.maps[0]):
        return name, api.degenerate_map_sentence(GradCAM.display_name, signed=False)
    return name, cam_overlay(img, cam.maps[0], alpha=opacity)


def evidence_toggle(evidence: dict[str, np.ndarray] | None, *, key: str) -> bool:
    """The "Evidence outline" toggle: on by default where the image carries evidence
    (:func:`dermviz.api.evidence_masks`), disabled and explained where it does not."""
    return st.toggle(
        "Evidence outline", value=evidence is not None, disabled=evidence is None, key=key,
        help="The structures that carry the class (lime): a map that explains the verdict "
             "should sit on them." if evidence is not None
        else "Only images of the synthetic evidence benchmark carry an evidence mask.")


def with_evidence(overlay: np.ndarray, evidence: dict[str, np.ndarray] | None, *,
                  show: bool = True) -> np.ndarray:
    """``overlay`` with the evidence outlined in lime, when there is evidence and ``show``."""
    if evidence is None or not show:
        return overlay
    return outline_mask(overlay, evidence[EVIDENCE], colour=EVIDENCE_COLOUR)


def structure_names(evidence: dict[str, np.ndarray]) -> str:
    """The structures an image carries, in words (``"irregular globules, ..."``)."""
    return ", ".join(name.replace("_", " ") for name in evidence if name != EVIDENCE)
