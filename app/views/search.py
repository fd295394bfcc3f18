"""Search: how each member of a searched suite was chosen, and how the suite compares.

Trials per member, the best hyperparameters, the hold-out AUC distribution across
members beside the paper's (mean AUC 85%) and the 2025 reproduction's (mean
accuracy ~87%), and the suite's mean, variance and sd.
"""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api

st.title("Search")
suite = state.choose_suite()
if suite is None:
    st.stop()

info = api.search_info(suite)
members = suite.manifest.get("members", [])

if info is None:
    st.info(
        f"Suite **{suite.name}** was trained with fixed hyperparameters (no search). "
        "Build a searched suite with\n\n```bash\ndermviz search --profile smoke --name "
        "search-smoke\n```"
    )
else:
    config = info["config"]
    trials = info["trials"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Members searched", len(suite.member_ids))
    c2.metric("Trials per member", config.get("n_trials", "-"))
    c3.metric("Sampler", str(info["sampler"]).upper())
    c4.metric("Objective", config.get("objective", "-"))
    if suite.manifest.get("status") != "complete":
        st.warning("The search is still running (or was interrupted): rerun the same "
                   "`dermviz search` command to resume it.")
    st.caption(
        f"{config.get('n_startup_trials', '?')} random start(s) per member, then the "
        f"sampler; pruner: {config.get('pruner', 'none')}. The objective is measured on each "
        "member's own validation split, never on the hold-out. Storage: "
        f"`{info['storage']}`."
    )

    st.subheader("Trials per member")
    if len(trials):
        counts = trials.pivot_table(index="member", columns="state", values="number",
                                    aggfunc="count", fill_value=0).reset_index()
        st.dataframe(counts, hide_index=True)
        done = trials[trials["state"] == "COMPLETE"]
        if len(done):
            fig = px.strip(done, x="member", y="value", hover_data=[
                c for c in ("number", "learning_rate", "optimizer", "dropout", "dense_units",
                            "epochs") if c in done.columns])
            fig.update_layout(yaxis_title=config.get("objective", "value"))
            st.plotly_chart(fig, width="stretch", key="trials_plot")

    st.subheader("Best hyperparameters")
    best = info["best"]
    if len(best):
        st.dataframe(best, hide_index=True)

if members:
    st.subheader("Hold-out AUC across members")
    table = suite.metrics_table()
    paper = api.SEARCH_REFERENCES["paper"]
    repro = api.SEARCH_REFERENCES["reproduction"]
    fig = go.Figure()
    fig.add_trace(go.Box(y=table["auc"], name="AUC", boxpoints="all", text=table["member"],
                         hovertemplate="%{text}: %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Box(y=table["accuracy"], name="accuracy", boxpoints="all",
                         text=table["member"], hovertemplate="%{text}: %{y:.3f}<extra></extra>"))
    fig.add_hline(y=paper["mean"], line_dash="dash", annotation_text="paper: mean AUC 85%")
    fig.add_hline(y=repro["mean"], line_dash="dot",
                  annotation_text="2025 reproduction: mean accuracy 87%",
                  annotation_position="bottom right")
    fig.update_layout(yaxis_range=[0, 1], yaxis_title="hold-out", showlegend=False)
    st.plotly_chart(fig, width="stretch", key="auc_plot")

    st.subheader("Suite summary")
    st.caption("Across members, on the hold-out: variance and sd with ddof=1. Accuracy uses "
               "each member's validation-chosen threshold; argmax accuracy is at 0.5. The "
               "paper's 'variance 1.8%' is ambiguous (0.018, or a 1.8-point sd).")
    st.dataframe(api.search_summary(suite), hide_index=True)
