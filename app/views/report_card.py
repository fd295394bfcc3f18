"""Report card: which explanation method is faithful, robust and concise for this suite?

Thin: studies, scores, intervals and sentences come from :mod:`dermviz.api` (the same
backend as ``dermviz evaluate``, whose studies this page lists).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api
from dermviz.explain.overlay import cam_overlay, diverging_overlay, per_image_vmax

KIND = "evaluation"
CHOICE_KEY = "report_card_choice"
CURVE_STYLE = {
    "method": {"width": 3},
    "random map": {"dash": "dash", "width": 1.5},
    "centred Gaussian": {"dash": "dot", "width": 1.5},
}


@st.cache_data(show_spinner="Reading the report card...", max_entries=16)
def report_card(folder: str, created: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The saved study's summary and family table (``created`` keys a rerun)."""
    return api.report_card(folder)


@st.cache_data(show_spinner=False, max_entries=256)
def drill_down(
    folder: str, created: str, member: str, method: str, image_id: str
) -> tuple[np.ndarray, np.ndarray, dict[str, pd.DataFrame]]:
    """One image, its map and its curves (by metric) in the saved study."""
    image, saliency = api.report_map(folder, member, method, image_id)
    curves = {}
    for metric in ("deletion", "insertion"):
        try:
            curves[metric] = api.report_curve(folder, member, method, image_id, metric)
        except KeyError:  # the study did not compute this metric
            continue
    return image, saliency, curves


def _interval(row: pd.Series) -> str:
    if pd.isna(row["score_low"]):
        return "no interval (one image)"
    return f"[{row['score_low']:.3f}, {row['score_high']:.3f}]"


def metric_table(summary: pd.DataFrame, families: pd.DataFrame) -> pd.DataFrame:
    """The member's scores as shown: each beside its interval and both baselines."""
    best = families.loc[families["best"], ["family", "method"]].assign(best="★")
    shown = summary.merge(best, on=["family", "method"], how="left").fillna({"best": ""})
    return pd.DataFrame(
        {
            "family": shown["family"],
            "metric": shown["metric"],
            "method": shown["method"],
            "best in family": shown["best"],
            "better": shown["higher_is_better"].map({True: "higher", False: "lower"}),
            "score": shown["score"],
            "95% interval": shown.apply(_interval, axis=1),
            "random map": shown["score_random"],
            "centred Gaussian": shown["score_gaussian"],
            "passes": shown["passes"].map({True: "✓ passes", False: "✗"}),
        }
    ).sort_values(["family", "metric", "method"], kind="stable")


def family_grid(families: pd.DataFrame) -> pd.DataFrame:
    """Methods x families: metrics passed of computed, the best of each family starred."""
    cells = families.assign(
        cell=families.apply(
            lambda r: f"{r['n_passed']}/{r['n_metrics']} pass" + (" ★" if r["best"] else ""), axis=1
        )
    )
    return cells.pivot(index="method", columns="family", values="cell").reset_index()


def curve_figure(curves: dict[str, pd.DataFrame]) -> go.Figure:
    fig = go.Figure()
    for metric, frame in curves.items():
        for source, group in frame.groupby("source", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=group["fraction"],
                    y=group["p"],
                    mode="lines+markers",
                    name=f"{metric}: {source}",
                    line=CURVE_STYLE.get(source, {}),
                    marker={"size": 4},
                    legendgroup=metric,
                )
            )
    fig.update_layout(
        xaxis_title="fraction of patches removed (deletion) or restored "
        "(insertion), most relevant first",
        yaxis_title="p(explained class)",
        height=380,
        margin={"t": 20},
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def overlay(image: np.ndarray, saliency: np.ndarray) -> np.ndarray:
    if saliency.min() < 0:
        return diverging_overlay(image, saliency, vmax=per_image_vmax(saliency))
    peak = float(saliency.max())
    return cam_overlay(image, saliency / peak if peak > 0 else saliency)


st.title("Report card")
st.caption(
    "Should you trust a method's maps? Faithfulness: removing what the map calls important "
    "should drop the model's score (deletion) and restoring it should raise it (insertion). "
    "Robustness: the map should barely move under small input noise. Complexity: a concise "
    "map (high sparseness, low entropy). Every score stands beside two maps that know "
    "nothing of the model, a random map and the centred Gaussian; a method passes a metric "
    "when its 95% bootstrap interval over images beats both."
)
suite = state.require_trained_suite()
studies = state.saved_studies(suite, (KIND,))


@st.fragment
def run_panel() -> None:
    """Choose methods, metrics and images and run a study."""
    c1, c2, c3 = st.columns(3)
    methods = c1.multiselect(
        "Methods",
        api.evaluation_methods(),
        default=list(api.EVALUATION_DEFAULTS["methods"]),
        key="rc_methods",
    )
    metrics = c2.multiselect(
        "Metrics",
        api.evaluation_metrics(),
        default=list(api.EVALUATION_DEFAULTS["metrics"]),
        key="rc_metrics",
    )
    n_images = int(
        c3.number_input("Hold-out images (half of each class)", 2, 200, 8, key="rc_images")
    )
    c3.caption(
        "KernelSHAP, ScoreCAM and the robustness metrics (which re-explain every image "
        "10 times) are slow on a CPU."
    )
    if not st.button("Run", type="primary", disabled=not (methods and metrics), key="rc_run"):
        return
    bar = st.progress(0.0, text="Starting...")
    try:
        result = state.with_members(
            lambda: api.evaluation_study(
                suite,
                methods=methods,
                metrics=metrics,
                n_images=n_images,
                progress=lambda done, total, name: bar.progress(done / total, text=f"{name} done"),
            )
        )
    except (ValueError, KeyError) as exc:
        st.error(state.error_text(exc))
        return
    st.session_state[CHOICE_KEY] = str(api.evaluation_folder(suite, result))
    st.rerun()


state.run_panel_or_stop(
    studies,
    run_panel,
    label="Run a study",
    empty=(
        "No report card for this suite yet. Run one above, or from the command line:"
        f"\n\n```bash\ndermviz evaluate --suite {suite.name}\n```"
    ),
)

info = state.pick_saved_study(studies, choice_key=CHOICE_KEY, key="rc_pick")
folder = str(info.folder)
summary, families = report_card(folder, info.created)

st.subheader("Methods by metric family")
for sentence in api.report_sentences(summary, families):
    st.markdown(f"- {sentence}")
members = list(dict.fromkeys(summary["member"]))
for member, tab in zip(members, st.tabs([f"member {m}" for m in members]), strict=True):
    with tab:
        mine = summary[summary["member"] == member]
        fams = families[families["member"] == member]
        st.dataframe(family_grid(fams), hide_index=True, key=f"rc_grid_{member}")
        st.caption(
            "Metrics passed of those computed, per family; ★ the best mean rank among "
            "the methods on the family's metrics (best even when it does not pass)."
        )
        st.dataframe(
            metric_table(mine, fams),
            hide_index=True,
            key=f"rc_table_{member}",
            column_config={
                c: st.column_config.NumberColumn(format="%.3f")
                for c in ("score", "random map", "centred Gaussian")
            },
        )
st.download_button(
    "Download the report card (CSV)",
    summary.to_csv(index=False).encode(),
    file_name=f"{Path(folder).name}.csv",
    mime="text/csv",
    key="rc_csv",
)

st.subheader("One image")
c1, c2, c3 = st.columns(3)
member = c1.selectbox("Member", members, key="rc_member")
method = c2.selectbox("Method", list(dict.fromkeys(summary["method"])), key="rc_method")
image_id = c3.selectbox(
    "Image", info.spec.image_ids if info.spec is not None else [], key="rc_image"
)
if image_id is not None:
    image, saliency, curves = drill_down(folder, info.created, member, method, image_id)
    left, right = st.columns([1, 2])
    left.image(
        overlay(image, saliency), caption=f"{method} on {image_id} ({member})", width="stretch"
    )
    if curves:
        right.plotly_chart(curve_figure(curves), width="stretch", key="rc_curves")
        right.caption(
            "Solid: the method's map; dashed: a random map; dotted: the centred "
            "Gaussian. Deletion: lower is better; insertion: higher is better."
        )
    else:
        right.info(
            "This study computed neither deletion nor insertion, so there is no curve to draw."
        )
