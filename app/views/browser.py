"""Lesion browser: a paged grid of hold-out thumbnails, filtered and sorted; the filter
lives in the URL so a view can be shared and reloaded."""

import streamlit as st

from app import state
from dermviz.api import (
    CLASSES,
    METADATA_FILTERS,
    MISSED_MELANOMAS,
    MISSES_EVIDENCE,
    SORT_KEYS,
    UNUSUAL,
    LesionFilter,
    n_scored,
    paginate,
)

PER_ROW = 6
PAGE_SIZES = (24, 48, 96)
SORT_LABELS = {
    "n_wrong": "members wrong", "mean_p": "mean p(melanoma)", "sd_p": "spread of p(melanoma)",
    "frac_against": "disagreement", "test_index": "test index", "age": "age",
}
ANY = "any"
#: Widget keys of the filter, all prefixed so a URL change can reset them at once.
KEY = "browser_"

st.title("Lesion browser")
suite = state.require_trained_suite()
table = state.browser_table(suite)
#: The "maps miss the lesion" filter needs stored GradCAM maps of masked images.
scored = n_scored(table, method="gradcam")
n_members = int(table["n_members"].max())
#: The "maps miss the evidence" filter: evidence-mode synthetic suites only.
has_evidence = MISSES_EVIDENCE in table.columns
#: The "unusual for this suite" filter needs the suite's prepared safety data.
has_ood = UNUSUAL in table.columns
metadata = [name for name in METADATA_FILTERS if name in table.columns]
sort_keys = [k for k in SORT_KEYS if k in table.columns]


def _from_url() -> None:
    """Set the widgets from the URL (first visit, reload, a shared link, one-click views)."""
    flt, notes = LesionFilter.from_query(st.query_params.to_dict())
    st.session_state[KEY + "notes"] = notes
    s = st.session_state
    s[KEY + "true_class"] = flt.true_class or ANY
    s[KEY + "verdict"] = flt.verdict or ANY
    s[KEY + "wrong"] = (min(flt.min_wrong, n_members),
                        n_members if flt.max_wrong is None else min(flt.max_wrong, n_members))
    s[KEY + "consistent_only"] = flt.consistent_only
    s[KEY + "p"] = (flt.p_min, flt.p_max)
    s[KEY + "min_disagreement"] = flt.min_disagreement
    if flt.misses_lesion and not scored:
        notes.append("ignored misses_lesion: no stored GradCAM map to score")
    s[KEY + "misses_lesion"] = flt.misses_lesion and bool(scored)
    if flt.misses_evidence and not (has_evidence and scored):
        notes.append("ignored misses_evidence: this suite's images carry no evidence mask, "
                     "or no GradCAM map is stored")
    s[KEY + "misses_evidence"] = flt.misses_evidence and has_evidence and bool(scored)
    if flt.unusual_only and not has_ood:
        notes.append("ignored unusual_only: the suite's unusual-image check is not prepared")
    s[KEY + "unusual_only"] = flt.unusual_only and has_ood
    for name in metadata:
        s[KEY + name] = [v for v in getattr(flt, name) if v in _options(name)]
    s[KEY + "sort"] = flt.sort if flt.sort in sort_keys else sort_keys[0]
    s[KEY + "descending"] = flt.descending
    s[KEY + "per_page"] = _int_param("per_page", PAGE_SIZES[0], PAGE_SIZES)
    s[KEY + "page"] = _int_param("page", 1)
    s[KEY + "synced"] = st.query_params.to_dict()


def _int_param(name: str, default: int, allowed: tuple[int, ...] | None = None) -> int:
    try:
        value = int(st.query_params.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 and (allowed is None or value in allowed) else default


def _options(name: str) -> list[str]:
    return sorted(table[name].dropna().astype(str).unique())


def _show(flt: LesionFilter) -> None:
    """A one-click view: replace the URL; the next run sets the widgets from it."""
    st.query_params.from_dict(flt.to_query())


# Widgets' state is dropped when the user visits another page: rebuild it then too.
if (st.session_state.get(KEY + "synced") != st.query_params.to_dict()
        or KEY + "p" not in st.session_state):
    _from_url()

with st.sidebar:
    st.button("Missed melanomas", on_click=_show, args=(MISSED_MELANOMAS,), type="primary",
              help="Melanomas the suite's majority vote calls naevi.", width="stretch")
    st.button("Clear filters", on_click=_show, args=(LesionFilter(),), width="stretch")
    true_class = st.selectbox("True class", [ANY, *CLASSES], key=KEY + "true_class")
    verdict = st.selectbox("Suite verdict (majority vote)", [ANY, *CLASSES], key=KEY + "verdict")
    if n_members > 1:
        wrong = st.slider("Members wrong", 0, n_members, key=KEY + "wrong")
    else:
        wrong = (0, n_members)
    consistent = st.checkbox("Consistently misclassified only", key=KEY + "consistent_only",
                             help="Wrong in at least the paper's share of members (25 of 30).")
    p_range = st.slider("Mean p(melanoma)", 0.0, 1.0, step=0.05, key=KEY + "p")
    disagreement = st.slider("Disagreement: at least this share of members against the vote",
                             0.0, 0.5, step=0.05, key=KEY + "min_disagreement")
    misses = st.checkbox(
        "GradCAM misses the lesion", key=KEY + "misses_lesion", disabled=not scored,
        help="The members' mean GradCAM mass on the lesion is no more than chance (the "
             "lesion's share of the image; a flat map's), or the map's peak is off the "
             "lesion for most members.")
    if not scored:
        st.caption("No stored GradCAM maps of masked hold-out images yet: compute them with "
                   "`dermviz explain` (the demo build does) to filter on them.")
        st.button("Re-read the stored maps", on_click=state.browser_table.clear)
    elif scored < len(table):
        st.caption(f"Maps scored for {scored} of {len(table)} lesions.")
    misses_evidence = False
    if has_evidence:
        misses_evidence = st.checkbox(
            "GradCAM misses the evidence", key=KEY + "misses_evidence", disabled=not scored,
            help="Synthetic evidence benchmark: the members' mean GradCAM mass on the "
                 "structures that decide the class is no more than chance (their share of "
                 "the image; a flat map's), or the map's peak is off them for most members.")
    unusual = st.checkbox(
        "Unusual for this suite", key=KEY + "unusual_only", disabled=not has_ood,
        help="Images unlike the suite's training images: beyond the hold-out's 99th "
             "percentile of the out-of-distribution score; their verdicts are not reliable.")
    if has_ood:
        st.caption(f"{int(table[UNUSUAL].sum())} of {len(table)} lesions are unusual for "
                   "this suite.")
    else:
        st.caption("The unusual-image check is being prepared (open a Case page to see its "
                   "progress).")
    chosen = {name: st.multiselect(name.replace("_", " ").capitalize(), _options(name),
                                   key=KEY + name) for name in metadata}
    sort = st.selectbox("Sort by", sort_keys, format_func=SORT_LABELS.get, key=KEY + "sort")
    descending = st.toggle("Largest first", key=KEY + "descending")
    per_page = st.selectbox("Per page", PAGE_SIZES, key=KEY + "per_page")

flt = LesionFilter(
    true_class=None if true_class == ANY else true_class,
    verdict=None if verdict == ANY else verdict,
    min_wrong=int(wrong[0]), max_wrong=None if wrong[1] >= n_members else int(wrong[1]),
    consistent_only=consistent, p_min=float(p_range[0]), p_max=float(p_range[1]),
    min_disagreement=float(disagreement), misses_lesion=bool(misses),
    misses_evidence=bool(misses_evidence),
    unusual_only=bool(unusual),
    **{name: tuple(values) for name, values in chosen.items()},
    sort=sort, descending=descending,
)
for note in st.session_state.get(KEY + "notes", []):
    st.warning(f"The link's filter was partly ignored: {note}", icon="⚠️")

shown = flt.apply(table)
pages_total = max(1, -(-len(shown) // per_page))
if st.session_state.get(KEY + "page", 1) > pages_total:
    st.session_state[KEY + "page"] = pages_total  # a narrower filter has fewer pages
top = st.columns([3, 1])
top[0].markdown(f"**{len(shown)} of {len(table)}** hold-out lesions match; "
                f"{n_members} members vote.")
page = top[1].number_input("Page", 1, pages_total, key=KEY + "page",
                           help=f"{pages_total} pages")
rows, _ = paginate(shown, page=page, per_page=per_page)

# Write the view back to the URL (only what differs from the defaults).
query = flt.to_query()
if page > 1:
    query["page"] = str(page)
if per_page != PAGE_SIZES[0]:
    query["per_page"] = str(per_page)
if query != st.query_params.to_dict():
    st.query_params.from_dict(query)
    st.session_state[KEY + "notes"] = []  # the user has moved on from the bad link
st.session_state[KEY + "synced"] = query

if rows.empty:
    st.info("No lesion matches this filter.")
    st.stop()

cards = list(zip(rows.itertuples(), state.thumbnails(suite, tuple(rows["image_id"])),
                 strict=True))
for start in range(0, len(cards), PER_ROW):
    for col, (row, thumb) in zip(st.columns(PER_ROW), cards[start:start + PER_ROW],
                                 strict=False):
        with col.container(border=True):
            mark = (":green[:material/check_circle:]" if row.majority_correct
                    else ":red[:material/cancel:]")
            st.image(thumb, width="stretch")
            st.markdown(f"**{row.true_class}** · #{row.test_index}  \n"
                        f"{mark} vote: {row.verdict}  \n"
                        f"{row.n_wrong}/{row.n_members} wrong · p̄ {row.mean_p:.2f}")
            st.page_link("views/case.py", label="Open case", help=row.image_id,
                         icon=":material/open_in_new:", query_params={"image": row.image_id})
st.download_button("Matching lesions (CSV)", shown.to_csv(index=False),
                   file_name=f"{suite.name}-lesions.csv", mime="text/csv")
