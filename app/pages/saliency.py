"""Saliency: one hold-out lesion, every chosen member's verdict and GradCAM overlay."""

import streamlit as st

from app import state
from dermviz.explain.overlay import CAM_COLORMAPS, cam_overlay
from dermviz.models.inception import INCEPTION_BLOCKS

st.title("Saliency")
suite = state.choose_suite()
if suite is None:
    st.stop()
if not suite.member_ids:
    st.info("This suite has no trained member yet.")
    st.stop()

path = str(suite.path)
holdout = state.holdout_table(path)
verdicts = state.verdict_table(path)

with st.sidebar:
    only_wrong = st.checkbox("Only images some member misclassifies", value=False)
    wrong_ids = set(verdicts.loc[~verdicts["correct"], "image_id"])
    choices = holdout[holdout["image_id"].isin(wrong_ids)] if only_wrong else holdout
    labels = {
        row.image_id: f"#{row.test_index} {row.image_id} ({row.dx})"
        for row in choices.itertuples()
    }
    if not labels:
        st.info("No image matches.")
        st.stop()
    image_id = st.selectbox("Hold-out image", list(labels), format_func=labels.get)
    members = st.multiselect("Members", suite.member_ids, default=suite.member_ids[:4])
    default_layer = suite.config.get("gradcam_layer", "mixed10")
    layer = st.selectbox("GradCAM layer", INCEPTION_BLOCKS,
                         index=INCEPTION_BLOCKS.index(default_layer))
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05)
    cmap = st.selectbox("Colormap", CAM_COLORMAPS, index=CAM_COLORMAPS.index("inferno"),
                        help="inferno and viridis are perceptually uniform; jet is the paper's")

row = holdout[holdout["image_id"] == image_id].iloc[0]
img = state.image(path, image_id)
st.subheader(f"Test image #{row.test_index}: {image_id}")
st.write(f"Ground truth: **{'melanoma' if row.y == 1 else 'naevus'}**")

if not members:
    st.image(img, caption="input", width=256)
    st.info("Choose one or more members in the sidebar.")
    st.stop()

cols = st.columns(len(members) + 1)
cols[0].image(img, caption="input", width="stretch")
mine = verdicts[verdicts["image_id"] == image_id].set_index("member")
for col, member in zip(cols[1:], members, strict=True):
    v = mine.loc[member]
    with st.spinner(f"GradCAM for {member}..."):
        maps = state.saliency(path, member, image_id, "gradcam", layer)
    col.image(cam_overlay(img, maps.maps[0], alpha=opacity, cmap=cmap), width="stretch",
              caption=f"{member}: explains {'melanoma' if maps.target_class[0] else 'naevus'}")
    mark = "✅" if v["correct"] else "❌"
    col.markdown(f"{mark} **{v['verdict']}**  \np(melanoma) = {v['p_melanoma']:.2f} "
                 f"(threshold {v['threshold']:.2f})")
    for warning in maps.warnings:
        col.warning(warning, icon="⚠️")
if maps.grid:
    st.caption(f"GradCAM on `{layer}`: a {maps.grid[0]}x{maps.grid[1]} grid upsampled to "
               f"{suite.image_size} px. Brighter = more evidence for the explained class "
               "(each member's predicted class).")
