"""Home: the suite at a glance."""

import plotly.express as px
import streamlit as st

from app import state
from dermviz import api

st.title("dermviz")
st.caption(
    "Saliency inspection for dermoscopy classifiers: why does a melanoma classifier say "
    "what it says, and should you trust it?"
)



def _build_panel() -> None:
    """The demo build's state, redrawn every 2 s while it runs (reads a small JSON file)."""
    status = api.demo_build_status(state.models_dir())
    if status.running:
        eta = f", about {status.eta_s / 60:.0f} min left" if status.eta_s else ""
        st.progress(status.fraction, text=f"Building the demo suite: {status.detail}{eta}")
        st.caption("The build runs in its own process: closing this page does not stop it. "
                   "Pages work as soon as the first member has landed.")
        if status.phase == "explain" or state.suite_names(str(state.models_dir())):
            st.button("Show what has landed", on_click=state.suite_names.clear)
        return
    if status.state == "done":
        # The suite list below was read before the build finished: read it again and
        # redraw the whole page, so it shows the suite (not "No model suite found").
        state.suite_names.clear()
        if state.suite_names(str(state.models_dir())):
            st.toast("The demo suite is built.", icon=":material/check_circle:")
            st.rerun(scope="app")
        # built, then removed: offer to build it again (below)
    if status.state in ("failed", "stopped"):
        what = "failed" if status.state == "failed" else "was interrupted"
        st.error(f"The demo build {what}." + (f" {status.error}" if status.error else ""))
        if status.log is not None:
            st.code(api.demo_build_log(status, lines=8) or "(no output)", language=None)
    label = "Resume the demo build" if status.state == "stopped" else "Build the demo suite"
    demo = api.demo_settings()
    st.write(f"Build the demo suite: synthetic dermoscopy, {demo.n_members} members at "
             f"{demo.image_size} px, with their GradCAM maps. It runs in the background, "
             "resumably, the same as `dermviz demo`.")
    if st.button(label, type="primary"):
        api.start_demo_build(state.models_dir())
        st.rerun()


def _auc_text(record: dict) -> str:
    sd = record["auc_sd"]
    return f"{record['auc_mean']:.3f}" + ("" if sd != sd else f" ± {sd:.3f}")  # NaN: 1 member


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _training_record(record: dict) -> None:
    """How the members were trained: options, fit time, CPU (what member.json recorded)."""
    st.subheader("Training")
    config = record["config"]
    patience = config.get("patience")
    st.dataframe([
        {"item": "epochs (at most)", "value": str(config.get("epochs", "?"))},
        {"item": "learning-rate schedule", "value": str(config.get("lr_schedule", "?"))},
        {"item": "early stopping", "value": "off" if patience is None
         else f"patience {patience} epochs on validation AUC"},
        {"item": "hold-out AUC range",
         "value": f"{record['auc_min']:.3f} - {record['auc_max']:.3f}"},
        {"item": "fit wall time, all members", "value": _duration(record["fit_seconds_total"])},
        {"item": "fit wall time per member", "value": _duration(record["fit_seconds_mean"])},
        {"item": "CPU", "value": ", ".join(record["cpus"]) or "not recorded"},
    ], hide_index=True)
    if 0 < record["fits_timed"] < record["members"]:
        st.caption(f"Fit times recorded for {record['fits_timed']} of {record['members']} "
                   "members (older members did not record theirs).")


def build_panel() -> None:
    running = api.demo_build_status(state.models_dir()).running
    st.fragment(_build_panel, run_every=state.POLL_SECONDS if running else None)()


names = state.suite_names(str(state.models_dir()))
if not names and api.demo_build_status(state.models_dir()).state == "done":
    state.suite_names.clear()  # cached before the build finished
    names = state.suite_names(str(state.models_dir()))
if not names or api.demo_build_status(state.models_dir()).state in ("running", "failed",
                                                                     "stopped"):
    build_panel()
suite = state.choose_suite()
if suite is None:
    st.stop()

info = suite.dataset_info
metrics = suite.metrics_table()
col1, col2, col3, col4 = st.columns(4)
col1.metric("Members", len(suite.member_ids))
col2.metric("Image size", f"{suite.image_size} px")
record = api.training_summary(suite)
col3.metric("Hold-out AUC, mean ± sd", _auc_text(record) if len(metrics) else "-",
            help="Over the members; sd is the sample standard deviation.")
col4.metric("Mean accuracy", f"{metrics['accuracy'].mean():.1%}" if len(metrics) else "-")
if suite.manifest.get("status") != "complete":
    st.warning("This suite is still training (or was interrupted): rerun the same command "
               "to resume it.")

st.subheader("Data set")
source = info.get("source", {})
if info.get("name") == "synthetic":
    st.write("**Synthetic dermoscopy** (the built-in demo): seeded lesion-like images; "
             "not real patients.")
else:
    st.write(f"**HAM10000** from `{source.get('root', '?')}`")
st.dataframe(
    [{"split/class": k, "images": v} for k, v in sorted(info.get("counts", {}).items())],
    hide_index=True,
)

if len(metrics):
    st.subheader("Hold-out AUC per member")
    st.caption("Melanoma is the positive class; accuracy, sensitivity and specificity use each "
               "member's operating threshold, chosen on its own validation split.")
    fig = px.bar(metrics, x="member", y="auc", hover_data=["accuracy", "sensitivity",
                 "specificity", "threshold"], range_y=[0, 1], text_auto=".3f")
    fig.add_hline(y=0.5, line_dash="dot", annotation_text="chance")
    st.plotly_chart(fig, width="stretch")
    st.dataframe(
        metrics[["member", "seed", "auc", "accuracy", "sensitivity", "specificity", "brier",
                 "threshold", "val_auc"]],
        hide_index=True,
    )
    if suite.manifest.get("search"):
        info = api.search_info(suite)
        st.subheader("Hyperparameter search")
        trials = info["trials"]
        st.caption(f"{info['sampler']} sampler, objective "
                   f"`{info['config'].get('objective', '?')}`; each member is the best trial "
                   "of its own search on its own validation split.")
        if len(trials):
            st.dataframe(trials.groupby("member").size().rename("trials").reset_index(),
                         hide_index=True)
        st.dataframe(info["best"], hide_index=True)
        st.page_link("views/search.py", label="All trials and the AUC distribution",
                     icon=":material/tune:")
    _training_record(record)
    st.subheader("Training configuration")
    st.json(suite.config, expanded=False)
