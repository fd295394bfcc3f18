"""Confounders: what a model that never sees the lesion scores, the suite's metrics by how
each image was acquired, and the members on images with the lesion taken away.

- :func:`blind_report`: lesion-blind baselines (logistic regressions on colour statistics of
  the whole image, the skin outside the lesion, the lesion alone), fitted on the suite's
  training pool and scored on its hold-out, and the acquisition check; computed on first
  call and cached in the suite folder (``confounders/``);
- :func:`blind_comparison`: the suite's AUC beside those baselines on the same images, on
  the whole hold-out and on its histo-confirmed images; :func:`blind_sentence` says in
  words whether their intervals overlap;
- :func:`stratified`: AUC, sensitivity and specificity per value of a metadata column,
  with intervals and counts;
- :func:`counterfactual_predictions` / :func:`counterfactual_auc`: each member's
  p(melanoma) on the original, lesion-removed and surround-replaced hold-out images,
  batched and cached per member; :func:`case_counterfactual`: one image's.

See docs/confounders.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.blind.baselines import BASELINE_COLUMNS
from dermviz.analysis.blind.dataset import dataset_blind_report
from dermviz.analysis.bootstrap import N_BOOTSTRAP, metrics_with_ci
from dermviz.analysis.calibration import ENSEMBLE, ensemble_probabilities
from dermviz.analysis.predictions import predictions_table
from dermviz.analysis.stratified import AGE_BINS, HISTO, STRATIFIED_COLUMNS, stratified_metrics
from dermviz.api.suites import suite_dataset
from dermviz.data.colour_constancy import shades_of_gray
from dermviz.data.counterfactuals import (
    INPAINT_METHODS,
    other_class_donors,
    remove_lesion,
    replace_surround,
)
from dermviz.data.regions import centred_ellipse
from dermviz.data.synthetic import ARTEFACT_NAMES
from dermviz.models.suite import Suite
from dermviz.store import ArrayRecord, ArrayStore, params_key

__all__ = [
    "AGE_BINS",
    "BASELINE_COLUMNS",
    "COUNTERFACTUALS",
    "INPAINT_METHODS",
    "REGION_LABELS",
    "STRATIFIED_COLUMNS",
    "blind_comparison",
    "blind_report",
    "blind_sentence",
    "case_counterfactual",
    "counterfactual_auc",
    "counterfactual_images",
    "counterfactual_predictions",
    "has_histo",
    "stored_blind_report",
    "stored_counterfactual_p",
    "strata_columns",
    "stratified",
    "survival_sentence",
]

#: The versions of each hold-out image the members are scored on.
COUNTERFACTUALS = ("original", "lesion_removed", "surround_replaced")
#: How the baselines' regions read in tables and sentences.
REGION_LABELS = {"whole": "whole image (no CNN)", "outside": "skin outside the lesion (no CNN)",
                 "lesion": "lesion only (no CNN)"}
#: The folder of the suite that holds the cached results (an ArrayStore).
STORE_FOLDER = "confounders"
#: Bumped when what is cached changes meaning, so old entries are recomputed.
_VERSION = 1
#: Metadata columns a hold-out can be broken down by, where present.
_METADATA_COLUMNS = ("dx_type", "localization", "sex", "age")

Progress = Callable[[int, int, str], None]


def _store(suite: Suite) -> ArrayStore:
    return ArrayStore(suite.path / STORE_FOLDER)


def _records(frame: pd.DataFrame | None) -> list[dict] | None:
    if frame is None:
        return None
    return [{k: (None if isinstance(v, float) and np.isnan(v) else
                 v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _blind_key(suite: Suite, *, colour_constancy: bool, max_train: int | None,
               n_bootstrap: int, seed: int) -> tuple[str, ...]:
    params = {"size": suite.image_size, "colour_constancy": bool(colour_constancy),
              "max_train": max_train, "n_bootstrap": n_bootstrap, "seed": seed,
              "dataset": suite.dataset_info, "version": _VERSION}
    return ("blind", params_key(params))


def _report_from_meta(meta: dict) -> dict[str, Any]:
    histo = meta.get("baselines_histo")
    return {"baselines": pd.DataFrame(meta["baselines"], columns=list(BASELINE_COLUMNS)),
            "baselines_histo": (None if histo is None
                                else pd.DataFrame(histo, columns=list(BASELINE_COLUMNS))),
            "acquisition": pd.DataFrame(meta["acquisition"]),
            "notes": list(meta["notes"]), "size": int(meta["size"]),
            "colour_constancy": bool(meta["colour_constancy"]),
            "max_train": meta["max_train"], "n_train": int(meta["n_train"]),
            "seconds": float(meta["seconds"])}


def stored_blind_report(suite: Suite, *, colour_constancy: bool = False,
                        max_train: int | None = None, n_bootstrap: int = N_BOOTSTRAP,
                        seed: int = 0) -> dict[str, Any] | None:
    """The cached :func:`blind_report` with these options, or None (computes nothing)."""
    record = _store(suite).get(_blind_key(suite, colour_constancy=colour_constancy,
                                          max_train=max_train, n_bootstrap=n_bootstrap,
                                          seed=seed))
    return None if record is None else _report_from_meta(record.meta)


def blind_report(suite: Suite, *, colour_constancy: bool = False, max_train: int | None = None,
                 n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                 refresh: bool = False) -> dict[str, Any]:
    """Lesion-blind baselines and acquisition checks of the suite's data, at its image size.

    Computed on the first call (reading every pool and hold-out image once) and cached in
    the suite folder; later calls read the cache.

    Parameters
    ----------
    suite : Suite
    colour_constancy : bool, default False
        Correct every image by Shades of Gray first.
    max_train : int, optional
        Fit on a class-stratified subset of the pool of at most this many images (default
        the whole pool).
    n_bootstrap, seed
        The intervals.
    refresh : bool
        Recompute even when cached.

    Returns
    -------
    dict
        ``baselines`` (one row per region, :data:`BASELINE_COLUMNS`), ``baselines_histo``
        (the same on the histo-confirmed hold-out images, or None), ``acquisition`` (one
        row per target), ``notes`` (list of str), ``size``, ``colour_constancy``,
        ``max_train``, ``n_train`` and ``seconds`` (what computing it took).
    """
    key = _blind_key(suite, colour_constancy=colour_constancy, max_train=max_train,
                     n_bootstrap=n_bootstrap, seed=seed)
    store = _store(suite)
    record = None if refresh else store.get(key)
    if record is not None:
        return _report_from_meta(record.meta)
    start = time.perf_counter()
    report = dataset_blind_report(suite_dataset(suite), size=suite.image_size,
                                  max_train=max_train, n_bootstrap=n_bootstrap, seed=seed,
                                  colour_constancy=colour_constancy)
    meta = {"baselines": _records(report["baselines"]),
            "baselines_histo": _records(report["baselines_histo"]),
            "acquisition": _records(report["acquisition"]), "notes": report["notes"],
            "size": report["size"], "colour_constancy": bool(colour_constancy),
            "max_train": max_train, "n_train": len(report["features"]["train"]["image_id"]),
            "seconds": time.perf_counter() - start}
    store.put(key, ArrayRecord(arrays={}, meta=meta))
    return _report_from_meta(meta)


def has_histo(suite: Suite) -> bool:
    """Whether the suite's hold-out records how each diagnosis was confirmed (``dx_type``)."""
    return "dx_type" in suite_dataset(suite).holdout.columns


def _histo_ids(suite: Suite) -> set[str]:
    holdout = suite_dataset(suite).holdout
    return set(holdout.loc[holdout["dx_type"].astype(str).str.strip() == HISTO, "image_id"]
               .astype(str))


def blind_comparison(suite: Suite, *, colour_constancy: bool = False,
                     max_train: int | None = None, n_bootstrap: int = N_BOOTSTRAP,
                     seed: int = 0) -> pd.DataFrame:
    """The suite's hold-out AUC beside the lesion-blind baselines, on the same images.

    One row per model (``"ensemble"``: the members' mean p; each member; each baseline)
    and hold-out (``"all"``, and ``"histo-confirmed"`` where the data set has ``dx_type``):
    ``model``, ``kind`` (``"suite"``, ``"member"`` or ``"blind"``), ``region`` (baselines
    only), ``holdout``, ``auc``, ``auc_low``, ``auc_high``, ``n``. The baselines come from
    :func:`blind_report` (computed on the first call, then cached).
    """
    report = blind_report(suite, colour_constancy=colour_constancy, max_train=max_train,
                          n_bootstrap=n_bootstrap, seed=seed)
    preds = predictions_table(suite)
    subsets: list[tuple[str, set[str] | None, pd.DataFrame | None]] = [
        ("all", None, report["baselines"])]
    if has_histo(suite):
        subsets.append(("histo-confirmed", _histo_ids(suite), report["baselines_histo"]))
    rows = []
    for holdout, keep, baselines in subsets:
        part = preds if keep is None else preds[preds["image_id"].astype(str).isin(keep)]
        models = [(ENSEMBLE, "suite", ensemble_probabilities(part))]
        models += [(m, "member", part[part["member"] == m]) for m in suite.member_ids]
        for name, kind, frame in models:
            y, p = frame["y_true"].to_numpy(int), frame["p_melanoma"].to_numpy(float)
            if len(np.unique(y)) < 2:
                continue
            ci = metrics_with_ci(y, p, n_bootstrap=n_bootstrap, seed=seed)
            rows.append({"model": name, "kind": kind, "region": None, "holdout": holdout,
                         "auc": ci["auc"], "auc_low": ci["auc_low"],
                         "auc_high": ci["auc_high"], "n": ci["n"]})
        if baselines is None:
            continue
        for b in baselines.itertuples():
            rows.append({"model": REGION_LABELS[b.region], "kind": "blind", "region": b.region,
                         "holdout": holdout, "auc": b.auc, "auc_low": b.auc_low,
                         "auc_high": b.auc_high, "n": int(b.n_test)})
    return pd.DataFrame(rows, columns=["model", "kind", "region", "holdout", "auc", "auc_low",
                                       "auc_high", "n"])


def _overlap(a: pd.Series, b: pd.Series) -> bool:
    if any(pd.isna(v) for v in (a.auc_low, a.auc_high, b.auc_low, b.auc_high)):
        return True  # no interval: nothing is shown apart
    return bool(a.auc_low <= b.auc_high and b.auc_low <= a.auc_high)


def blind_sentence(comparison: pd.DataFrame, *, holdout: str = "all",
                   region: str = "outside") -> str | None:
    """In words: does the suite's AUC show that it looks at the lesion?

    Compares the ensemble's interval with the lesion-blind ``region`` baseline's on
    ``holdout`` (a :func:`blind_comparison` table). Overlapping intervals: the score does not
    show that the suite looks at the lesion. None when either row is absent.
    """
    here = comparison[comparison["holdout"] == holdout]
    suite_row = here[here["kind"] == "suite"]
    blind_row = here[(here["kind"] == "blind") & (here["region"] == region)]
    if suite_row.empty or blind_row.empty:
        return None
    s, b = suite_row.iloc[0], blind_row.iloc[0]
    where = "this hold-out" if holdout == "all" else f"the {holdout} hold-out images"
    numbers = (f"the suite's AUC {s.auc:.3f} ({_ci(s)}) and a colour model of the "
               f"{'skin outside the lesion' if region == 'outside' else REGION_LABELS[region]}, "
               f"which never sees the lesion, {b.auc:.3f} ({_ci(b)})")
    if _overlap(s, b):
        return (f"On {where}, {numbers} have overlapping 95% intervals: this score does not "
                "show that the suite looks at the lesion.")
    if s.auc > b.auc:
        return (f"On {where}, {numbers} have 95% intervals apart: the suite scores more than "
                "the skin's colour alone gives.")
    return (f"On {where}, {numbers} have 95% intervals apart, the colour model above the "
            "suite.")


def _ci(row: pd.Series) -> str:
    if pd.isna(row.auc_low):
        return "no interval"
    return f"95% CI {row.auc_low:.3f}-{row.auc_high:.3f}"


def strata_columns(suite: Suite) -> list[str]:
    """The metadata columns the suite's hold-out can be broken down by: ``dx_type``,
    ``localization``, ``sex`` and ``age`` where present (HAM10000), the synthetic
    artefact flags (every flag the data set records, present on hold-out images or not)."""
    columns = suite_dataset(suite).holdout.columns
    return [c for c in (*_METADATA_COLUMNS, *ARTEFACT_NAMES) if c in columns]


def stratified(suite: Suite, by: str, *, histo_only: bool = False,
               n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> pd.DataFrame:
    """Each member's and the ensemble's AUC, sensitivity and specificity per value of the
    hold-out's ``by`` column, with intervals and counts
    (:func:`dermviz.analysis.stratified.stratified_metrics`; ``age`` in :data:`AGE_BINS`).

    Raises
    ------
    ValueError
        ``by`` is not a column of the hold-out, or ``histo_only`` without ``dx_type``.
    """
    return stratified_metrics(predictions_table(suite), suite_dataset(suite).holdout, by=by,
                              histo_only=histo_only, n_bootstrap=n_bootstrap, seed=seed)


# ----------------------------------------------------------------------------- counterfactuals


def _masks(dataset: Any, ids: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Lesion masks at ``size`` (a centred ellipse for images without one) and which
    images used the ellipse."""
    has = dataset.rows(ids)["has_mask"].to_numpy(dtype=bool)
    masks = (dataset.load_masks(ids, size=size, missing="ones") if has.any()
             else np.zeros((len(ids), size, size), dtype=bool)).astype(bool)
    masks[~has] = centred_ellipse(size, size)
    return masks, ~has


def _donors(dataset: Any, seed: int) -> dict[str, str]:
    """Each hold-out image's donor of skin: an image of the other class, drawn at random."""
    holdout = dataset.holdout
    ids = holdout["image_id"].astype(str).tolist()
    picks = other_class_donors(holdout["y"].to_numpy(int), seed=seed)
    return {i: ids[j] for i, j in zip(ids, picks, strict=True)}


def counterfactual_images(suite: Suite, image_ids: Sequence[str], *, method: str = "telea",
                          colour_constancy: bool = False, seed: int = 0) -> dict[str, Any]:
    """Hold-out images at the suite's size in each version of :data:`COUNTERFACTUALS`.

    ``"lesion_removed"``: the grown lesion mask inpainted from the skin around it (OpenCV
    ``method``); ``"surround_replaced"``: the lesion pasted onto the skin of a hold-out
    image of the other class whose own lesion was removed. Images without a mask use a
    centred ellipse (``uses_ellipse``).

    Returns
    -------
    dict
        Each version: uint8 ``(n, size, size, 3)``; ``uses_ellipse`` (bool (n,)),
        ``donor_id`` (list of str) and ``seconds`` (making the counterfactuals).
    """
    dataset = suite_dataset(suite)
    ids = [str(i) for i in image_ids]
    size = suite.image_size
    start = time.perf_counter()
    donor_of = _donors(dataset, seed)
    unknown = [i for i in ids if i not in donor_of]
    if unknown:
        raise ValueError(f"not hold-out images of suite {suite.name!r}: {unknown[:5]}")
    donors = [donor_of[i] for i in ids]
    images = dataset.load_images(ids, size=size)
    masks, ellipse = _masks(dataset, ids, size)
    donor_images = dataset.load_images(donors, size=size)
    donor_masks, _ = _masks(dataset, donors, size)
    if colour_constancy:
        images, donor_images = shades_of_gray(images), shades_of_gray(donor_images)
    out = {"original": images,
           "lesion_removed": remove_lesion(images, masks, method=method),
           "surround_replaced": replace_surround(images, masks, donor_images, donor_masks,
                                                 method=method),
           "uses_ellipse": ellipse, "donor_id": donors}
    out["seconds"] = time.perf_counter() - start
    return out


def _counterfactual_key(suite: Suite, member: str, *, method: str, colour_constancy: bool,
                        seed: int) -> tuple[str, ...]:
    params = {"method": method, "colour_constancy": bool(colour_constancy), "seed": seed,
              "size": suite.image_size, "dataset": suite.dataset_info,
              "member": suite.member(member), "version": _VERSION}
    return ("counterfactual", params_key(params), member)


def counterfactual_predictions(suite: Suite, *, members: Sequence[str] | None = None,
                               method: str = "telea", colour_constancy: bool = False,
                               seed: int = 0, batch_size: int = 32,
                               progress: Progress | None = None) -> pd.DataFrame:
    """Each member's p(melanoma) on every hold-out image in each version of
    :data:`COUNTERFACTUALS` (:func:`counterfactual_images`).

    Batched; cached per member in the suite folder, so only members without a cached
    record load their model and run.

    Parameters
    ----------
    progress : callable, optional
        ``progress(done, total, what)`` after each batch.

    Returns
    -------
    pandas.DataFrame
        One row per member, image and version: ``member``, ``image_id``, ``y_true``,
        ``version``, ``p_melanoma``, ``threshold``, ``uses_ellipse``; its ``attrs`` hold
        ``seconds_per_image`` (making the counterfactuals) and ``predict_seconds_per_image``
        (one member's three forward passes), from when each record was computed.
    """
    from dermviz.models.predict import predict_proba  # loads TensorFlow

    if method not in INPAINT_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(INPAINT_METHODS)}")
    members = list(suite.member_ids if members is None else members)
    unknown = [m for m in members if m not in suite.member_ids]
    if unknown:
        raise ValueError(f"suite {suite.name!r} has no member(s) {unknown}")
    dataset = suite_dataset(suite)
    holdout = dataset.holdout
    ids = holdout["image_id"].astype(str).tolist()
    store = _store(suite)
    keys = {m: _counterfactual_key(suite, m, method=method, colour_constancy=colour_constancy,
                                   seed=seed) for m in members}
    records = {m: store.get(k) for m, k in keys.items()}
    missing = [m for m, r in records.items() if r is None or list(r.arrays["image_id"]) != ids]
    if missing:
        p = {m: {v: np.empty(len(ids), np.float32) for v in COUNTERFACTUALS} for m in missing}
        ellipse = np.zeros(len(ids), dtype=bool)
        make, predict = 0.0, dict.fromkeys(missing, 0.0)
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size]
            versions = counterfactual_images(suite, chunk, method=method,
                                             colour_constancy=colour_constancy, seed=seed)
            make += versions["seconds"]
            ellipse[start:start + len(chunk)] = versions["uses_ellipse"]
            for m in missing:
                model = suite.model(m)
                t0 = time.perf_counter()
                for v in COUNTERFACTUALS:
                    p[m][v][start:start + len(chunk)] = predict_proba(model, versions[v],
                                                                      batch_size=batch_size)
                predict[m] += time.perf_counter() - t0
            if progress is not None:
                progress(start + len(chunk), len(ids), "hold-out images")
        for m in missing:
            records[m] = ArrayRecord(
                arrays={"image_id": np.array(ids), "uses_ellipse": ellipse,
                        **{v: p[m][v] for v in COUNTERFACTUALS}},
                meta={"seconds_per_image": make / len(ids),
                      "predict_seconds_per_image": predict[m] / len(ids), "method": method,
                      "colour_constancy": bool(colour_constancy)})
            store.put(keys[m], records[m])
    y = holdout["y"].to_numpy(int)
    frames = []
    for m in members:
        arrays = records[m].arrays
        for v in COUNTERFACTUALS:
            frames.append(pd.DataFrame({
                "member": m, "image_id": ids, "y_true": y, "version": v,
                "p_melanoma": arrays[v].astype(float), "threshold": suite.threshold(m),
                "uses_ellipse": arrays["uses_ellipse"].astype(bool)}))
    out = pd.concat(frames, ignore_index=True)
    metas = [records[m].meta for m in members]
    out.attrs = {"seconds_per_image": float(np.mean([r["seconds_per_image"] for r in metas])),
                 "predict_seconds_per_image": float(np.mean(
                     [r["predict_seconds_per_image"] for r in metas]))}
    return out


def counterfactual_auc(predictions: pd.DataFrame, *, n_bootstrap: int = N_BOOTSTRAP,
                       seed: int = 0) -> pd.DataFrame:
    """Each member's (and the ensemble's) AUC on each version, with its interval, from a
    :func:`counterfactual_predictions` table: ``model``, ``version``, ``auc``, ``auc_low``,
    ``auc_high``, ``n``."""
    rows = []
    members = list(dict.fromkeys(predictions["member"]))
    for version in COUNTERFACTUALS:
        part = predictions[predictions["version"] == version]
        if part.empty:
            continue
        models = [(m, part[part["member"] == m]) for m in members]
        if len(members) > 1:
            models.append((ENSEMBLE, part.groupby(["image_id", "y_true"], sort=False,
                                                  as_index=False)["p_melanoma"].mean()))
        for name, frame in models:
            ci = metrics_with_ci(frame["y_true"].to_numpy(int),
                                 frame["p_melanoma"].to_numpy(float), n_bootstrap=n_bootstrap,
                                 seed=seed)
            rows.append({"model": name, "version": version, "auc": ci["auc"],
                         "auc_low": ci["auc_low"], "auc_high": ci["auc_high"], "n": ci["n"]})
    return pd.DataFrame(rows, columns=["model", "version", "auc", "auc_low", "auc_high", "n"])


def stored_counterfactual_p(suite: Suite, image_id: str, *, method: str = "telea",
                            seed: int = 0) -> dict[str, tuple[float, float]] | None:
    """Each member's stored p(melanoma) on a hold-out image and on it with its lesion removed
    (from :func:`counterfactual_predictions`' cache); None unless every member has one.
    Loads no model."""
    store = _store(suite)
    out = {}
    for m in suite.member_ids:
        record = store.get(_counterfactual_key(suite, m, method=method, colour_constancy=False,
                                               seed=seed))
        if record is None:
            return None
        where = np.flatnonzero(record.arrays["image_id"].astype(str) == image_id)
        if len(where) != 1:
            return None
        k = int(where[0])
        out[m] = (float(record.arrays["original"][k]), float(record.arrays["lesion_removed"][k]))
    return out


def case_counterfactual(suite: Suite, image_id: str, *, method: str = "telea",
                        seed: int = 0) -> dict[str, Any]:
    """One hold-out image with its lesion removed, and every member's verdict on both.

    Returns
    -------
    dict
        ``original`` and ``lesion_removed`` (uint8 ``(size, size, 3)``), ``uses_ellipse``
        (bool), ``table`` (one row per member: ``member``, ``threshold``, ``p_original``,
        ``p_removed``, ``call_original``, ``call_removed``, ``survives``) and ``sentence``
        (the verdicts that survive the lesion's removal, in words).
    """
    versions = counterfactual_images(suite, [image_id], method=method, seed=seed)
    stored = stored_counterfactual_p(suite, image_id, method=method, seed=seed)
    if stored is None:  # not prepared with the suite: run the members on the pair
        from dermviz.models.predict import predict_proba  # loads TensorFlow

        pair = np.concatenate([versions["original"], versions["lesion_removed"]])
        stored = {m: tuple(float(v) for v in predict_proba(suite.model(m), pair))
                  for m in suite.member_ids}
    rows = []
    for m in suite.member_ids:
        p_original, p_removed = stored[m]
        threshold = suite.threshold(m)
        calls = ["melanoma" if v >= threshold else "naevus" for v in (p_original, p_removed)]
        rows.append({"member": m, "threshold": threshold, "p_original": p_original,
                     "p_removed": p_removed, "call_original": calls[0], "call_removed": calls[1],
                     "survives": calls[0] == calls[1]})
    table = pd.DataFrame(rows)
    return {"original": versions["original"][0], "lesion_removed": versions["lesion_removed"][0],
            "uses_ellipse": bool(versions["uses_ellipse"][0]), "table": table,
            "sentence": survival_sentence(table)}


def survival_sentence(table: pd.DataFrame) -> str:
    """Which members keep their verdict when the lesion is removed, in words."""
    kept = table[table["survives"]]
    n = len(table)
    if kept.empty:
        return "Every member changes its verdict when the lesion is removed."
    melanoma = kept[kept["call_original"] == "melanoma"]
    who = "all " + str(n) + " members" if len(kept) == n else \
        f"{len(kept)} of {n} members ({', '.join(kept['member'])})"
    sentence = (f"The verdict survives the lesion's removal: {who} give the same verdict on "
                "the image without its lesion, so for them this verdict does not come from "
                "the lesion.")
    if len(melanoma):
        sentence += (f" {len(melanoma)} still call melanoma with no lesion to see "
                     f"({', '.join(melanoma['member'])}).")
    return sentence
