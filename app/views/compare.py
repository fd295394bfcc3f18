"""Compare suites: two suites side by side on the same hold-out (e.g. with and without
GradMask or augmentation): member AUCs, errors, calibration, GradCAM mass on the lesion."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz.api import ENSEMBLE, HoldoutMismatchError

st.title("Compare suites")
names = state.suite_names(str(state.models_dir()))
if len(names) < 2:
    st.info(f"Comparing needs two suites in `{state.models_dir()}`; found {len(names)}. "
            "Train a second one on the same data set (e.g. with `--gradmask`, or another "
            "augmentation) to compare it with the first.")
    st.stop()
with st.sidebar:
    first_name = st.selectbox("First suite", names, index=0, key="compare_first")
    second_name = st.selectbox("Second suite", [n for n in names if n != first_name], index=0,
                               key="compare_second")
first, second = state.open_by_name(first_name), state.open_by_name(second_name)
try:
    cmp = state.suite_comparison(first, second)
except HoldoutMismatchError as exc:
    state.stop_with_error(f"These suites cannot be compared: {exc}")
except ValueError as exc:  # e.g. a suite without a trained member
    state.stop_with_error(str(exc))

diff = cmp.difference
cols = st.columns(4)
cols[0].metric("Hold-out images", cmp.n_images)
for col, name, mean, n in zip(cols[1:3], cmp.names, diff["mean_auc"], diff["n_members"],
                              strict=True):
    col.metric(f"{name}: mean member AUC", f"{mean:.3f}", help=f"{n} members")
ci = ("" if diff["ci_low"] != diff["ci_low"]  # NaN: too few members for an interval
      else f"95 % bootstrap interval {diff['ci_low']:+.3f} to {diff['ci_high']:+.3f}; "
           f"Mann-Whitney p = {diff['mann_whitney_p']:.3f}")
cols[3].metric(f"AUC difference ({cmp.names[1]} - {cmp.names[0]})",
               f"{diff['auc_difference']:+.3f}", help=ci or "Too few members for an interval.")
if ci:
    st.caption(f"Difference in mean member AUC: {ci} (members resampled within each suite).")

st.subheader("Hold-out AUC per member")
fig = px.box(cmp.auc, x="suite", y="auc", points="all", hover_data=["member"], color="suite")
fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
st.plotly_chart(fig, width="stretch")

st.subheader("Errors per member")
st.caption("At each member's own threshold. Consistently misclassified: wrong in at least the "
           "paper's share of members (25 of 30), scaled to each suite's size.")
long = cmp.errors.melt(id_vars=["suite", "member"], var_name="error", value_name="images")
fig = px.box(long, x="error", y="images", color="suite", points="all", hover_data=["member"])
st.plotly_chart(fig, width="stretch")
st.dataframe(cmp.consistent.pivot(index="true_class", columns="suite", values="images"))

st.subheader("Calibration")
fig = go.Figure()
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                         line={"dash": "dot", "color": "grey"}))
ensembles = cmp.reliability[cmp.reliability["model"] == ENSEMBLE]
for name in cmp.names:
    curve = ensembles[ensembles["suite"] == name]
    fig.add_trace(go.Scatter(x=curve["mean_predicted"], y=curve["fraction_melanoma"],
                             mode="lines+markers", name=f"{name} (ensemble)"))
fig.update_layout(xaxis_title="mean predicted p(melanoma)", yaxis_title="fraction melanoma")
st.plotly_chart(fig, width="stretch")
st.dataframe(cmp.calibration, hide_index=True)

st.subheader("GradCAM mass on the lesion")
if cmp.lesion_mass.empty:
    st.info("Neither suite has stored GradCAM maps of masked hold-out images; compute them "
            "with `dermviz explain` to compare where the members look.")
else:
    missing = [n for n in cmp.names if n not in set(cmp.lesion_mass["suite"])]
    if missing:
        st.warning(f"No stored GradCAM maps for {', '.join(missing)}.")
    st.caption("Each member's mean share of GradCAM mass on the lesion over the masked "
               "hold-out images; the dotted line is chance (the lesions' mean share of the "
               "image).")
    fig = px.box(cmp.lesion_mass, x="suite", y="mass", points="all", hover_data=["member"],
                 color="suite", range_y=[0, 1])
    fig.add_hline(y=float(cmp.lesion_mass["chance"].mean()), line_dash="dot",
                  annotation_text="chance")
    st.plotly_chart(fig, width="stretch")
