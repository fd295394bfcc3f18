"""Saliency: one hold-out lesion; per chosen member its verdict, a CAM and KernelSHAP overlays."""

import numpy as np
import streamlit as st

from app import clinic, state
from dermviz.api import (
    BACKGROUNDS,
    DEGENERATE_GAP,
    SAMPLERS,
    GradCAM,
    KernelSHAP,
    applicable_methods,
    available_methods,
    error_note,
    gap_warning,
    get_explainer,
    shap_gap,
    target_layers,
)
from dermviz.explain.overlay import (
    CAM_COLORMAPS,
    cam_overlay,
    diverging_overlay,
    per_image_vmax,
    shared_vmax,
)

SHAP_SCHEMES = {
    "paper": "paper: green raises, red lowers",
    "perceptual": "perceptual: red raises, blue lowers (RdBu)",
}
SHAP_REFERENCES = {
    "white": "white (the paper's)",
    "mean": "the image's mean colour",
    "blur": "a heavy blur of the image",
    "inpaint": "the skin: lesion inpainted away",
}
#: How the model's output on each reference is labelled next to a map.
SHAP_REFERENCE_VALUES = {
    "white": "f(all white)", "mean": "f(mean colour)", "blur": "f(blurred image)",
    "inpaint": "f(inpainted skin)",
}
SHAP_SAMPLERS = {
    "kernel": "shap's KernelExplainer (the paper's)",
    "leverage": "Leverage SHAP (with an error estimate)",
}
SHAP_SCALES = {
    "per_image": "per image (paper's; hides magnitude)",
    "shared": "shared across the shown members",
}

st.title("Saliency")
suite = state.require_trained_suite()

holdout = state.holdout_table(suite)
verdicts = state.verdict_table(suite)

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
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05)
    st.subheader("Class activation map")
    # A model without a feature layer (an imported one) gets no CAM (api.applicable_methods).
    no_cam = applicable_methods(suite)[GradCAM.name]
    cam_method = layer = cmap = None
    CAM = GradCAM
    if no_cam:
        st.caption(f"Not applicable to this suite's model: {no_cam}.")
    else:
        # Every registered unsigned method is a CAM on a target layer, like GradCAM.
        cam_methods = [m for m in available_methods() if not get_explainer(m).signed]
        cam_method = st.selectbox(
            "CAM method", cam_methods, index=cam_methods.index(GradCAM.name),
            format_func=lambda m: get_explainer(m).display_name, key="cam_method",
            help="GradCAM is the paper's. A map not in the store is computed when first shown "
            "(ScoreCAM: one forward pass per channel it uses, per image).",
        )
        CAM = get_explainer(cam_method)
        default_layer = state.method_params(suite, cam_method)["layer"]
        layers = target_layers(suite)  # InceptionV3's blocks, or an imported model's layer
        if default_layer not in layers:  # a suite configured with a non-block layer
            layers.insert(0, default_layer)
        layer = st.selectbox("Target layer", layers, index=layers.index(default_layer))
        cmap = st.selectbox("Colormap", CAM_COLORMAPS, index=CAM_COLORMAPS.index("inferno"),
                            help="inferno and viridis are perceptually uniform; jet is the paper's")
    st.subheader(KernelSHAP.display_name)
    paper = KernelSHAP.PAPER_NSAMPLES
    nsamples = st.number_input(
        "Samples per image", min_value=50, max_value=100_000,
        value=state.method_params(suite, KernelSHAP.name)["nsamples"], step=100,
        key="shap_nsamples",
        help=f"Coalitions evaluated per image (the paper's {paper}). Part of the cache key: "
        "maps computed with another value are not shown. On a CPU, a 75-128 px image "
        f"takes seconds to a minute at {paper}; precompute a whole suite with "
        f"`dermviz explain --method {KernelSHAP.name} --workers N`.",
    )
    reference = st.selectbox(
        "Hidden superpixels show", BACKGROUNDS, format_func=lambda r: SHAP_REFERENCES.get(r, r),
        index=BACKGROUNDS.index(KernelSHAP.PAPER_REFERENCE), key="shap_reference",
        help="The reference KernelSHAP explains against: values sum to f(image) - "
        "f(reference). A model that scores white like the lesion leaves a white-reference "
        f"map almost nothing to distribute (gap < {DEGENERATE_GAP}): such maps are not "
        "coloured. Part of the cache key.",
    )
    sampler = st.selectbox(
        "Sampler", SAMPLERS, format_func=lambda s: SHAP_SAMPLERS.get(s, s),
        index=SAMPLERS.index(KernelSHAP.PAPER_SAMPLER), key="shap_sampler",
        help="How coalitions are drawn. Leverage SHAP (Musco and Witter, ICLR 2025) is "
        "more accurate per sample and stores an error estimate with each map; see "
        "docs/shap-convergence.md. Part of the cache key.",
    )
    scheme = st.radio("SHAP colours", list(SHAP_SCHEMES), format_func=SHAP_SCHEMES.get)
    scale = st.radio("SHAP scale", list(SHAP_SCALES), format_func=SHAP_SCALES.get,
                     help="Per-image scaling makes every map look equally strong; a shared "
                     "scale keeps the members comparable.")

row = holdout[holdout["image_id"] == image_id].iloc[0]
img = state.image(suite, image_id)
evidence = state.evidence_masks(suite, image_id)  # None unless an evidence-mode suite
with st.sidebar:
    show_evidence = clinic.evidence_toggle(evidence, key="saliency_evidence")


def _with_evidence(overlay: np.ndarray) -> np.ndarray:
    return clinic.with_evidence(overlay, evidence, show=show_evidence)


st.subheader(f"Test image #{row.test_index}: {image_id}")
st.write(f"Ground truth: **{'melanoma' if row.y == 1 else 'naevus'}**")

if not members:
    st.image(_with_evidence(img), caption="input", width=256)
    st.info("Choose one or more members in the sidebar.")
    st.stop()

SHAP = KernelSHAP.name
shap_params = state.method_params(suite, SHAP, nsamples=int(nsamples), reference=reference,
                                  sampler=sampler)
cam_params = state.method_params(suite, cam_method, layer=layer) if cam_method else None
shap = state.stored_maps(suite, tuple(members), image_id, SHAP, shap_params)
missing = [m for m in members if shap[m] is None]


def _degenerate(maps) -> bool:
    gap = shap_gap(maps)
    return gap is not None and gap < DEGENERATE_GAP


# Degenerate maps are not drawn in colour, so they do not set the shared scale either.
present = [shap[m].maps[0] for m in members if shap[m] is not None and not _degenerate(shap[m])]
common_vmax = shared_vmax(present) if present and scale == "shared" else None


def _klass(target: int) -> str:
    return "melanoma" if target else "naevus"


jobs = {m: state.map_job(suite, m, image_id, SHAP, shap_params) for m in missing}
polling = any(j is not None and j.state in ("queued", "running") for j in jobs.values())


@st.fragment(run_every=state.POLL_SECONDS if polling else None)
def shap_pending(member: str) -> None:
    """A not-yet-computed KernelSHAP map: a compute button, then progress while it runs.

    The map is computed in a background thread; only this fragment polls it,
    the rest of the page stays usable. When it is done the page redraws once.
    """
    job = state.map_job(suite, member, image_id, SHAP, shap_params)
    if job is not None and job.state == "done":
        if state.stored_maps(suite, (member,), image_id, SHAP, shap_params)[member]:
            st.rerun()  # the map is in the store now: redraw the page once
        state.forget_job(job)  # done, but the map has left the store since: offer it again
        job = None
    if job is None or job.state == "failed":
        if job is not None:
            st.error(f"{KernelSHAP.display_name} failed: {job.error}")
        st.caption(f"Not computed yet ({nsamples} samples).")
        label = f"Compute {KernelSHAP.display_name}"
        if st.button(label, key=f"shap-{member}-{image_id}-{nsamples}"):
            state.submit_map(suite, member, image_id, SHAP, shap_params)
            st.rerun()  # start polling
        return
    expected = state.map_jobs().expected_seconds(job)
    if job.state == "queued":
        st.progress(0.0, text=f"KernelSHAP for {member}: queued")
    elif expected:
        st.progress(min(job.elapsed / expected, 0.99),
                    text=f"KernelSHAP for {member}: {job.elapsed:.0f} s of ~{expected:.0f} s")
    else:
        with st.status(f"KernelSHAP for {member}: running, {job.elapsed:.0f} s", state="running"):
            st.write(f"{nsamples} coalitions of ~{shap_params['n_segments']} superpixels, "
                     f"{suite.image_size} px")


def shap_map(member: str, maps) -> None:
    """One stored KernelSHAP map with its reference gap; a degenerate one is not coloured.

    Per-image scaling would paint a map that distributes almost nothing in full
    colour, so such a map is shown as the grey image with a warning; its colours are
    one toggle away, on its own (tiny) scale, labelled as noise.
    """
    gap, klass = shap_gap(maps), _klass(maps.target_class[0])
    extras = maps.extras
    text = None
    if gap is not None:
        base_label = SHAP_REFERENCE_VALUES.get(reference, "f(reference)")
        st.caption(f"f(image) = {float(extras['f_x'][0]):.3f}, {base_label} = "
                   f"{float(extras['base_value'][0]):.3f}: **gap {gap:.3f}**")
        text = gap_warning(float(extras["f_x"][0]), float(extras["base_value"][0]))
    own_vmax = per_image_vmax(maps.maps[0])
    if text is None:
        vmax = common_vmax if common_vmax is not None else own_vmax
        st.image(_with_evidence(diverging_overlay(img, maps.maps[0], vmax=vmax, alpha=opacity,
                                                  scheme=scheme)),
                 width="stretch", caption=f"explains {klass}; scale ±{vmax:.2g}")
    else:
        grey = np.repeat(np.asarray(img, np.float32).mean(-1, keepdims=True), 3, -1)
        st.image(grey.astype(np.uint8), width="stretch",
                 caption=f"explains {klass}; not coloured: gap {gap:.4f} < {DEGENERATE_GAP}")
        st.warning(text, icon="⚠️")
        if st.toggle("Colour it anyway", key=f"shap-noise-{member}-{image_id}-{reference}"):
            st.image(diverging_overlay(img, maps.maps[0], vmax=own_vmax, alpha=opacity,
                                       scheme=scheme),
                     width="stretch", caption=f"its own scale ±{own_vmax:.2g}: noise")
    st.caption(error_note(maps.extras))
    for warning in maps.warnings:
        if warning != text:  # the stored copy of the gap warning, shown above
            st.warning(warning, icon="⚠️")


if evidence is None:
    st.image(img, caption="input", width=256)
else:
    without = state.evidence_counterfactual(suite, image_id)
    cols = st.columns([1, 1, 2])
    cols[0].image(_with_evidence(img), width=256,
                  caption="input, evidence outlined: " + clinic.structure_names(evidence))
    cols[1].image(without["without_evidence"], width=256, caption="without the evidence")
    with cols[2]:
        st.dataframe(without["table"][["member", "p_image", "p_without", "drop"]],
                     hide_index=True)
        st.caption(without["sentence"])
idle = [m for m in missing if jobs[m] is None or jobs[m].state == "failed"]
if len(idle) > 1 and st.button(f"Compute KernelSHAP for the {len(idle)} members without a map",
                               key="shap-all"):
    for member in idle:
        state.submit_map(suite, member, image_id, SHAP, shap_params)
    st.rerun()

head = st.columns([1, 2, 2])
head[0].markdown("**Member**")
head[1].markdown(f"**{CAM.display_name}** on `{layer}`" if cam_method else
                 f"**No CAM**: {no_cam}")
head[2].markdown(f"**{KernelSHAP.display_name}**, {nsamples} samples, "
                 f"reference `{reference}`, sampler `{sampler}`")
mine = verdicts[verdicts["image_id"] == image_id].set_index("member")
cam = None
for member in members:
    v = mine.loc[member]
    verdict_col, cam_col, shap_col = st.columns([1, 2, 2])
    mark = "✅" if v["correct"] else "❌"
    verdict_col.markdown(f"**{member}**  \n{mark} **{v['verdict']}**  \n"
                         f"p(melanoma) = {v['p_melanoma']:.2f} (threshold {v['threshold']:.2f})")
    if cam_method is not None:
        with st.spinner(f"{CAM.display_name} for {member}..."):
            cam = state.saliency(suite, member, image_id, cam_method, cam_params)
        cam_col.image(_with_evidence(cam_overlay(img, cam.maps[0], alpha=opacity, cmap=cmap)),
                      width="stretch", caption=f"explains {_klass(cam.target_class[0])}")
        for warning in cam.warnings:
            cam_col.warning(warning, icon="⚠️")
    maps = shap[member]
    with shap_col:
        if maps is None:
            shap_pending(member)
            continue
        shap_map(member, maps)

notes = []
if cam is not None and cam.grid:
    notes.append(f"{CAM.display_name} on `{layer}`: a {cam.grid[0]}x{cam.grid[1]} grid "
                 f"upsampled to {suite.image_size} px; brighter = more evidence for the "
                 "explained class (each member's predicted class).")
notes.append(
    "KernelSHAP: SLIC superpixels, hidden ones showing "
    f"{SHAP_REFERENCES.get(reference, reference)}; values are changes in the explained "
    "class's probability against that reference and sum to the gap f(image) - f(reference); "
    f"maps with a gap below {DEGENERATE_GAP} are greyed. "
    + ("Green raises it, red lowers it; opacity grows with |value|. " if scheme == "paper"
       else "Red raises it, blue lowers it, white is zero. ")
    + ("One scale for all members shown (largest |value| among them), so colours compare."
       if scale == "shared" else
       "Each map on its own scale (its largest |value|): colours do not compare across members.")
)
st.caption("  \n".join(notes))
