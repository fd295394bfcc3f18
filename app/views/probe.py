"""Shortcut probe: does a member read the lesion, or an artefact that came with the label?"""

import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api
from dermviz.explain.overlay import cam_overlay, outline_mask

METHOD = "gradcam"  # precomputed by `dermviz probe` / `dermviz demo`; the page reads the store
LESION_COLOUR = (0, 255, 255)
ARTEFACT_COLOUR = (255, 0, 255)
N_EXAMPLES = 4

st.title("Shortcut probe")
suite = state.require_trained_suite()
layers = api.probe_layers(suite, method=METHOD)
if not layers:  # a model without a feature layer (an imported one): no GradCAM
    st.info(f"GradCAM does not apply to this suite's model: "
            f"{api.applicable_methods(suite)[METHOD]}.")
    st.stop()
suite_layer, fine_layer = layers[0], layers[-1]
with st.sidebar:
    layer = st.radio(
        "GradCAM layer", layers, key="probe_layer",
        format_func=lambda name: f"{name} (the suite's)" if name == suite_layer
        else f"{name} (finer grid)",
        help="A late layer's grid is coarse (mixed7: 6x6 at 128 px): a thin artefact at the "
        "image's edge and the lesion beside it fall into the same cells. An early layer "
        "sees them apart. `dermviz probe` precomputes both; other suites compute the finer "
        "maps on first use.")
params = state.method_params(suite, METHOD, layer=layer)
tables = state.probe_tables(suite, METHOD, params)
summary, shares = tables["summary"], tables["shares"]
weight = suite.config.get("gradmask")
st.caption(f"Suite **{suite.name}**: " + (f"trained with GradMask, λ = {weight:g}."
           if weight else "plain training (no GradMask).")
           + f" Saliency: GradCAM maps on `{layer}` from the suite's map store.")


def share_chart(columns: list[tuple[str, str, str]], title: str) -> go.Figure:
    """Bars of mean shares per member, each with its chance level as a marker."""
    fig = go.Figure()
    for share, chance, label in columns:
        fig.add_bar(x=summary["member"], y=summary[share], name=label, text=summary[share],
                    texttemplate="%{text:.0%}")
        fig.add_scatter(x=summary["member"], y=summary[chance], mode="markers",
                        marker={"symbol": "line-ew-open", "size": 36, "line": {"width": 3}},
                        name=f"chance: {label.removeprefix('on ')} area")
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1],
                      yaxis_title=title)
    return fig


if tables["artefacts"]:
    artefact = tables["artefacts"][0]
    st.markdown(
        f"The training images of this suite came with a spurious **{artefact}** artefact; in "
        f"the hold-out, half of each class carries it, so there it says nothing about the "
        f"label. A member that learned the shortcut calls every {artefact}-marked lesion "
        f"melanoma: its accuracy collapses on the images where the {artefact} disagrees "
        f"with the training correlation, and its saliency sits on the {artefact}.")

    st.subheader(f"Hold-out accuracy with and without the {artefact}")
    accuracy = tables["accuracy"]
    fig = go.Figure()
    for subset, part in accuracy.groupby("subset", sort=False):
        fig.add_bar(x=part["member"], y=part["accuracy"], name=subset, text=part["accuracy"],
                    texttemplate="%{text:.0%}")
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1],
                      yaxis_title="accuracy (member's threshold)")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(accuracy.drop(columns=["artefact", "present"]), hide_index=True)

    st.subheader(f"Where the saliency sits: on the {artefact} or on the lesion")
    st.caption(f"Mean share of each GradCAM map's mass on the {artefact} (over the images "
               "that carry it) and on the lesion; the markers are chance, the region's share "
               "of the image (what a uniform map scores).")
    if layer != fine_layer:
        st.caption(f"`{layer}` has a coarse grid: a thin {artefact} and the lesion beside it "
                   f"share its cells. Pick `{fine_layer}` in the sidebar to "
                   "see them apart.")
    st.plotly_chart(share_chart([(f"{artefact}_share", f"{artefact}_chance", f"on {artefact}"),
                                 ("lesion_share", "lesion_chance", "on lesion")],
                                "share of saliency"), width="stretch")
    st.dataframe(summary, hide_index=True)

    st.subheader(f"Examples: maps on the {artefact}")
    member = st.selectbox("Member", suite.member_ids, key="probe_member")
    marked = shares[(shares["member"] == member) & shares[artefact]]
    top = marked.sort_values(f"{artefact}_share", ascending=False).head(N_EXAMPLES)
    st.caption(f"The {len(top)} hold-out images where {member}'s map puts the most mass on "
               f"the {artefact}. Outlines: lesion in cyan, {artefact} in magenta.")
    for col, row in zip(st.columns(N_EXAMPLES), top.itertuples(index=False), strict=False):
        maps = state.saliency(suite, member, row.image_id, METHOD, params)
        picture = cam_overlay(state.image(suite, row.image_id), maps.maps[0], alpha=0.5)
        lesion = state.lesion_mask(suite, row.image_id)
        if lesion is not None:
            picture = outline_mask(picture, lesion, colour=LESION_COLOUR)
        picture = outline_mask(picture, state.artefact_mask(suite, row.image_id, artefact),
                               colour=ARTEFACT_COLOUR)
        truth = "melanoma" if row.y == 1 else "naevus"
        col.image(picture, width="stretch",
                  caption=f"{row.image_id} ({truth}): {getattr(row, artefact + '_share'):.0%} "
                  f"on the {artefact}, {row.lesion_share:.0%} on the lesion")
else:
    st.markdown(
        "This suite's data has no synthetic artefacts, so the probe asks the general "
        "question: how much of each member's saliency falls **outside the lesion mask** "
        "(HAM10000 comes with official lesion segmentations). A member that reads the "
        "lesion keeps this low; rulers, ink, hair and the vignette draw it up.")
    st.caption(f"Mean over the {int(summary['images'].max())} hold-out images with a lesion "
               "mask; the markers are chance, the share of the image outside the lesion.")
    st.plotly_chart(share_chart([("outside_share", "outside_chance", "outside the lesion")],
                                "share of saliency"), width="stretch")
    st.dataframe(summary, hide_index=True)
st.download_button("Per-image shares (CSV)", shares.to_csv(index=False),
                   file_name=f"{suite.name}-probe.csv", mime="text/csv")
