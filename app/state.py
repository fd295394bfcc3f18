"""Cached access to dermviz for the pages.

``st.cache_resource`` holds models (one per suite member); ``st.cache_data`` is
keyed by ids and paths, never by arrays.

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

from dermviz import sanity
from dermviz.analysis import browse, lesion_localization, probe, retrieval, statistics
from dermviz.analysis.suite_comparison import SuiteComparison, compare_suites
from dermviz.analysis.verdicts import verdicts
from dermviz.data import thumbnails as thumbs
from dermviz.data.synthetic import load_artefact_masks
from dermviz.explain.base import get_explainer, make_explainer
from dermviz.explain.consensus import Consensus, map_consensus
from dermviz.explain.jobs import Job, MapJobs
from dermviz.explain.maps import SaliencyMaps
from dermviz.explain.precompute import cached_maps, default_params, load_or_compute
from dermviz.models.suite import (
    MANIFEST,
    MemberModelError,
    Suite,
    SuiteNotFoundError,
    list_suites,
)
from dermviz.sanity import StudyDamagedError
from dermviz.store import DamagedFileWarning, resolve_within

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]

#: How often a panel waiting on background work (a KernelSHAP map, the demo build) redraws.
#: Each poll reruns a fragment, about 0.1 s of the server's CPU and GIL: polling every
#: second took 10% from the map it waited for on a 2-core machine (bench_polling.py).
POLL_SECONDS = 2.0


def models_dir() -> Path:
    """``$DERMVIZ_MODELS``, else the repository's ``models/``."""
    return Path(os.environ.get("DERMVIZ_MODELS", REPO_ROOT / "models"))


@st.cache_data(ttl=30, show_spinner=False)
def suite_paths(root: str) -> list[str]:
    return [str(s.path) for s in list_suites(root)]


def open_suite(path: str) -> Suite:
    return Suite(path)


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


def choose_suite() -> Suite | None:
    """Sidebar suite picker shared by all pages; None (with help shown) if there is none."""
    paths = suite_paths(str(models_dir()))
    if not paths:
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
    names = [Path(p).name for p in paths]
    default = st.session_state.get("suite_name")
    if default is not None and default not in names:
        st.sidebar.warning(f"Suite {default!r} is no longer in `{models_dir()}`; "
                           "showing another one.")
        st.session_state.pop("suite_picker", None)  # a stale widget value is refused too
    index = names.index(default) if default in names else 0
    name = st.sidebar.selectbox("Suite", names, index=index, key="suite_picker")
    st.session_state["suite_name"] = name
    try:
        # By name only (never a path), so no choice can leave the models folder.
        return Suite(resolve_within(models_dir(), name))
    except (SuiteNotFoundError, ValueError) as exc:  # deleted since the listing was cached
        suite_paths.clear()
        stop_with_error(f"{exc}. Reload the page to choose another suite.")


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


@st.cache_resource(show_spinner="Loading model...")
def _load_model(suite_path: str, member: str) -> Any:
    return Suite(suite_path).load_model(member)


def load_model(suite_path: str, member: str) -> Any:
    """The member's model (cached); a missing or broken model file stops the page
    with the message of :class:`~dermviz.models.suite.MemberModelError`."""
    try:
        return _load_model(suite_path, member)
    except MemberModelError as exc:
        stop_with_error(str(exc))


@st.cache_resource(show_spinner="Loading data set...")
def _load_dataset(suite_path: str) -> Any:
    return Suite(suite_path).dataset()


def load_dataset(suite_path: str) -> Any:
    """The suite's data set (cached); a moved data folder or a damaged metadata
    file stops the page with a message that says how to fix it."""
    try:
        return _load_dataset(suite_path)
    except (FileNotFoundError, ValueError) as exc:
        stop_with_error(f"Cannot load the data set of this suite: {exc}")


@st.cache_data(show_spinner=False)
def holdout_table(suite_path: str) -> pd.DataFrame:
    return load_dataset(suite_path).holdout.reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=512)
def image(suite_path: str, image_id: str) -> np.ndarray:
    suite = Suite(suite_path)
    return load_dataset(suite_path).load_images([image_id], size=suite.image_size)[0]


@st.cache_data(show_spinner=False)
def verdict_table(suite_path: str) -> pd.DataFrame:
    return verdicts(Suite(suite_path))


# ----------------------------------------------------------------------------- saliency maps


def method_params(suite_path: str, method: str, **overrides: Any) -> dict[str, Any]:
    """The full parameters (the store key) of ``method`` on this suite, with ``overrides``.

    The method's class supplies the defaults (e.g. GradCAM's layer from the
    suite's configuration, KernelSHAP's paper settings).
    """
    return default_params(Suite(suite_path), method, **overrides)


def saliency(
    suite_path: str, member: str, image_id: str, method: str, params: dict[str, Any]
) -> SaliencyMaps:
    """One map (from the store, or computed and stored on a miss); a damaged
    stored map shows a notice and is recomputed."""
    return reporting_damage(lambda: _saliency(suite_path, member, image_id, method, params))


@st.cache_data(show_spinner=False, max_entries=2048)
def _saliency(
    suite_path: str, member: str, image_id: str, method: str, params: dict[str, Any]
) -> SaliencyMaps:
    return load_or_compute(
        Suite(suite_path), member, image_id, method=method, params=params,
        # A store hit needs no model: load it (cached) only on a miss.
        model_loader=lambda: load_model(suite_path, member), dataset=load_dataset(suite_path),
    )


def stored_maps(
    suite_path: str, members: tuple[str, ...], image_id: str, method: str,
    params: dict[str, Any],
) -> dict[str, SaliencyMaps | None]:
    """Maps already in the store for one image, by member (None: not computed).

    Not cached by Streamlit: a store read is milliseconds (see
    ``benchmarks/bench_store.py``), and a map computed in the background shows
    up on the next run without any cache to clear.
    """
    return reporting_damage(lambda: cached_maps(
        Suite(suite_path), list(members), image_id, method=method, params=params))


@st.cache_data(show_spinner="Comparing the members' maps...", max_entries=256)
def consensus(
    suite_path: str, image_id: str, method: str, params: dict[str, Any],
    members: tuple[str, ...],
) -> Consensus:
    """:func:`dermviz.explain.consensus.map_consensus` of ``members``' maps of one image.

    Maps come from the store, computed and stored on a miss (pass only members whose
    maps are stored for slow methods such as KernelSHAP).
    """
    stack = np.stack([_saliency(suite_path, m, image_id, method, params).maps[0]
                      for m in members])
    return map_consensus(stack, signed=get_explainer(method).signed, members=members)


@st.cache_resource(show_spinner=False)
def map_jobs() -> MapJobs:
    """The process-wide background computer of single maps (:class:`MapJobs`)."""
    return MapJobs()


def submit_map(
    suite_path: str, member: str, image_id: str, method: str, params: dict[str, Any]
) -> Job:
    """Queue one map in the background, sharing the page's cached model and data set."""
    return map_jobs().submit(
        Suite(suite_path), member, image_id, method=method, params=params,
        model=load_model(suite_path, member), dataset=load_dataset(suite_path),
    )


def map_job(
    suite_path: str, member: str, image_id: str, method: str, params: dict[str, Any]
) -> Job | None:
    """The background job of one map, or None if none was submitted."""
    return map_jobs().job(suite_path, member, image_id, method, params)


def forget_job(job: Job) -> None:
    """Drop a finished background job (so its map can be asked for again)."""
    map_jobs().forget([job])


# ----------------------------------------------------------------------------- sanity studies


def saved_studies(suite_path: str, kinds: tuple[str, ...]) -> list[Any]:
    """The suite's saved sanity studies of the given kinds, newest first
    (:class:`dermviz.sanity.StudyInfo`).

    Not cached by Streamlit: listing reads one small JSON file per study, and a
    study saved from the command line shows up on the next run. Damaged studies
    are left out, each with a notice that says why and what to do.
    """
    studies = sanity.list_studies(suite_path, kinds, include_damaged=True)
    for study in studies:
        if study.damaged:
            st.warning(study.damaged, icon=":material/build:")
    return [study for study in studies if not study.damaged]


def load_saved_study(folder: str, created: str) -> Any:
    """A saved study (``created`` is part of the key, so a rerun is reloaded); a
    damaged one stops the page with a message naming the file."""
    try:
        return _load_saved_study(folder, created)
    except StudyDamagedError as exc:
        stop_with_error(str(exc))


@st.cache_data(show_spinner="Loading the study...", max_entries=32)
def _load_saved_study(folder: str, created: str) -> Any:
    return sanity.load_study(folder)


# ----------------------------------------------------------------------------- clinicians' views


def suite_stamp(suite: Suite) -> int:
    """Changes whenever the suite does (a member lands, a threshold moves): the manifest's
    modification time, passed to cached functions so they recompute after a change."""
    return (Path(suite.path) / MANIFEST).stat().st_mtime_ns


@st.cache_data(show_spinner="Computing the suite's statistics...", max_entries=16)
def suite_statistics(suite_path: str, stamp: int) -> dict[str, pd.DataFrame]:
    return statistics.suite_statistics(Suite(suite_path))


@st.cache_data(show_spinner="Reading the hold-out verdicts...", max_entries=16)
def lesions(suite_path: str, stamp: int) -> pd.DataFrame:
    """:func:`dermviz.analysis.browse.lesion_table` with the data set's metadata."""
    return browse.lesion_table(Suite(suite_path), dataset=load_dataset(suite_path))


@st.cache_data(show_spinner="Scoring the stored GradCAM maps against the lesion masks...",
               max_entries=8, ttl=600)
def gradcam_localization(suite_path: str, stamp: int) -> pd.DataFrame:
    """:func:`dermviz.analysis.lesion_localization.suite_localization` of the stored GradCAM
    maps (nothing is computed). Re-read after 10 minutes, or on :meth:`clear`, so maps
    stored after the suite (the demo build stores them last) show up."""
    return reporting_damage(lambda: lesion_localization.suite_localization(
        Suite(suite_path), dataset=load_dataset(suite_path), method="gradcam"))


def open_by_name(name: str) -> Suite:
    """A suite of the models folder by name (never a path, so no choice can leave it);
    a suite gone since the listing stops the page."""
    try:
        return Suite(resolve_within(models_dir(), name))
    except (SuiteNotFoundError, ValueError) as exc:
        suite_paths.clear()
        stop_with_error(f"{exc}. Reload the page to choose another suite.")


@st.cache_data(show_spinner="Comparing the suites...", max_entries=8, ttl=600)
def suite_comparison(first: str, second: str, stamps: tuple[int, int]) -> SuiteComparison:
    """:func:`dermviz.analysis.suite_comparison.compare_suites` of two suite folders
    (``stamps``: their :func:`suite_stamp`, so a retrained suite is compared anew)."""
    return reporting_damage(lambda: compare_suites(Suite(first), Suite(second)))


@st.cache_data(show_spinner=False, max_entries=256)
def thumbnails(suite_path: str, image_ids: tuple[str, ...]) -> list[bytes]:
    """JPEG thumbnails, from the suite's ``thumbnails/`` cache (made once)."""
    return thumbs.thumbnails(load_dataset(suite_path), list(image_ids),
                             cache_dir=Path(suite_path) / "thumbnails")


@st.cache_data(show_spinner=False, max_entries=64)
def original_image(suite_path: str, image_id: str) -> np.ndarray:
    """The image at the data set's own resolution (not resized for the models)."""
    dataset = load_dataset(suite_path)
    return dataset.source.read_image(dataset.rows([image_id]).iloc[0])


@st.cache_data(show_spinner=False, max_entries=512)
def lesion_mask(suite_path: str, image_id: str) -> np.ndarray | None:
    """The lesion mask at the suite's image size, or None where the image has none."""
    dataset = load_dataset(suite_path)
    if not bool(dataset.rows([image_id]).iloc[0]["has_mask"]):
        return None
    return dataset.load_masks([image_id], size=Suite(suite_path).image_size)[0]


#: Similar cases kept per image; the pages show the first k (k <= this).
MAX_SIMILAR = 12


@st.cache_data(show_spinner="Finding similar training cases for every hold-out image...",
               max_entries=8)
def holdout_similar(suite_path: str, stamp: int, members: tuple[str, ...]) -> pd.DataFrame:
    """The :data:`MAX_SIMILAR` training lesions closest to each hold-out image
    (``query_id`` names it), with their diagnoses.

    All hold-out images at once, in batches: the first case opened pays one pass over
    the hold-out set, every later case opens without a forward pass.
    """
    ids = [str(i) for i in load_dataset(suite_path).holdout["image_id"]]
    images = load_dataset(suite_path).load_images(ids, size=Suite(suite_path).image_size)
    found = _similar(suite_path, images, members, MAX_SIMILAR)
    found.insert(0, "query_id", np.asarray(ids)[found.pop("query").to_numpy()])
    return found


def similar_to_holdout(suite_path: str, stamp: int, image_id: str, members: tuple[str, ...],
                       k: int) -> pd.DataFrame:
    """The ``k`` (<= :data:`MAX_SIMILAR`) training lesions closest to a hold-out image."""
    found = holdout_similar(suite_path, stamp, members)
    return found[found["query_id"] == image_id].drop(columns="query_id").head(k)


@st.cache_data(show_spinner="Finding similar training cases...", max_entries=32)
def similar_to_upload(
    suite_path: str, digest: str, members: tuple[str, ...], k: int, _image: np.ndarray
) -> pd.DataFrame:
    """As :func:`similar_to_holdout` for an uploaded image (keyed by its bytes' digest;
    ``_image`` at the suite's size is not hashed)."""
    return _similar(suite_path, _image[None], members, k).drop(columns="query")


def _similar(suite_path: str, images: np.ndarray, members: tuple[str, ...], k: int
             ) -> pd.DataFrame:
    dataset = load_dataset(suite_path)
    found = retrieval.suite_similar_cases(
        Suite(suite_path), images, k=k, members=list(members), dataset=dataset,
        model_loader=lambda m: load_model(suite_path, m),
    )
    meta = [c for c in ("dx", "y", "localization", "age", "sex") if c in dataset.table.columns]
    found = found.merge(dataset.table[meta].reset_index(), on="image_id", how="left")
    return found.drop(columns="member")


@st.cache_data(show_spinner=False, max_entries=64)
def upload_saliency(
    suite_path: str, member: str, digest: str, method: str, params: dict[str, Any],
    _image: np.ndarray,
) -> SaliencyMaps:
    """One member's map of an uploaded image (``_image`` at the suite's size, not hashed;
    ``digest`` is the upload's key). Its ``p_melanoma`` is the member's prediction.
    Never stored: an upload is not part of the suite."""
    explainer = make_explainer(load_model(suite_path, member), method, params)
    return explainer.explain(_image[None], threshold=Suite(suite_path).threshold(member))


# ----------------------------------------------------------------------------- shortcut probe


@st.cache_data(show_spinner="Measuring where each member's saliency sits...", max_entries=16)
def probe_tables(suite_path: str, stamp: int, method: str,
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The probe's tables (:mod:`dermviz.analysis.probe`): ``artefacts`` (names),
    ``accuracy`` (per member and subset), ``shares`` (per member and image) and
    ``summary`` (per member), from ``method``'s maps with ``params`` (default: the
    suite's). Maps missing from the store are computed first."""
    suite, dataset = Suite(suite_path), load_dataset(suite_path)
    shares = reporting_damage(lambda: probe.probe_table(suite, method=method, params=params,
                                                        dataset=dataset))
    return {"artefacts": probe.suite_artefacts(dataset),
            "accuracy": probe.accuracy_by_artefact(suite, dataset=dataset),
            "shares": shares, "summary": probe.probe_summary(shares)}


@st.cache_data(show_spinner=False, max_entries=256)
def artefact_mask(suite_path: str, image_id: str, name: str) -> np.ndarray:
    """One synthetic image's artefact pixels at the suite's image size."""
    masks = load_artefact_masks(load_dataset(suite_path), [image_id],
                                size=Suite(suite_path).image_size)
    return masks[name][0]
