"""Statistics: what a model that never sees the lesion scores beside the suite, the suite's
metrics by metadata column, where the suite goes wrong, how much its members agree, how well
calibrated."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api

st.title("Where the suite goes wrong")
suite = state.require_trained_suite()
tables = state.suite_statistics(suite)
members = tables["members"]
n_members = len(members)
n_images = len(tables["images"])

col1, col2, col3, col4 = st.columns(4)
col1.metric("Members", n_members)
col2.metric("Hold-out images", n_images)
col3.metric("Mean member AUC", f"{members['auc'].mean():.3f}",
            help="Chance is 0.5. Each member's AUC and its 95% interval are in the "
                 "per-member table below.")
ensemble = tables["calibration"].set_index("model")
col4.metric("Ensemble AUC (mean p)", f"{ensemble.loc['ensemble', 'auc']:.3f}",
            delta=f"{ensemble.loc['ensemble', 'auc'] - members['auc'].mean():+.3f} vs members")
at_chance = api.chance_sentence(members)
if at_chance:
    st.warning(at_chance, icon=":material/casino:")

st.subheader("Does this score show that the suite looks at the lesion?")
st.caption("Lesion-blind baselines: logistic regressions on 30 colour statistics (the mean, "
           "spread and percentiles of R, G, B, H, S, V) of the whole image, of the skin outside "
           "the grown lesion mask, and of the lesion alone; fitted on the suite's training pool, "
           "scored on the same hold-out images as the suite. Bars: 95% bootstrap intervals. "
           "See docs/confounders.md.")
comparison = state.blind_comparison(suite)
report = state.blind_report(suite)
fig = px.scatter(comparison.assign(plus=comparison["auc_high"] - comparison["auc"],
                                   minus=comparison["auc"] - comparison["auc_low"]),
    x="auc", y="model", color="kind", facet_col="holdout", error_x="plus", error_x_minus="minus",
    range_x=[0, 1], labels={"auc": "hold-out AUC", "model": ""})
fig.add_vline(x=0.5, line_dash="dot", annotation_text="chance")
st.plotly_chart(fig, width="stretch")
for holdout in dict.fromkeys(comparison["holdout"]):
    sentence = api.blind_sentence(comparison, holdout=holdout)
    if sentence and "overlapping" in sentence:
        st.warning(sentence, icon=":material/visibility_off:")
    elif sentence:
        st.info(sentence)
if not api.has_histo(suite):
    st.caption("This data set does not record how each diagnosis was confirmed (no "
               "`dx_type`), so there is no histo-confirmed view; its artefact flags are the "
               "strata below.")
for note in report["notes"]:
    st.caption(f"Note: {note}.")
st.dataframe(comparison, hide_index=True)
if not report["acquisition"].empty:
    st.markdown("**Acquisition check**: how well the outside-the-lesion colour model tells how "
                "an image was acquired or confirmed. A high AUC names the shortcut.")
    st.dataframe(report["acquisition"], hide_index=True)

st.subheader("Metrics by metadata column")
columns = api.strata_columns(suite)
if not columns:
    st.info("This data set has no metadata column to break the metrics down by.")
else:
    left, right = st.columns([2, 1])
    by = left.selectbox("Break down by", columns, key="stats_by")
    histo = right.toggle("Histo-confirmed only", value=False, key="stats_histo",
                         disabled=not api.has_histo(suite),
                         help="Only hold-out images whose diagnosis histopathology confirmed"
                         if api.has_histo(suite) else "This data set has no dx_type column.")
    strata = state.stratified(suite, by, histo)
    st.dataframe(strata, hide_index=True)
    st.caption(f"{int(strata[strata['model'] == api.ENSEMBLE]['n'].sum())} hold-out images"
               f"{' (histo-confirmed)' if histo else ''}. Each cell: its n and 95% bootstrap "
               "intervals; a stratum with one class has no AUC.")

st.subheader("Errors per member")
st.caption("At each member's own operating threshold. Melanoma is the positive class: a "
           "missed melanoma is a false negative. Dotted lines: the 2025 reproduction's mean "
           "rates over its 15 models (29.3 ± 9.22 melanomas called naevi, 20.2 ± 6.82 naevi "
           "called melanoma, of 200 each).")
rates = members.assign(
    melanomas_called_naevi=members["fn"] / (members["fn"] + members["tp"]),
    naevi_called_melanoma=members["fp"] / (members["fp"] + members["tn"]),
)
long = rates.melt(id_vars="member", value_vars=["melanomas_called_naevi",
                                                "naevi_called_melanoma"],
                  var_name="error", value_name="rate")
fig = px.bar(long, x="member", y="rate", color="error", barmode="group",
             text_auto=".0%", range_y=[0, 1])
for (mean, _sd), name, colour in (
    (api.REPRODUCTION_MELANOMAS_CALLED_NAEVI, "reproduction: melanomas called naevi", "#636efa"),
    (api.REPRODUCTION_NAEVI_CALLED_MELANOMA, "reproduction: naevi called melanoma", "#ef553b"),
):
    fig.add_hline(y=mean / 200, line_dash="dot", line_color=colour, annotation_text=name)
fig.update_yaxes(tickformat=".0%")
st.plotly_chart(fig, width="stretch")
st.dataframe(members, hide_index=True)
st.download_button("Per-member table (CSV)", members.to_csv(index=False),
                   file_name=f"{suite.name}-members.csv", mime="text/csv")

st.subheader("How many members get each image wrong")
counts = tables["counts"]
fig = px.bar(counts, x="n_wrong", y="n_images", text_auto=True,
             labels={"n_wrong": "members wrong", "n_images": "images"})
st.plotly_chart(fig, width="stretch")

default_k = api.PAPER_RULE.min_wrong(n_members)
# A one-member suite (an imported model, say) has one choice: a slider needs two.
k = (st.slider("Consistently misclassified: wrong in at least k members", 1, n_members,
               default_k, help=f"The paper's rule, 25 of 30 models, scales to {default_k} of "
               f"{n_members} here.") if n_members > 1 else 1)
consistent = tables["images"][tables["images"]["n_wrong"] >= k]
st.write(f"**{len(consistent)} of {n_images}** hold-out images are wrong in at least {k} of "
         f"{n_members} members. For comparison: the paper found "
         f"{api.PAPER_CONSISTENT_COUNT} of 400 wrong in at least 25 of 30 models; the 2025 "
         f"reproduction {api.REPRODUCTION_CONSISTENT_COUNT} of 400 in at least 13 of 15, "
         f"one melanoma (test id {api.REPRODUCTION_ALWAYS_WRONG_TEST_ID}) in all 15.")
st.dataframe(consistent, hide_index=True)
st.page_link("views/browser.py", label="Browse them", icon=":material/grid_view:",
             query_params={"min_wrong": str(k), "sort": "n_wrong"})
st.download_button("Per-image table (CSV)", tables["images"].to_csv(index=False),
                   file_name=f"{suite.name}-images.csv", mime="text/csv")

st.subheader("Do members make the same mistakes?")
kind = st.radio("Agreement of error sets", ["Cohen's kappa", "Jaccard"], horizontal=True)
matrix = tables["kappa" if kind == "Cohen's kappa" else "jaccard"]
fig = px.imshow(matrix, text_auto=".2f", zmin=-1 if kind == "Cohen's kappa" else 0, zmax=1,
                color_continuous_scale="RdBu", aspect="auto")
st.plotly_chart(fig, width="stretch")
st.caption("Kappa 1: two members err on exactly the same images; 0: no more overlap than "
           "chance. Blank cells: undefined (a member with no errors).")

st.subheader("Calibration")
curves = tables["reliability"]
fig = go.Figure()
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"},
                         name="perfect"))
for model, part in curves.groupby("model", sort=False):
    fig.add_trace(go.Scatter(x=part["mean_predicted"], y=part["fraction_melanoma"],
                             mode="lines+markers", name=str(model),
                             line={"width": 4 if model == "ensemble" else 1.5}))
fig.update_layout(xaxis_title="mean p(melanoma) in bin", yaxis_title="share of melanomas",
                  xaxis_range=[0, 1], yaxis_range=[0, 1])
st.plotly_chart(fig, width="stretch")
st.dataframe(tables["calibration"], hide_index=True)
st.download_button("Calibration table (CSV)", tables["calibration"].to_csv(index=False),
                   file_name=f"{suite.name}-calibration.csv", mime="text/csv")
