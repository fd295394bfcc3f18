"""Reproducibility & variation: the same member twice, and members against each other.

Thin: specs, runs, caching and tables come from :mod:`dermviz.sanity` (the same
backend as ``dermviz sanity``, whose ``--study paper`` saves both checks).
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api
from dermviz.api import sanity

KINDS = {
    "reproducibility": "Reproducibility: the same member twice",
    "cross_model": "Cross-model: members of similar accuracy",
}
METHOD_NAMES = {"gradcam": "GradCAM", "kernelshap": "KernelSHAP"}
CHOICE_KEY = "variation_choice"


st.title("Reproducibility & variation")
st.caption(
    "How much of a saliency map is the method's own noise, and how much differs between "
    "members that are about as accurate? The paper (overlay SSIM): KernelSHAP gave 0.929 "
    "for the same model twice and GradCAM ≈ 1; three members gave 0.79-0.82 for both "
    "methods (\"~20 % variation\"). Higher = more similar."
)
suite = state.require_trained_suite()
holdout = state.holdout_table(suite)
studies = state.saved_studies(suite, tuple(KINDS))


@st.fragment
def run_panel() -> None:
    """Choose and run a check; only this panel reruns while options change."""
    labels = {row.image_id: f"#{row.test_index} {row.image_id} ({row.dx})"
              for row in holdout.itertuples()}
    c1, c2, c3 = st.columns(3)
    kinds = list(KINDS) if len(suite.member_ids) > 1 else ["reproducibility"]
    kind = c1.radio("Check", kinds, key="var_kind",
                    format_func={"reproducibility": "reproducibility",
                                 "cross_model": "cross-model"}.get)
    applicable = api.applicable_methods(suite)  # no CAM without a feature layer
    method = c1.radio("Method", [m for m in sanity.METHODS if applicable[m] is None],
                      horizontal=True, key="var_method",
                      format_func=METHOD_NAMES.get)
    member = c2.selectbox("Member" if kind == "reproducibility" else "Reference member",
                          suite.member_ids, key="var_member")
    others = None
    if kind == "cross_model":
        rest = [m for m in suite.member_ids if m != member]
        others = c2.multiselect("Compared with", rest, default=rest[: sanity.CROSS_MODEL_MEMBERS
                                                                    - 1], key="var_others")
    image_ids = c3.multiselect("Images", list(labels), format_func=labels.get, key="var_images",
                               default=sanity.default_image_ids(holdout)[:4])
    params = sanity.method_params(suite, method)  # the suite's layer, the paper's SHAP
    if method == "kernelshap":
        nsamples = c3.number_input("KernelSHAP samples", 10, 10000, params["nsamples"],
                                   step=100, key="var_nsamples")
        params = sanity.method_params(suite, method, nsamples=nsamples)
        st.caption("KernelSHAP is seeded; each run (or member) uses a different seed, "
                   "standing in for the paper's unseeded runs.")
    ready = bool(image_ids) and (kind == "reproducibility" or bool(others))
    if not st.button("Run", type="primary", disabled=not ready, key="var_run"):
        return
    try:
        spec = sanity.comparison_spec(
            suite, kind, member=member, members=[member, *(others or [])], method=method,
            params=params, image_ids=image_ids, dataset=state.load_dataset(suite),
        )
        bar = st.progress(0.0, text="Starting...")
        state.run_check(
            suite, spec,
            progress=lambda done, total, name: bar.progress(done / total, text=f"{name} done"),
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        st.error(state.error_text(exc))
        return
    st.session_state[CHOICE_KEY] = str(sanity.study_folder(suite, spec))
    st.rerun()


state.run_panel_or_stop(
    studies, run_panel, label="Run a check",
    empty=(
        "No saved check for this suite yet. Run one above, or the paper's design from the "
        f"command line (it includes both checks):\n\n```bash\ndermviz sanity --suite "
        f"{suite.name} --study paper\n```"
    ),
)

options = [m for m in sanity.DEFAULT_SIMILARITIES if m in sanity.SIMILARITIES]
measure = st.selectbox(
    "Measure", options, index=options.index("ssim_paper") if "ssim_paper" in options else 0,
    help="ssim_paper: the paper's SSIM on rendered overlays (its numbers are on this scale); "
         "ssim: SSIM of the raw maps; spearman(_abs): rank correlation. Higher = more similar.",
)
chosen = st.session_state.get(CHOICE_KEY)


def show(entries: list[sanity.StudyInfo], kind: str, method: str) -> None:
    folders = [str(e.folder) for e in entries]
    by_folder = {str(e.folder): e for e in entries}
    folder = st.selectbox("Saved check", folders, format_func=lambda f: by_folder[f].label,
                          index=folders.index(chosen) if chosen in folders else 0,
                          key=f"var_pick_{kind}_{method}_{chosen}")
    result = state.load_saved_study(folder, by_folder[folder].created)
    t = result.table[result.table["measure"] == measure]
    fig = go.Figure()
    pairs = t[t["kind"] == "pair"]
    for (a, b), group in pairs.groupby(["a", "b"], sort=False):
        fig.add_trace(go.Box(y=group["value"], name=f"{a} vs {b}", boxpoints="all",
                             jitter=0.4, pointpos=0, text=group["image_id"],
                             hovertemplate="%{text}: %{y:.3f}<extra></extra>"))
    base = t[t["kind"] == "baseline"].groupby("b")["value"].mean()
    for name, value in base.items():
        fig.add_hline(y=value, line={"color": "grey", "dash": "dash", "width": 1},
                      annotation_text=f"{name.removeprefix('baseline:')} map",
                      annotation_position="bottom right")
    if measure == "ssim_paper":
        refs = sanity.paper_comparison_reference(kind, method).items()
        for k, (label, value) in enumerate(refs):
            fig.add_hline(y=value, line={"color": "black", "dash": "dot", "width": 1},
                          annotation_text=f"paper, {label}: {value:.3f}",
                          annotation_position="top left" if k % 2 == 0 else "bottom left")
    fig.update_layout(yaxis_title=measure, height=380, showlegend=False, margin={"t": 20})
    st.plotly_chart(fig, width="stretch", key=f"var_fig_{kind}_{method}")
    st.dataframe(result.comparison_table([measure]).drop(columns="kind").rename(
        columns={"paper_ssim_paper": "paper (ssim_paper)"}), hide_index=True)
    for w in result.warnings:
        st.warning(w, icon="⚠️")
    st.download_button("Download CSV", result.table.to_csv(index=False).encode(),
                       file_name=f"{Path(folder).name}.csv", mime="text/csv",
                       key=f"var_csv_{kind}_{method}")


for kind, title in KINDS.items():
    st.subheader(title)
    cols = st.columns(len(sanity.METHODS))
    for col, method in zip(cols, sanity.METHODS, strict=True):
        with col:
            st.markdown(f"**{METHOD_NAMES[method]}**")
            entries = [s for s in studies if s.kind == kind and s.method == method]
            if entries:
                show(entries, kind, method)
            else:
                st.info("No saved check; run one above.")
st.caption("Boxes: per-image scores of each pair. Dashed: a trained map against a random map "
           "and against the image's edge map (no model information). Dotted: the paper's "
           "means (overlay SSIM; n = 199-200 melanomas, SSIM window 3 for reproducibility, "
           "9 for cross-model).")
