"""Layer randomization: a member's maps as its layers are re-initialised, beside the paper's.

Three tests: the classic one (top-down, bottom-up or independent), sMPRT (the same
on maps averaged over noisy copies) and eMPRT (entropy of the fully randomized
model's maps over the trained model's), after Hedstroem et al.

Thin: specs, runs, caching and tables come from :mod:`dermviz.sanity` (the same
backend as ``dermviz sanity``), so a study run from the command line shows up
here, and one run here is cached for the command line.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import state
from dermviz import api
from dermviz.api import evidence_by_stage, sanity
from dermviz.explain.overlay import CAM_COLORMAPS, cam_overlay, diverging_overlay, shared_vmax

MEASURE_HELP = {
    "ssim": "SSIM of the raw maps on [0, 1] (signed maps share one scale)",
    "spearman": "Spearman rank correlation of the maps",
    "spearman_abs": "Spearman rank correlation of |map|",
    "ssim_paper": "the paper's SSIM on rendered RGBA overlays (photo + map + alpha)",
    "ssim_paper_rgb": "the paper's overlay SSIM without the constant alpha channel",
}
STUDY_KEY = "randomization_study"
PAPER_COLUMN = {"paper_ssim_paper": "paper (ssim_paper)"}
#: Check kind -> the test's name on this page.
TESTS = {
    "randomization": "classic MPRT",
    "smprt": "sMPRT (smoothed maps)",
    "emprt": "eMPRT (map entropy)",
}
TEST_HELP = (
    "classic: Adebayo et al.'s test, as the paper ran it (similarity to the original map "
    "per randomized stage); sMPRT: the same on maps averaged over noisy copies of the image, "
    "so a noisy method is not mistaken for a randomized one; eMPRT: one number per image, "
    "the entropy of the fully randomized model's map over the trained model's "
    "(Hedstroem et al. 2023)"
)
ORDER_HELP = ("cascading: stage k has stages 1..k randomized, top-down (the paper); bottom_up: "
              "the same from the input upward (recommended by Hedstroem et al. and Binder et "
              "al.: top-down randomization biases the test); independent: only stage k")


def image_label(row) -> str:  # noqa: ANN001
    return f"#{row.test_index} {row.image_id} ({row.dx})"


st.title("Layer randomization")
st.caption(
    "Adebayo et al.'s model-parameter randomization test, in the paper's design: re-initialise "
    "a trained member's layers top-down and watch the saliency map. A map that survives the "
    "loss of what the model learnt is not explaining the model: the similarity to the "
    "original map (higher = more similar) should fall towards the *no information* baselines. "
    "sMPRT and eMPRT are Hedstroem et al.'s repaired versions."
)
suite = state.require_trained_suite()
holdout = state.holdout_table(suite)
studies = state.saved_studies(suite, tuple(TESTS))


@st.fragment
def run_panel() -> None:
    """Choose and run a study; only this panel reruns while options change."""
    labels = {row.image_id: image_label(row) for row in holdout.itertuples()}
    is_mel = dict(zip(holdout["image_id"], holdout["dx"] == "mel", strict=True))
    paper_ids = sanity.default_image_ids(holdout)  # the paper's 16 (8 mel, 8 nv)
    default_ids = ([i for i in paper_ids if is_mel[i]][:2]
                   + [i for i in paper_ids if not is_mel[i]][:2])
    test = st.radio("Test", list(TESTS), format_func=TESTS.get, horizontal=True,
                    key="rnd_test", help=TEST_HELP)
    c1, c2, c3 = st.columns(3)
    member = c1.selectbox("Member", suite.member_ids, key="rnd_member")
    # A model without a feature layer (an imported one) gets the gradient-free method only.
    applicable = api.applicable_methods(suite)
    methods = [m for m in sanity.METHODS if applicable[m] is None]
    method = c1.radio("Method", methods, horizontal=True, key="rnd_method",
                      format_func={"gradcam": "GradCAM", "kernelshap": "KernelSHAP"}.get)
    sets = list(sanity.layer_sets(suite))  # an imported model has its blocks only
    layer_set = c2.radio(
        "Layer set", sets, horizontal=True, key=f"rnd_layer_set_{test}",
        index=sets.index("blocks") if test == "emprt" else 0,
        format_func={"paper": "paper's six layers", "blocks": "whole blocks"}.get,
        help="The paper randomized one conv per stage (a single branch of a block); "
             "blocks re-initialise every conv of an Inception block, as Adebayo et al. "
             "eMPRT randomizes the chosen stages all at once (whole blocks: every layer).",
    )
    order = None
    if test != "emprt":
        order = c2.radio("Order", ["cascading", "bottom_up", "independent"], horizontal=True,
                         index=1 if test == "smprt" else 0, key=f"rnd_order_{test}",
                         help=ORDER_HELP)
    target = c3.radio(
        "Each stage explains", ["predicted", "original"], key="rnd_target",
        format_func={"predicted": "its own predicted class (paper)",
                     "original": "the trained model's predicted class"}.get,
    )
    names = sanity.stage_names(layer_set, suite=suite)
    chosen = st.multiselect("Stages (top-down)", names, default=names,
                            key=f"rnd_stages_{layer_set}")
    smoothing = {}
    if test == "smprt":
        c6, c7 = st.columns(2)
        smoothing = {
            "n_noisy": c6.number_input(
                "Noisy copies per map", 1, 500, 50, key="rnd_n_noisy",
                help="Explanations averaged per map, the noise-free one included (the "
                     "paper's 50); multiplies the cost"),
            "noise_level": c7.number_input(
                "Noise level", 0.0, 1.0, 0.1, step=0.05, key="rnd_noise_level",
                help="Gaussian noise sd as a fraction of the image's value range"),
        }
    n_bins = 100
    if test == "emprt":
        n_bins = st.number_input("Histogram bins", 2, 1000, 100, key="rnd_n_bins",
                                 help="Bins of the map-value histogram whose entropy is compared")
    image_ids = st.multiselect("Images", list(labels), default=default_ids,
                               format_func=labels.get, key="rnd_images")
    defaults = sanity.method_params(suite, method)  # the suite's layer, the paper's SHAP
    if method == "gradcam":
        layer = st.text_input("GradCAM layer", defaults["layer"], key="rnd_layer")
        params = {"layer": layer.strip() or None}
    else:
        c4, c5 = st.columns(2)
        params = {
            "nsamples": c4.number_input("KernelSHAP samples", 10, 10000, defaults["nsamples"],
                                        step=100, key="rnd_nsamples",
                                        help="The paper's 2500; about 1-2 min per image per "
                                             "stage at 224 px on a CPU"),
            "n_segments": c5.number_input("Superpixels", 2, 400, defaults["n_segments"],
                                          key="rnd_segments"),
        }
    models = 2 if test == "emprt" else len(chosen) + 1
    copies = smoothing.get("n_noisy", 1)
    st.caption(f"{len(image_ids) * models * copies} explanations ({len(image_ids)} images x "
               f"{models} models" + (f" x {copies} copies" if copies > 1 else "") + "); "
               "results are cached, so an identical study opens instantly.")
    if not st.button("Run", type="primary", disabled=not (image_ids and chosen)):
        return
    try:
        common = dict(
            member=member, method=method, image_ids=image_ids, target=target,
            params=sanity.method_params(suite, method, **params), layer_set=layer_set,
            stages=None if chosen == names else chosen, dataset=state.load_dataset(suite),
        )
        if test == "emprt":
            spec = sanity.emprt_spec(suite, n_bins=n_bins, **common)
        elif test == "smprt":
            spec = sanity.smprt_spec(suite, order=order, **smoothing, **common)
        else:
            spec = sanity.randomization_spec(suite, study="custom", order=order, **common)
        bar = st.progress(0.0, text="Starting...")
        result = state.run_check(
            suite, spec,
            progress=lambda done, total, name: bar.progress(done / total, text=f"{name} done"),
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        st.error(state.error_text(exc))
        return
    st.session_state[STUDY_KEY] = str(sanity.study_folder(suite, result.spec))
    st.rerun()


state.run_panel_or_stop(
    studies, run_panel, label="Run a study",
    empty=(
        "No saved study for this suite yet. Run one above, or the paper's design from the "
        f"command line:\n\n```bash\ndermviz sanity --suite {suite.name} --study paper\n```"
    ),
)

picked = state.pick_saved_study(studies, choice_key=STUDY_KEY, key="rnd_saved")
folder = str(picked.folder)
result = state.load_saved_study(folder, picked.created)
spec = result.spec
method_name = {"gradcam": "GradCAM", "kernelshap": "KernelSHAP"}.get(result.method, result.method)
if result.warnings:
    with st.expander(f"{len(result.warnings)} warning(s)"):
        for w in result.warnings:
            st.warning(w, icon="⚠️")


def show_emprt() -> None:
    """eMPRT: the maps of the trained and the fully randomized model, and the entropy ratios."""
    st.markdown(
        f"**eMPRT**, **{method_name}** on member **{spec.member_id}**, "
        f"{len(result.image_ids)} images; {len(result.layers)} layers ({spec.layer_set}) "
        f"randomized at once; entropy of a {spec.n_bins}-bin histogram of the map values."
    )
    scores = result.scores()
    st.subheader("Maps")
    shown = st.multiselect("Rows", result.image_ids, default=result.image_ids[:4],
                           key=f"emprt_rows_{Path(folder).name}")
    by_id = scores.set_index("image_id")
    for image_id in shown:
        i = result.image_ids.index(image_id)
        img = result.images[i]
        cols = st.columns(3)
        cols[0].image(img, caption=image_id, width="stretch")
        for col, k, source in zip(cols[1:], (0, 1), ("trained", "randomized"), strict=True):
            m = result.maps[k, i]
            overlay = (diverging_overlay(img, m, vmax=shared_vmax([m])) if result.signed
                       else cam_overlay(img, m))
            col.image(overlay, width="stretch",
                      caption=f"{source}: entropy {by_id.at[image_id, f'entropy_{source}']:.2f}")
    st.subheader("Entropy ratio (randomized / trained)")
    summary = result.summary()
    fig = go.Figure()
    fig.add_trace(go.Box(y=scores["ratio"], name="randomized model", boxpoints="all",
                         text=scores["image_id"], marker={"color": "#1f77b4"}))
    fig.add_hline(y=1.0, line={"color": "black", "dash": "dot"},
                  annotation_text="no change (1)", annotation_position="top left")
    for row in summary[summary["source"] != "randomized"].itertuples():
        fig.add_hline(y=row.ratio, line={"color": "grey", "dash": "dash", "width": 1},
                      annotation_text=row.source.removeprefix("baseline:"),
                      annotation_position="bottom right")
    fig.update_layout(yaxis_title="entropy ratio (higher = more chaotic after randomization)",
                      height=420, margin={"t": 20}, showlegend=False)
    st.plotly_chart(fig, width="stretch")
    st.caption(f"Mean ratio {result.mean_ratio:.3f}. Above 1: randomizing the model makes "
               "its maps more chaotic, as a method that explains the model should show; "
               "about 1: the maps did not notice. Dashed lines: the same ratio for a "
               "uniform-noise map, the image's edge map and a constant map (entropy 0).")
    left, right = st.columns(2)
    left.markdown("**Per image**")
    left.dataframe(scores, hide_index=True)
    right.markdown("**Randomized model and reference maps** (mean over images)")
    right.dataframe(summary, hide_index=True)
    st.download_button("Download CSV", result.table.to_csv(index=False).encode(),
                       file_name=f"{Path(folder).name}.csv", mime="text/csv")


if result.kind == "emprt":
    show_emprt()
    st.stop()

smooth = (f"; maps averaged over {spec.n_noisy} copies at noise {spec.noise_level:g}"
          if result.kind == "smprt" else "")
st.markdown(
    f"**{TESTS[result.kind]}**, **{method_name}** on member **{spec.member_id}**, "
    f"{len(result.image_ids)} images; {spec.layer_set} layers, {spec.order}{smooth}; "
    "each stage explains "
    f"{'its own predicted class' if spec.target == 'predicted' else 'the trained prediction'}; "
    f"kernels re-drawn{' + biases' if spec.reset_bias else ''}"
    f"{' + BatchNorm' if spec.reset_batchnorm else ''}. Parameters: "
    + ", ".join(f"`{k}={v}`" for k, v in spec.method_params.items())
)

# ----------------------------------------------------------------- maps per stage
st.subheader("Maps per stage")
c1, c2, c3 = st.columns(3)
shown = c1.multiselect("Rows", result.image_ids, default=result.image_ids[:4],
                       key=f"rnd_rows_{Path(folder).name}")
if result.signed:
    scale = c2.radio("Colour scale", ["per map (paper)", "shared per row"], horizontal=True,
                     help="SHAP: green raises, red lowers the explained class's probability")
else:
    cmap = c2.selectbox("Colormap", CAM_COLORMAPS, index=CAM_COLORMAPS.index("jet"),
                        help="jet is the paper's; inferno and viridis are perceptually uniform")
p_mel = result.predictions.set_index(["image_id", "stage"])["p_melanoma"]
header = st.columns(len(result.stage_names) + 1)
header[0].markdown("**input**")
for col, name, layers in zip(header[1:], result.stage_names, result.stage_layers, strict=True):
    col.markdown(f"**{name}**", help=", ".join(layers) if layers else "the trained model")
for image_id in shown:
    i = result.image_ids.index(image_id)
    img = result.images[i]
    cols = st.columns(len(result.stage_names) + 1)
    cols[0].image(img, caption=image_id, width="stretch")
    row_vmax = shared_vmax(result.maps[:, i]) if result.signed else None
    for k, col in enumerate(cols[1:]):
        m = result.maps[k, i]
        if result.signed:
            vmax = row_vmax if scale == "shared per row" else shared_vmax([m])
            overlay = diverging_overlay(img, m, vmax=vmax)
        else:
            overlay = cam_overlay(img, m, cmap=cmap)
        col.image(overlay, caption=f"p(mel) {p_mel.get((image_id, k), float('nan')):.2f}",
                  width="stretch")

# ----------------------------------------------------------------- curves and tables
st.subheader("Similarity to the original map")
measures = st.multiselect(
    "Measures", [m for m in sanity.SIMILARITIES if m in set(result.table["measure"])],
    default=[m for m in sanity.DISPLAY_MEASURES if m in set(result.table["measure"])],
    help="; ".join(f"{k}: {v}" for k, v in MEASURE_HELP.items()) + ". Higher = more similar.",
)
comparable = sanity.paper_comparable(spec)
colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
fig = go.Figure()
for colour, measure in zip(colours, measures, strict=False):
    s = result.summary(measure)
    stages = s[s["kind"] == "stage"]
    fig.add_trace(go.Scatter(
        x=stages["stage_name"], y=stages["mean"], name=measure, mode="lines+markers",
        line={"color": colour}, error_y={"type": "data", "array": stages["sd"].fillna(0)},
    ))
    for row in s[s["kind"] == "baseline"].itertuples():
        fig.add_hline(y=row.mean, line={"color": colour, "dash": "dash", "width": 1},
                      annotation_text=f"{row.stage_name.removeprefix('baseline:')} ({measure})",
                      annotation_position="bottom right")
if comparable and "ssim_paper" in measures:
    ref = sanity.PAPER_REFERENCE["randomization"][result.method]["ssim_to_original"]
    fig.add_trace(go.Scatter(x=result.stage_names, y=ref, name="paper (ssim_paper)",
                             mode="lines+markers", line={"color": "black", "dash": "dot"}))
fig.update_layout(xaxis_title="stage" if spec.order == "independent" else "stage (cumulative)",
                  yaxis_title="similarity to the original", height=420,
                  legend={"orientation": "h", "y": -0.3}, margin={"t": 20})
st.plotly_chart(fig, width="stretch")
st.caption("Dashed lines: the trained map against a random map and against the image's edge "
           "map (no model information). Error bars: sd over images."
           + ("" if comparable else " No paper curve: the design differs from the paper's."))

left, right = st.columns(2)
with left:
    st.markdown("**Per stage** (mean over images)")
    st.dataframe(result.stage_table(measures).drop(columns="stage").rename(
        columns=PAPER_COLUMN), hide_index=True)
    st.markdown("**Baselines**")
    st.dataframe(result.baseline_table(measures), hide_index=True)
with right:
    st.markdown("**Per step: mean |change| of similarity to the original** (the paper's metric)")
    if measures:
        st.dataframe(result.step_table(measures).drop(columns="from_stage").rename(
            columns=PAPER_COLUMN), hide_index=True)
    if comparable:
        ref = sanity.PAPER_REFERENCE["randomization"][result.method]
        st.caption(f"Paper ({method_name}, overlay SSIM, 16 images): "
                   + ", ".join(f"{v:.0%}" for v in ref["mean_abs_step"])
                   + " for the first five steps.")
st.download_button("Download CSV", result.table.to_csv(index=False).encode(),
                   file_name=f"{Path(folder).name}.csv", mime="text/csv")

# ----------------------------------------------------------------- sanity meets truth
#: Below this many images a bootstrap interval of the evidence mass is too wide to call a
#: trained map "no better than chance" (the demo's build runs its study on 4).
FEW_IMAGES = 10
truth = evidence_by_stage(suite, result)
if truth is not None:
    st.subheader("Mass on the evidence, stage by stage")
    fig = go.Figure(go.Scatter(
        x=truth["stage_name"], y=truth["mass_x_chance"], mode="lines+markers",
        name="mass on the evidence / chance",
        error_y={"type": "data", "symmetric": False,
                 "array": (truth["ci_high"] - truth["mass_x_chance"]).fillna(0),
                 "arrayminus": (truth["mass_x_chance"] - truth["ci_low"]).fillna(0)}))
    fig.add_hline(y=1.0, line={"color": "grey", "dash": "dash"}, annotation_text="chance",
                  annotation_position="bottom right")
    gaussian = float(truth["gaussian_x_chance"].iloc[0])
    fig.add_hline(y=gaussian, line={"color": "grey", "dash": "dot"},
                  annotation_text="centred Gaussian (no model)",
                  annotation_position="top right")
    fig.update_layout(yaxis_title="mass on the evidence (x chance)", height=320,
                      margin={"t": 20}, xaxis_title="stage")
    st.plotly_chart(fig, width="stretch")
    scored = truth[truth["n"] > 0]
    first, last = truth.iloc[0], scored.iloc[-1]
    empty = truth[truth["n"] == 0]
    if first.ci_low <= 1.0 and first.n < FEW_IMAGES:
        verdict = (f" With {int(first.n)} images the interval is too wide to tell whether "
                   "the trained maps find the evidence; run the study on more images.")
    elif first.ci_low <= 1.0:
        verdict = (" The trained maps are no better than chance here: the model does not use "
                   "the evidence, so randomizing it has nothing to take away.")
    elif first.ci_low <= gaussian:
        verdict = (" The trained maps do no better than the centred Gaussian here: they may "
                   "only blur the lesion's centre.")
    else:
        verdict = ""
    st.caption(
        "This suite's images carry known evidence (the synthetic evidence benchmark): the "
        "trained model's maps should put more of their mass on it than chance and than a "
        "centred Gaussian that never looks at the image "
        f"({gaussian:.2f}x chance here: the evidence lies inside a lesion near the centre), "
        "and the randomized model's no more than those. "
        f"Trained: {first.mass_x_chance:.2f}x chance; after the last stage "
        f"({last.stage_name}): {last.mass_x_chance:.2f}x "
        f"(95% interval {last.ci_low:.2f}-{last.ci_high:.2f}, {int(last.n)} images)."
        + (f" From {empty.iloc[0].stage_name} on every map is empty: nothing is left to "
           "explain." if len(empty) else "")
        + verdict)
    st.dataframe(truth, hide_index=True)
