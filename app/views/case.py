"""Case: one hold-out lesion; the suite's vote, every member's p(melanoma), the chosen
members' GradCAM and KernelSHAP overlays with their share on the lesion, the consensus of
all members' maps, similar cases."""

import pandas as pd
import streamlit as st

from app import clinic, state
from dermviz import api
from dermviz.api import (
    EVIDENCE,
    GradCAM,
    KernelSHAP,
    case_report_html,
    error_note,
    localization_table,
    png_bytes,
)
from dermviz.explain.overlay import (
    cam_overlay,
    diverging_overlay,
    grey_out,
    outline_mask,
    per_image_vmax,
)

CAM, SHAP = GradCAM.name, KernelSHAP.name

st.title("Case")
suite = state.require_trained_suite()
lesions = state.lesions(suite).set_index("image_id")
by_index = lesions.sort_values("test_index")
labels = {i: f"#{r.test_index} {i} ({r.true_class})" for i, r in by_index.iterrows()}

wanted = st.query_params.get("image")
if wanted is not None and wanted not in lesions.index:
    st.warning(f"No hold-out image {wanted!r} in suite {suite.name!r}; choose one below.")
    wanted = None
ids = list(labels)
with st.sidebar:
    image_id = st.selectbox("Hold-out image", ids, format_func=labels.get,
                            index=ids.index(wanted) if wanted else 0)
    if image_id != wanted:
        st.query_params["image"] = image_id  # the page's URL names the case it shows
    members = st.multiselect("Members to explain", suite.member_ids,
                             default=suite.member_ids[:2], key="case_members")
    show_shap = st.toggle(f"Show {KernelSHAP.display_name}", value=True)
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="case_opacity")
    k = st.slider("Similar cases", 1, api.MAX_SIMILAR, 6, key="case_k")

row = lesions.loc[image_id]
mask = state.lesion_mask(suite, image_id)
evidence = state.evidence_masks(suite, image_id)  # None unless an evidence-mode suite
verdicts = state.verdict_table(suite)
mine = verdicts[verdicts["image_id"] == image_id]
table = clinic.members_table(mine["p_melanoma"], mine["threshold"], mine["member"].tolist())

st.subheader(f"Test image #{row.test_index}: {image_id}")
left, middle, right = st.columns([1, 1.3, 1.3])
with left:
    original = state.original_image(suite, image_id)
    st.image(original, caption=f"{original.shape[1]}x{original.shape[0]} px, as stored")
    meta = {"true class": row.true_class, "n members wrong": f"{row.n_wrong} of {row.n_members}"}
    meta |= {c: row[c] for c in ("dx", "age", "sex", "localization", "dx_type")
             if c in row.index and pd.notna(row[c])}
    st.table(pd.Series(meta, name="value").astype(str))
safety = state.suite_safety(suite)
ood = None
if safety is not None:
    ood = state.holdout_ood(suite, api.safety_version(suite)).set_index("image_id").loc[image_id]
with middle:
    clinic.show_unusual(ood)
    clinic.show_vote(table, suite)
    st.plotly_chart(clinic.probability_chart(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Members (CSV)", table.to_csv(index=False), on_click="ignore",
                       file_name=f"{image_id}-members.csv", mime="text/csv")
with right:
    st.markdown(f"**{k} most similar training lesions**")
    similar = state.calibrated_similar(suite, image_id, k)
    if similar is None:
        clinic.safety_pending(suite)
    else:
        clinic.show_similar(suite, similar)

st.subheader("Without the lesion")
removed = state.case_counterfactual(suite, image_id)
# images fill their columns: a fixed OVERLAY_WIDTH overflows a quarter of the page
cols = st.columns([1, 1, 2])
cols[0].image(removed["original"], caption="as the members see it",
              width="stretch")
cols[1].image(removed["lesion_removed"], caption="lesion removed (inpainted)",
              width="stretch")
with cols[2]:
    st.dataframe(removed["table"], hide_index=True)
    if removed["table"]["survives"].any():
        st.warning(removed["sentence"], icon=":material/visibility_off:")
    else:
        st.caption(removed["sentence"])
st.caption("The lesion, grown by a margin, filled in from the surrounding skin (OpenCV's "
           "Telea inpainting)" + (", a centred ellipse standing in for the lesion: this image "
                                  "has no mask" if removed["uses_ellipse"] else "")
           + ". A verdict that survives this did not need the lesion (docs/confounders.md).")

if evidence is not None:
    st.subheader("Without the evidence")
    without = state.evidence_counterfactual(suite, image_id)
    cols = st.columns([1, 1, 2])
    cols[0].image(clinic.with_evidence(without["image"], evidence),
                  caption="the evidence outlined: " + clinic.structure_names(evidence),
                  width="stretch")
    cols[1].image(without["without_evidence"], caption="the same image without the evidence",
                  width="stretch")
    with cols[2]:
        st.dataframe(without["table"], hide_index=True)
        st.caption(without["sentence"])
    st.caption("A synthetic evidence-benchmark image: its class is carried only by the "
               "outlined structures (melanoma-specific ones from the 7-point checklist, or "
               "their benign look-alikes), rendered again here without them "
               "(docs/evidence-benchmark.md).")

st.subheader("What the members looked at")
if not members:
    st.info("Choose members to explain in the sidebar.")
    st.stop()
outline = st.toggle("Lesion outline", value=mask is not None, disabled=mask is None,
                    key="case_outline",
                    help="The lesion mask's border" if mask is not None
                    else "This image has no lesion mask.")
show_evidence = clinic.evidence_toggle(evidence, key="case_evidence")
signed = st.toggle(clinic.SIGNED_TOGGLE, value=False, key="case_signed",
                   help=clinic.SIGNED_HELP)
img = state.image(suite, image_id)
# A model without a feature layer (an imported one) gets no CAM (api.applicable_methods).
cams_apply = api.applicable_methods(suite)[CAM] is None
cam_params = state.method_params(suite, CAM) if cams_apply else None
shap_params = state.method_params(suite, SHAP)
shap = state.stored_maps(suite, tuple(members), image_id, SHAP, shap_params) if show_shap else {}
polling = any((j := state.map_job(suite, m, image_id, SHAP, shap_params)) is not None
              and j.state in ("queued", "running") for m in members if shap.get(m) is None)


@st.fragment(run_every=state.POLL_SECONDS if polling else None)
def shap_pending(member: str) -> None:
    """No stored KernelSHAP map yet: a button that computes it in the background, then
    its progress; the page redraws once the map is stored."""
    job = state.map_job(suite, member, image_id, SHAP, shap_params)
    if job is not None and job.state == "done":
        state.forget_job(job)
        st.rerun()
    if job is None or job.state == "failed":
        if job is not None:
            st.error(f"{KernelSHAP.display_name} failed: {job.error}")
        if st.button(f"Compute {KernelSHAP.display_name}", key=f"case-shap-{member}-{image_id}",
                     help=f"{shap_params['nsamples']} samples; runs in the background"):
            state.submit_map(suite, member, image_id, SHAP, shap_params)
            st.rerun()
        return
    st.progress(0.0 if job.state == "queued" else 0.5,
                text=f"{KernelSHAP.display_name} for {member}: {job.state}, {job.elapsed:.0f} s")


def _outlined(overlay):  # noqa: ANN001, ANN202 - a page-local helper
    if outline and mask is not None:
        overlay = outline_mask(overlay, mask)
    return clinic.with_evidence(overlay, evidence, show=show_evidence)


overlays = {}  # caption -> overlay, for the report
scores = []
for member in members:
    cols = st.columns([1, 2, 2])
    member_row = table[table["member"] == member].iloc[0]
    cols[0].markdown(f"**{member}**  \ncalls **{member_row.call}**  \n"
                     f"p(melanoma) {member_row.p_melanoma:.2f} "
                     f"(threshold {member_row.threshold:.2f})")
    shown, maps_to_score = {}, []
    if cams_apply:
        cam = state.saliency(suite, member, image_id, CAM, cam_params)
        shown = dict([clinic.gradcam_shown(img, cam, member, signed=signed, opacity=opacity)])
        maps_to_score = [(GradCAM, cam)]
    maps = shap.get(member)
    shap_note = None
    if maps is not None:
        name = f"{KernelSHAP.display_name} {member}"
        if api.is_degenerate_map(maps.maps[0]):
            shown[name] = api.degenerate_map_sentence(KernelSHAP.display_name, signed=True)
        else:
            values, keep, shap_note = api.shap_display(maps)
            overlay = diverging_overlay(img, values, vmax=per_image_vmax(maps.maps[0]),
                                        alpha=opacity)
            shown[name] = overlay if keep is None else grey_out(overlay, img, keep)
        maps_to_score.append((KernelSHAP, maps))
    elif show_shap:
        with cols[2]:
            shap_pending(member)
    for col, (name, overlay) in zip(cols[1:], shown.items(), strict=False):
        if isinstance(overlay, str):  # an empty or constant map: said, not painted
            col.info(f"**{name}**: {overlay}", icon=":material/block:")
            continue
        overlay = _outlined(overlay)
        overlays[name] = overlay
        col.image(overlay, caption=name, width=clinic.OVERLAY_WIDTH)
        col.download_button("PNG", lambda o=overlay: png_bytes(o), on_click="ignore",
                            file_name=f"{image_id}-{name.replace(' ', '-')}.png",
                            mime="image/png", key=f"png-{name}")
    if maps is not None:
        cols[2].caption(error_note(maps.extras) + (f" {shap_note}" if shap_note else ""))
    regions = {"lesion": mask, "evidence": None if evidence is None else evidence[EVIDENCE]}
    scores += [localization_table(m.maps, region[None], image_ids=[image_id],
                                  signed=method.signed, scores=["mass"],
                                  labels={"member": member, "method": method.display_name,
                                          "region": name})
               for name, region in regions.items() if region is not None
               for method, m in maps_to_score]

if scores:
    st.markdown("**Share of each map's mass on the lesion**" + (
        " and on the evidence" if evidence is not None else ""))
    frame = pd.concat(scores, ignore_index=True)[["member", "method", "region", "mass",
                                                  "chance", "mass_gaussian"]]
    st.dataframe(frame.rename(columns={"mass": "share of mass", "chance": "chance (area)",
                                       "mass_gaussian": "centred Gaussian"}), hide_index=True)
    st.caption("Chance is the region's share of the image (a uniform map); the centred "
               "Gaussian looks at no image and already beats chance, because lesions sit near "
               "the centre. KernelSHAP is scored on its positive part (evidence for the "
               "explained class).")
not_applicable = {m: why for m, why in api.applicable_methods(suite).items() if why}
st.caption(f"The gradient methods explain {api.explained_score(suite)}."
           + (" Not applicable to this suite's model: " + "; ".join(
               f"{api.get_explainer(m).display_name} ({why})" for m, why in not_applicable.items())
              if not_applicable else ""))
st.caption((f"{GradCAM.display_name} on `{cam_params['layer']}`, " if cams_apply else "")
           + ("signed: red raises, blue lowers the member's score for its predicted class. "
              if signed else "brighter = more evidence for the member's predicted class. ")
           + f"{KernelSHAP.display_name}: green raises, red lowers "
           "the explained class's probability, each map on its own scale.")


st.subheader("Consensus over members")
st.caption(f"All {len(suite.member_ids)} members' maps of this image, each scaled to its own "
           "peak first (members differ in scale). Spread: the members' standard deviation "
           "(full colour: members split all-or-nothing). Disagreement: the spread as a share "
           "of the largest possible at that mean, faint background left out.")
agreeing = {CAM: tuple(suite.member_ids)} if cams_apply else {}
if show_shap:
    stored = state.stored_maps(suite, tuple(suite.member_ids), image_id, SHAP, shap_params)
    agreeing[SHAP] = tuple(m for m, found in stored.items() if found is not None)
for method in (GradCAM, KernelSHAP):
    among = agreeing.get(method.name, ())
    if method is KernelSHAP and show_shap and len(among) < 2:
        st.info(f"{KernelSHAP.display_name} consensus: {len(among)} member(s) have a stored "
                "map of this image; it needs at least 2.")
    if len(among) < 2:
        continue
    params = cam_params if method is GradCAM else shap_params
    consensus = state.consensus(suite, image_id, method.name, params, among)
    if isinstance(consensus, str):  # fewer than 2 members with a map that shows something
        st.info(f"{method.display_name} consensus: {consensus}")
        continue
    numbers = consensus.summary()
    cols = st.columns([1, 2, 2, 2])
    cols[0].markdown(
        f"**{method.display_name}**, {numbers['members']} members  \n"
        f"mean Spearman {numbers['mean_spearman']:.2f}  \n"
        f"mean SSIM {numbers['mean_ssim']:.2f}  \n"
        f"disagreeing pixels {numbers['disagreement_share']:.0%}")
    if consensus.skipped:
        cols[0].caption(consensus.skipped_note)
    mean = (diverging_overlay(img, consensus.mean, vmax=1.0, alpha=opacity) if method.signed
            else cam_overlay(img, consensus.mean, alpha=opacity))
    shown = {
        f"{method.display_name} mean over members": mean,
        f"{method.display_name} spread over members": cam_overlay(
            img, consensus.spread / consensus.spread_max, alpha=opacity),
        f"{method.display_name} disagreement": cam_overlay(img, consensus.disagreement,
                                                          alpha=opacity),
    }
    for col, (name, overlay) in zip(cols[1:], shown.items(), strict=True):
        overlay = _outlined(overlay)
        overlays[name] = overlay
        col.image(overlay, caption=name, width=clinic.OVERLAY_WIDTH)
    with st.expander(f"{method.display_name}: agreement of every two members"):
        st.dataframe(consensus.pairs, hide_index=True)


def _report() -> str:
    return case_report_html(
        image=original, image_id=image_id, predictions=table, overlays=overlays,
        similar=similar, metadata=meta, warnings=[w for w in (state.chance_warning(suite),) if w],
        similar_images=None if similar is None else dict(zip(
            similar["image_id"], state.thumbnails(suite, tuple(similar["image_id"])),
            strict=True)),
        title=f"dermviz case report: {suite.name}, test image #{row.test_index}",
    )


st.download_button("Case report (HTML)", _report, on_click="ignore", type="primary",
                   file_name=f"{image_id}-report.html", mime="text/html")
