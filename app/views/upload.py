"""New image: a user's dermoscopic JPEG or PNG; the suite's vote, each member's
p(melanoma), GradCAM overlays and similar training cases. The upload stays in memory."""

import hashlib

import streamlit as st

from app import clinic, state
from dermviz import api
from dermviz.api import (
    MAX_UPLOAD_BYTES,
    UPLOAD_FORMATS,
    GradCAM,
    UploadError,
    case_report_html,
    png_bytes,
)

st.title("New image")
suite = state.require_trained_suite()

with st.sidebar:
    members = st.multiselect("Members to explain", suite.member_ids,
                             default=suite.member_ids[:4], key="upload_members")
    opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.5, 0.05, key="upload_opacity")
    k = st.slider("Similar cases", 1, api.MAX_SIMILAR, 6, key="upload_k")

# No `type=` filter and a server limit above ours: the widget would refuse a wrong type
# or a large file with a red icon and no words; api.upload_image says why instead.
upload = st.file_uploader(
    "A dermoscopic image", key="upload",
    help=f"{', '.join(sorted(UPLOAD_FORMATS))} up to {MAX_UPLOAD_BYTES // 2**20} MB. It is "
    "kept in memory for this session only: never written to disk, never added to the suite.",
)
if upload is None:
    st.info("Upload a dermoscopic JPEG or PNG to see what the suite makes of it.")
    st.stop()
data = upload.getvalue()
try:
    original, img = api.upload_image(data, filename=upload.name, size=suite.image_size)
except UploadError as err:
    st.error(f"{upload.name}: {err}", icon="🚫")
    st.stop()

digest = hashlib.sha256(data).hexdigest()
cam_params = state.method_params(suite, GradCAM.name)
with st.spinner("Running the members..."):
    # GradCAM's pass also gives each member's p(melanoma): every member votes.
    cams = {m: state.upload_saliency(suite, m, digest, GradCAM.name, cam_params, img)
            for m in suite.member_ids}
table = clinic.members_table([float(c.p_melanoma[0]) for c in cams.values()],
                             [suite.threshold(m) for m in cams], list(cams))

safety = state.suite_safety(suite)
version = api.safety_version(suite)
ood = None if safety is None else state.upload_ood(suite, digest, version, img).iloc[0]

left, middle, right = st.columns([1, 1.3, 1.3])
with left:
    st.image(original, caption=f"{upload.name}, {original.shape[1]}x{original.shape[0]} px")
    st.caption(f"The members see it squashed to {suite.image_size}x{suite.image_size} px, "
               "as their training images were.")
with middle:
    clinic.show_unusual(ood)
    clinic.show_vote(table, suite)
    st.plotly_chart(clinic.probability_chart(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Members (CSV)", table.to_csv(index=False), on_click="ignore",
                       file_name="upload-members.csv", mime="text/csv")
with right:
    st.markdown(f"**{k} most similar training lesions**")
    if safety is None:
        similar = None
        clinic.safety_pending(suite)
    else:
        similar = state.upload_similar(suite, digest, k, version, img)
        clinic.show_similar(suite, similar)

st.subheader(f"What the members looked at ({GradCAM.display_name} on `{cam_params['layer']}`)")
signed = st.toggle(clinic.SIGNED_TOGGLE, value=False, key="upload_signed",
                   help=clinic.SIGNED_HELP)
shown = dict(clinic.gradcam_shown(img, cams[m], m, signed=signed, opacity=opacity)
             for m in members)
overlays = {name: o for name, o in shown.items() if not isinstance(o, str)}
for col, (name, overlay) in zip(st.columns(max(3, len(shown))), shown.items(),
                                strict=False):
    if isinstance(overlay, str):  # an empty or constant map: said, not painted
        col.info(f"**{name}**: {overlay}", icon=":material/block:")
        continue
    col.image(overlay, caption=name, width=clinic.OVERLAY_WIDTH)
    col.download_button("PNG", lambda o=overlay: png_bytes(o), on_click="ignore",
                        file_name=f"upload-{name.replace(' ', '-')}.png", mime="image/png",
                        key=f"png-{name}")
st.caption(("Red raises, blue lowers the member's score for its predicted class. " if signed
            else "Brighter = more evidence for the member's predicted class. ")
           + "KernelSHAP is offered for hold-out images only (the Case page): on a CPU it "
           "takes a minute per map.")

st.download_button(
    "Case report (HTML)", on_click="ignore", type="primary", file_name="upload-report.html",
    mime="text/html",
    data=lambda: case_report_html(
        image=original, image_id=upload.name, predictions=table, overlays=overlays,
        similar=similar, metadata={"file": upload.name, "suite": suite.name},
        warnings=[w for w in (state.chance_warning(suite),) if w],
        similar_images=None if similar is None else dict(zip(
            similar["image_id"], state.thumbnails(suite, tuple(similar["image_id"])),
            strict=True)),
        title=f"dermviz case report: an uploaded image, suite {suite.name}",
    ),
)
