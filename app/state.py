"""Cached access to :mod:`dermviz.api` for the pages.

Thin wrappers: each calls one API function. A suite is opened once per version
(``st.cache_resource``, keyed by its folder and its ``suite.json`` stamp) and passed
as an object; the members and data set it loads stay with it. ``st.cache_data``
keys a suite by its folder and manifest (so a landed member recomputes), never
by arrays.

Failures a user can cause (a suite gone, a broken member file, a moved data
folder, a damaged store entry or study) end in ``st.error``/``st.warning`` with
what to do, never in a traceback.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np
import pandas as pd
import streamlit as st

from dermviz import api
from dermviz.api import (
    DamagedFileWarning,
    MemberModelError,
    SaliencyMaps,
    StudyDamagedError,
    StudyInfo,
    Suite,
)

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]

#: How often a panel waiting on background work (a KernelSHAP map, the demo build) redraws.
#: Each poll reruns a fragment, about 0.1 s of the server's CPU and GIL: polling every
#: second took 10% from the map it waited for on a 2-core machine (bench_polling.py).
POLL_SECONDS = 2.0
#: How ``st.cache_data`` keys a suite: its folder and manifest (what a landed member changes).
BY_SUITE = {Suite: lambda suite: (str(suite.path), suite.manifest)}


def models_dir() -> Path:
    """``$DERMVIZ_MODELS``, else the repository's ``models/``."""
    return Path(os.environ.get("DERMVIZ_MODELS", REPO_ROOT / "models"))


@st.cache_data(ttl=30, show_spinner=False)
def suite_names(root: str) -> list[str]:
    return api.suite_names(root)


def stop_with_error(message: str) -> NoReturn:
    """Show ``message`` as the page's error and end this run of the page."""
    st.error(message, icon=":material/error:")
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")  # for type checkers


def reporting_damage(compute: Callable[[], T]) -> T:
    """``compute()``, showing a notice for each damaged store file it met (and recomputed).

    The store reports a damaged entry with a :class:`DamagedFileWarning` that
    names the file (:meth:`dermviz.store.ArrayStore.get`).
    """
    # catch_warnings is process-wide: another session's warning met meanwhile shows here.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DamagedFileWarning)
        result = compute()
    for w in caught:
        if issubclass(w.category, DamagedFileWarning):
            st.warning(f"{w.message}", icon=":material/build:")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def with_members(compute: Callable[[], T]) -> T:
    """``compute()``; a missing or broken member file it meets stops the page with the
    message of :class:`MemberModelError` (which says how to retrain the member)."""
    try:
        return compute()
    except MemberModelError as exc:
        stop_with_error(str(exc))


# ----------------------------------------------------------------------------- suites


@st.cache_resource(show_spinner=False, max_entries=16)
def _opened(path: str, stamp: int) -> Suite:
    # A page request never waits for a precision measurement (about 20 s per member):
    # the members run the choice cached on this machine, else float32.
    return api.open_suite(path, measure_precision=False)


def open_by_name(name: str) -> Suite:
    """A suite of the models folder by name (never a path, so no choice can leave it),
    opened once per version of its ``suite.json``; a suite gone since the listing stops
    the page."""
    try:
        path = api.suite_path(models_dir(), name)
        return _opened(str(path), api.suite_stamp(path))
    except (FileNotFoundError, ValueError) as exc:  # deleted since the listing was cached
        suite_names.clear()
        stop_with_error(f"{exc}. Reload the page to choose another suite.")


def choose_suite() -> Suite | None:
    """Sidebar suite picker shared by all pages; None (with help shown) if there is none."""
    names = suite_names(str(models_dir()))
    if not names:
        st.info(
            f"No model suite found in `{models_dir()}`.\n\n"
            "Build the demo suite with the button on the **Home** page (it runs in the "
            "background), or from a terminal (synthetic data, minutes on a CPU):\n\n"
            "```bash\ndermviz demo\n```\n\n"
            "or train one on HAM10000:\n\n"
            "```bash\ndermviz train --data <your HAM10000 folder> --name ham128 "
            "--image-size 128\n```"
        )
        return None
    default = st.session_state.get("suite_name")
    if default is not None and default not in names:
        st.sidebar.warning(f"Suite {default!r} is no longer in `{models_dir()}`; "
                           "showing another one.")
        st.session_state.pop("suite_picker", None)  # a stale widget value is refused too
    index = names.index(default) if default in names else 0
    name = st.sidebar.selectbox("Suite", names, index=index, key="suite_picker")
    st.session_state["suite_name"] = name
    return open_by_name(name)


def require_trained_suite() -> Suite:
    """The chosen suite, or stop the page (with help shown) when there is none or it
    has no trained member yet."""
    suite = choose_suite()
    if suite is None:
        st.stop()
    if not suite.member_ids:
        st.info("This suite has no trained member yet.")
        st.stop()
    return suite


def load_model(suite: Suite, member: str) -> Any:
    """The member's model, loaded once per suite object (:func:`dermviz.api.load_model`);
    a missing or broken model file stops the page."""
    with st.spinner("Loading model..."):
        return with_members(lambda: api.load_model(suite, member))


def load_dataset(suite: Suite) -> Any:
    """The suite's data set, opened once per suite object; a moved data folder or a
    damaged metadata file stops the page with a message that says how to fix it."""
    try:
        return api.suite_dataset(suite)
    except (FileNotFoundError, ValueError) as exc:
        stop_with_error(f"Cannot load the data set of this suite: {exc}")


def _readable(suite: Suite) -> Suite:
    """``suite``, once its data set opens (else the page stops, see :func:`load_dataset`)."""
    load_dataset(suite)
    return suite


@st.cache_data(show_spinner=False, hash_funcs=BY_SUITE)
def holdout_table(suite: Suite) -> pd.DataFrame:
    return api.holdout(_readable(suite))


@st.cache_data(show_spinner=False, max_entries=512, hash_funcs=BY_SUITE)
def image(suite: Suite, image_id: str) -> np.ndarray:
    return api.image(_readable(suite), image_id)


@st.cache_data(show_spinner=False, hash_funcs=BY_SUITE)
def verdict_table(suite: Suite) -> pd.DataFrame:
    return api.verdicts(suite)


# ----------------------------------------------------------------------------- saliency maps


def method_params(suite: Suite, method: str, **overrides: Any) -> dict[str, Any]:
    """The full parameters (the store key) of ``method`` on this suite, with ``overrides``
    (:func:`dermviz.api.method_defaults`)."""
    return api.method_defaults(suite, method, **overrides)


def saliency(suite: Suite, member: str, image_id: str, method: str, params: dict[str, Any]
             ) -> SaliencyMaps:
    """One map (from the store, or computed and stored on a miss); a damaged
    stored map shows a notice and is recomputed."""
    return reporting_damage(lambda: _saliency(suite, member, image_id, method, params))


@st.cache_data(show_spinner=False, max_entries=2048, hash_funcs=BY_SUITE)
def _saliency(suite: Suite, member: str, image_id: str, method: str, params: dict[str, Any]
              ) -> SaliencyMaps:
    return with_members(lambda: api.saliency_map(_readable(suite), member, image_id,
                                                 method=method, params=params))


def stored_maps(suite: Suite, members: tuple[str, ...], image_id: str, method: str,
                params: dict[str, Any]) -> dict[str, SaliencyMaps | None]:
    """Maps already in the store for one image, by member (None: not computed).

    Not cached by Streamlit: a store read is milliseconds (see
    ``benchmarks/bench_store.py``), and a map computed in the background shows
    up on the next run without any cache to clear.
    """
    return reporting_damage(lambda: api.stored_maps(suite, members, image_id, method=method,
                                                    params=params))


@st.cache_data(show_spinner="Comparing the members' maps...", max_entries=256,
               hash_funcs=BY_SUITE)
def consensus(suite: Suite, image_id: str, method: str, params: dict[str, Any],
              members: tuple[str, ...]) -> api.Consensus | str:
    """:func:`dermviz.api.maps_consensus` of ``members``' maps of one image (pass only
    members whose maps are stored for slow methods such as KernelSHAP), empty or constant
    maps skipped; the reason, when fewer than 2 members are left."""
    def compute() -> api.Consensus | str:
        try:
            return api.maps_consensus(_readable(suite), image_id, method=method,
                                      params=params, members=members, skip_degenerate=True)
        except ValueError as err:
            return str(err)
    return with_members(compute)


@st.cache_resource(show_spinner=False)
def map_jobs() -> api.MapJobs:
    """The process-wide background computer of single maps (:class:`dermviz.api.MapJobs`)."""
    return api.MapJobs()


def submit_map(suite: Suite, member: str, image_id: str, method: str, params: dict[str, Any]
               ) -> api.Job:
    """Queue one map in the background, with the suite's loaded model and data set."""
    load_model(suite, member)  # here, so a broken member stops the page with its message
    return api.submit_map(map_jobs(), _readable(suite), member, image_id, method=method,
                          params=params)


def map_job(suite: Suite, member: str, image_id: str, method: str, params: dict[str, Any]
            ) -> api.Job | None:
    """The background job of one map, or None if none was submitted."""
    return api.map_job(map_jobs(), suite, member, image_id, method=method, params=params)


def forget_job(job: api.Job) -> None:
    """Drop a finished background job (so its map can be asked for again)."""
    map_jobs().forget([job])


# ----------------------------------------------------------------------------- sanity studies


def saved_studies(suite: Suite, kinds: tuple[str, ...]) -> list[StudyInfo]:
    """The suite's saved sanity studies of the given kinds, newest first.

    Not cached by Streamlit: listing reads one small JSON file per study, and a
    study saved from the command line shows up on the next run. Damaged studies
    are left out, each with a notice that says why and what to do; outdated ones
    (scored by an earlier dermviz) are left out with one notice.
    """
    studies = api.saved_studies(suite, kinds)
    for study in studies:
        if study.damaged:
            st.warning(study.damaged, icon=":material/build:")
    outdated = [study for study in studies if study.outdated and not study.damaged]
    if outdated:
        st.info(f"{len(outdated)} saved {'study was' if len(outdated) == 1 else 'studies were'} "
                "scored by an earlier version of dermviz whose scores have since changed, "
                "so not shown: run it again to see today's scores.",
                icon=":material/update:")
    return [study for study in studies if not study.damaged and not study.outdated]


def run_panel_or_stop(studies: list[StudyInfo], run_panel: Callable[[], None], *,
                      label: str, empty: str) -> None:
    """The page's run panel in an expander (open while there is no study), then, without
    any saved study, ``empty`` (what to run) and the page stops."""
    with st.expander(label, expanded=not studies):
        run_panel()
    if not studies:
        st.info(empty)
        st.stop()


def pick_saved_study(studies: list[StudyInfo], *, choice_key: str, key: str) -> StudyInfo:
    """A "Saved study" picker over ``studies`` (newest first), on the study a run just saved
    (its folder in ``st.session_state[choice_key]``) where listed. Keyed by that choice, so
    a new run is shown even when it was cached before."""
    folders = [str(s.folder) for s in studies]
    by_folder = {str(s.folder): s for s in studies}
    current = st.session_state.get(choice_key)
    folder = st.selectbox(
        "Saved study", folders, index=folders.index(current) if current in folders else 0,
        format_func=lambda f: by_folder[f].label, key=f"{key}_{current}",
    )
    return by_folder[folder]


def error_text(exc: BaseException) -> str:
    """A user's error as one message (a KeyError's own text, not its repr)."""
    return str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)


def load_saved_study(folder: str, created: str) -> Any:
    """A saved study (``created`` is part of the key, so a rerun is reloaded); a
    damaged one stops the page with a message naming the file."""
    try:
        return _load_saved_study(folder, created)
    except StudyDamagedError as exc:
        stop_with_error(str(exc))


@st.cache_data(show_spinner="Loading the study...", max_entries=32)
def _load_saved_study(folder: str, created: str) -> Any:
    return api.load_study(folder)


def run_check(suite: Suite, spec: Any, *, progress: Callable[[int, int, str], None]) -> Any:
    """:func:`dermviz.api.run_check` with the suite's loaded members and data set."""
    return with_members(lambda: api.run_check(_readable(suite), spec, progress=progress))


# ----------------------------------------------------------------------------- clinicians' views


@st.cache_data(show_spinner="Computing the suite's statistics...", max_entries=16,
               hash_funcs=BY_SUITE)
def suite_statistics(suite: Suite) -> dict[str, pd.DataFrame]:
    return api.statistics(suite)


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=BY_SUITE)
def chance_warning(suite: Suite) -> str | None:
    """:func:`dermviz.api.chance_warning`: the members no better than chance, or None."""
    return api.chance_warning(suite)


@st.cache_data(show_spinner="Reading the hold-out verdicts...", max_entries=16,
               hash_funcs=BY_SUITE)
def lesions(suite: Suite) -> pd.DataFrame:
    """:func:`dermviz.api.lesions`: verdicts with the data set's metadata."""
    return api.lesions(_readable(suite))


def browser_table(suite: Suite) -> pd.DataFrame:
    """:func:`dermviz.api.lesion_browser_table` of the stored GradCAM maps (nothing is
    computed). Re-read after 10 minutes, or on ``clear``, so maps stored after the suite
    (the demo build stores them last) show up; at once when the suite's safety data are
    prepared (its unusual-image column)."""
    return _browser_table(suite, api.safety_version(suite))


@st.cache_data(show_spinner="Scoring the stored GradCAM maps against the lesion masks...",
               max_entries=8, ttl=600, hash_funcs=BY_SUITE)
def _browser_table(suite: Suite, version: float) -> pd.DataFrame:
    return reporting_damage(lambda: api.lesion_browser_table(_readable(suite),
                                                             method="gradcam"))


browser_table.clear = _browser_table.clear  # the page's "Re-read the stored maps"


@st.cache_data(show_spinner="Comparing the suites...", max_entries=8, ttl=600,
               hash_funcs=BY_SUITE)
def suite_comparison(first: Suite, second: Suite) -> api.SuiteComparison:
    """:func:`dermviz.api.compare` of two suites (keyed by their manifests, so a retrained
    suite is compared anew)."""
    return reporting_damage(lambda: api.compare(first, second))


@st.cache_data(show_spinner=False, max_entries=256, hash_funcs=BY_SUITE)
def thumbnails(suite: Suite, image_ids: tuple[str, ...]) -> list[bytes]:
    """JPEG thumbnails, from the suite's ``thumbnails/`` cache (made once)."""
    return api.thumbnails(_readable(suite), image_ids)


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_SUITE)
def original_image(suite: Suite, image_id: str) -> np.ndarray:
    """The image at the data set's own resolution (not resized for the models)."""
    return api.original_image(_readable(suite), image_id)


@st.cache_data(show_spinner=False, max_entries=512, hash_funcs=BY_SUITE)
def lesion_mask(suite: Suite, image_id: str) -> np.ndarray | None:
    """The lesion mask at the suite's image size, or None where the image has none."""
    return api.lesion_mask(_readable(suite), image_id)


@st.cache_data(show_spinner=False, max_entries=512, hash_funcs=BY_SUITE)
def evidence_masks(suite: Suite, image_id: str) -> dict[str, np.ndarray] | None:
    """:func:`dermviz.api.evidence_masks`: the evidence at the suite's size, or None."""
    return api.evidence_masks(_readable(suite), image_id)


@st.cache_data(show_spinner="Rendering the image without its evidence and asking every "
               "member again...", max_entries=64, hash_funcs=BY_SUITE)
def evidence_counterfactual(suite: Suite, image_id: str) -> dict[str, Any] | None:
    """:func:`dermviz.api.evidence_counterfactual`: the image without its evidence and
    every member's p(melanoma) on both."""
    return with_members(lambda: api.evidence_counterfactual(_readable(suite), image_id))


@st.cache_data(show_spinner="Finding similar training cases for every hold-out image...",
               max_entries=8, hash_funcs=BY_SUITE)
def holdout_similar(suite: Suite, members: tuple[str, ...]) -> pd.DataFrame:
    """:func:`dermviz.api.holdout_similar`: every hold-out image's similar cases at once,
    so every case opened after the first opens without a forward pass."""
    return with_members(lambda: api.holdout_similar(_readable(suite), members=members))


def similar_to_holdout(suite: Suite, image_id: str, members: tuple[str, ...], k: int
                       ) -> pd.DataFrame:
    """The ``k`` (<= :data:`dermviz.api.MAX_SIMILAR`) training lesions closest to a
    hold-out image."""
    found = holdout_similar(suite, members)
    return found[found["query_id"] == image_id].drop(columns="query_id").head(k)


@st.cache_data(show_spinner="Finding similar training cases...", max_entries=32,
               hash_funcs=BY_SUITE)
def similar_to_upload(suite: Suite, digest: str, members: tuple[str, ...], k: int,
                      _image: np.ndarray) -> pd.DataFrame:
    """As :func:`similar_to_holdout` for an uploaded image (keyed by its bytes' digest;
    ``_image`` at the suite's size is not hashed)."""
    return with_members(lambda: api.similar_cases(
        _readable(suite), _image[None], members=members, k=k).drop(columns="query"))


@st.cache_data(show_spinner=False, max_entries=64, hash_funcs=BY_SUITE)
def upload_saliency(suite: Suite, member: str, digest: str, method: str,
                    params: dict[str, Any], _image: np.ndarray) -> SaliencyMaps:
    """:func:`dermviz.api.explain_upload` (``_image`` at the suite's size, not hashed;
    ``digest`` is the upload's key). Never stored: an upload is not part of the suite."""
    return with_members(lambda: api.explain_upload(suite, member, _image, method=method,
                                                   params=params))


# ----------------------------------------------------------------------------- shortcut probe


@st.cache_data(show_spinner="Measuring where each member's saliency sits...", max_entries=16,
               hash_funcs=BY_SUITE)
def probe_tables(suite: Suite, method: str, params: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """:func:`dermviz.api.probe_tables` (maps missing from the store are computed first)."""
    return reporting_damage(lambda: with_members(lambda: api.probe_tables(
        _readable(suite), method=method, params=params)))


@st.cache_data(show_spinner=False, max_entries=256, hash_funcs=BY_SUITE)
def artefact_mask(suite: Suite, image_id: str, name: str) -> np.ndarray:
    """One synthetic image's artefact pixels at the suite's image size."""
    return api.artefact_mask(_readable(suite), image_id, name)


# ----------------------------------------------------------------------------- clinicians' safety


@st.cache_resource(show_spinner=False, max_entries=8, hash_funcs=BY_SUITE)
def _safety(suite: Suite, version: float) -> api.SuiteSafety | None:
    return api.suite_safety(suite)


def suite_safety(suite: Suite) -> api.SuiteSafety | None:
    """The suite's prepared safety data (:func:`dermviz.api.suite_safety`), read once per
    version (a fresh preparation is read anew); None: not prepared yet."""
    return _safety(suite, api.safety_version(suite))


def safety_job(suite: Suite) -> Any:
    """Where the background job preparing the suite's safety data stands."""
    return api.safety_job(models_dir(), suite.path.name)


def start_safety_job(suite: Suite) -> Any:
    """Prepare the suite's safety data in a background process (once; never in a rerun)."""
    return api.start_safety_job(models_dir(), suite.path.name)


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=BY_SUITE)
def holdout_ood(suite: Suite, version: float) -> pd.DataFrame | None:
    """:func:`dermviz.api.holdout_ood` (None: not prepared yet)."""
    safety = suite_safety(suite)
    return None if safety is None else api.holdout_ood(suite, safety=safety)


def calibrated_similar(suite: Suite, image_id: str, k: int) -> pd.DataFrame | None:
    """:func:`dermviz.api.holdout_similar_cases` from the prepared data (None: not yet)."""
    safety = suite_safety(suite)
    if safety is None:
        return None
    return _calibrated_similar(suite, image_id, k, api.safety_version(suite))


@st.cache_data(show_spinner=False, max_entries=256, hash_funcs=BY_SUITE)
def _calibrated_similar(suite: Suite, image_id: str, k: int, version: float) -> pd.DataFrame:
    return api.holdout_similar_cases(_readable(suite), image_id, k=k,
                                     safety=suite_safety(suite))


@st.cache_data(show_spinner="Checking how usual the image is for this suite...",
               max_entries=32, hash_funcs=BY_SUITE)
def upload_ood(suite: Suite, digest: str, version: float, _image: np.ndarray) -> pd.DataFrame:
    """:func:`dermviz.api.image_ood` of an upload (keyed by its digest; ``_image`` at the
    suite's size is not hashed)."""
    return with_members(lambda: api.image_ood(suite, _image[None],
                                              safety=suite_safety(suite)))


@st.cache_data(show_spinner="Finding similar training cases...", max_entries=32,
               hash_funcs=BY_SUITE)
def upload_similar(suite: Suite, digest: str, k: int, version: float, _image: np.ndarray
                   ) -> pd.DataFrame:
    """:func:`dermviz.api.upload_similar_cases` (keyed by the upload's digest)."""
    unusual = upload_ood(suite, digest, version, _image)["unusual"].to_numpy()
    return with_members(lambda: api.upload_similar_cases(
        _readable(suite), _image[None], k=k, safety=suite_safety(suite),
        unusual=unusual).drop(columns="query"))

# ----------------------------------------------------------------------------- confounders


@st.cache_data(show_spinner="Fitting lesion-blind colour models on the training pool (first "
               "time only; cached in the suite folder)...", max_entries=16, hash_funcs=BY_SUITE)
def blind_comparison(suite: Suite) -> pd.DataFrame:
    """:func:`dermviz.api.blind_comparison`: the suite beside the lesion-blind baselines."""
    return reporting_damage(lambda: api.blind_comparison(_readable(suite)))


@st.cache_data(show_spinner=False, max_entries=16, hash_funcs=BY_SUITE)
def blind_report(suite: Suite) -> dict[str, Any]:
    """:func:`dermviz.api.blind_report` (cached in the suite folder)."""
    return reporting_damage(lambda: api.blind_report(_readable(suite)))


@st.cache_data(show_spinner="Breaking the metrics down...", max_entries=64, hash_funcs=BY_SUITE)
def stratified(suite: Suite, by: str, histo_only: bool) -> pd.DataFrame:
    """:func:`dermviz.api.stratified`."""
    return api.stratified(_readable(suite), by, histo_only=histo_only)


@st.cache_data(show_spinner="Removing the lesion and asking every member again...",
               max_entries=64, hash_funcs=BY_SUITE)
def case_counterfactual(suite: Suite, image_id: str) -> dict[str, Any]:
    """:func:`dermviz.api.case_counterfactual`: one image with its lesion removed, and every
    member's p(melanoma) on both."""
    return with_members(lambda: api.case_counterfactual(_readable(suite), image_id))
