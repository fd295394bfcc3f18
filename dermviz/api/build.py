"""Building suites: the data, training, hyperparameter search, the demo and probe suites,
and their precomputed saliency maps.

The command line's ``demo``, ``probe``, ``train``, ``search`` and ``explain`` are thin
callers of these functions; a notebook can call them too. Importing this module imports
no TensorFlow, Optuna or scikit-learn: each engine is imported when a build runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dermviz import sanity
from dermviz.api.confounders import counterfactual_predictions
from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import load_ham10000
from dermviz.data.synthetic import SyntheticConfig, make_synthetic
from dermviz.demo import prepare_pages, prepare_report_card, run_demo, run_probe
from dermviz.explain import precompute
from dermviz.models.backends import make_backend
from dermviz.models.config import TrainConfig
from dermviz.models.inception import resolve_weights
from dermviz.models.profiles import PROBE_ARTEFACT
from dermviz.models.search_config import SearchConfig
from dermviz.models.suite import Suite
from dermviz.store.status import StatusFile, report, set_status_sink

__all__ = [
    "build_demo",
    "build_probe",
    "check_weights",
    "explain_suite",
    "import_suite",
    "load_dataset",
    "prepare_suite",
    "search_suite",
    "train_suite",
]


def load_dataset(
    data: str | Path = "synthetic",
    *,
    skip_missing: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    synthetic: SyntheticConfig | None = None,
    holdout: str = "paper",
) -> Dataset:
    """The data set a suite trains on: the synthetic generator or a HAM10000 folder.

    Parameters
    ----------
    data : str or path
        ``"synthetic"``, or a HAM10000 folder (metadata CSV and images).
    skip_missing : bool
        HAM10000: skip images listed in the metadata but absent.
    n_train, n_test : int, optional
        Synthetic data: sizes of the training pool and of the hold-out (default: the
        config's).
    synthetic : SyntheticConfig, optional
        Synthetic data: the generator's config (default: ``SyntheticConfig()``).
    holdout : {"paper", "histo"}
        HAM10000: the paper's hold-out, or one drawn only from histopathology-confirmed
        lesions (docs/confounders.md). The synthetic set has one hold-out.
    """
    if str(data) != "synthetic":
        return load_ham10000(data, skip_missing=skip_missing, holdout=holdout)
    if holdout != "paper":
        raise ValueError(f"holdout={holdout!r} needs HAM10000 (its dx_type); the synthetic "
                         "set has one hold-out")
    sizes = {k: v for k, v in {"n_train": n_train, "n_test": n_test}.items() if v is not None}
    return make_synthetic(synthetic if synthetic is not None else SyntheticConfig(), **sizes)


def check_weights(weights: str | Path | None) -> None:
    """Fail now, before any data is loaded, when ``weights`` cannot be used offline
    (:func:`dermviz.models.inception.resolve_weights`)."""
    if weights not in (None, "none"):
        resolve_weights(weights)


def train_suite(
    dataset: Dataset,
    config: TrainConfig,
    *,
    out_dir: str | Path,
    overwrite: bool = False,
    device: dict[str, Any] | None = None,
    prepare: bool = True,
    progress: bool = True,
) -> Suite:
    """Train (or resume) a suite in ``out_dir``
    (:func:`dermviz.models.training.train_suite`), then, with ``prepare``, what the
    clinicians' pages read (:func:`dermviz.demo.prepare_pages`)."""
    # The training engine imports scikit-learn and TensorFlow: only a build pays for them.
    from dermviz.models import training

    suite = training.train_suite(dataset, config, out_dir=out_dir, overwrite=overwrite,
                                 device=device, progress=progress)
    if prepare:
        prepare_pages(suite, dataset=dataset, progress=progress)
        _prepare_case_counterfactuals(suite)
    return suite


def import_suite(
    dataset: Dataset,
    model_files: list[str | Path] | tuple[str | Path, ...],
    *,
    out_dir: str | Path,
    name: str | None = None,
    preprocessing: str | None = None,
    melanoma_class: int | None = None,
    versus_class: int | None = None,
    layer: str | None = None,
    stage_every: int | None = None,
    trusted: bool = False,
    overwrite: bool = False,
    prepare: bool = True,
    progress: bool = True,
) -> Suite:
    """Build a suite in ``out_dir`` from Keras classifiers trained elsewhere ("bring your
    own model", :func:`dermviz.models.importing.import_suite`, whose options these are:
    the model adapter's declarations, :mod:`dermviz.models.adapter`), then, with
    ``prepare``, what the clinicians' pages read (:func:`dermviz.demo.prepare_pages`).

    Every member is evaluated on the data set's hold-out (a progress bar per member) and
    stored as a trained member is, so every page, command and API call works on the suite.
    """
    # The import engine imports TensorFlow and scikit-learn: only an import pays for them.
    from dermviz.models import importing

    suite = importing.import_suite(
        dataset, model_files, out_dir=out_dir, name=name, preprocessing=preprocessing,
        melanoma_class=melanoma_class, versus_class=versus_class, layer=layer,
        stage_every=stage_every, trusted=trusted, overwrite=overwrite, progress=progress,
    )
    if prepare:
        prepare_pages(suite, dataset=dataset, progress=progress)
        _prepare_case_counterfactuals(suite)
    return suite


def search_suite(
    dataset: Dataset,
    config: SearchConfig,
    *,
    out_dir: str | Path,
    storage: str | None = None,
    backend: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    gpus: str = "auto",
    device: dict[str, Any] | None = None,
    overwrite: bool = False,
    prepare: bool = True,
    progress: bool = True,
) -> Suite:
    """Search (or resume searching) a suite in ``out_dir``, each member the best trial of
    its own Optuna study (:func:`dermviz.models.search.search_suite`).

    Parameters
    ----------
    backend : {"local", "ray"}
        Where trials run; ``workers``, ``ray_address`` and ``gpus`` as for
        :func:`dermviz.models.backends.make_backend`.
    storage : str, optional
        Optuna storage URL (default: an SQLite file in the suite).
    prepare : bool
        Then prepare what the clinicians' pages read (:func:`dermviz.demo.prepare_pages`).
    """
    runner = make_backend(backend, workers=workers, address=ray_address, gpus=gpus)
    # The search driver imports Optuna and scikit-learn (~1.5 s): only a search pays.
    from dermviz.models.search import search_suite as search

    suite = search(dataset, config, out_dir=out_dir, storage=storage, backend=runner,
                   device=device, overwrite=overwrite, progress=progress)
    if prepare:
        prepare_pages(suite, dataset=dataset, progress=progress)
        _prepare_case_counterfactuals(suite)
    return suite


def build_demo(
    *,
    profile: str = "default",
    out_dir: str | Path,
    overwrite: bool = False,
    explain: bool = True,
    prepare: bool = True,
    status_file: str | Path | None = None,
) -> Suite:
    """Build (or resume) the demo suite and its GradCAM maps (:func:`dermviz.demo.run_demo`).

    ``status_file``: write live progress there (what the dashboard's background build
    reads), finished with the error when the build fails.
    """
    with _reporting_to(status_file) as status:
        suite = run_demo(profile=profile, out_dir=out_dir, overwrite=overwrite,
                         explain=explain, prepare=prepare)
        if prepare:
            _prepare_case_counterfactuals(suite)
    if status is not None:
        status.finish()
    return suite


def _prepare_case_counterfactuals(suite: Suite) -> None:
    """Every member's p(melanoma) on each hold-out image with its lesion removed
    (:func:`dermviz.api.confounders.counterfactual_predictions`, cached in the suite), so a
    Case page shows the lesion-removed verdicts without loading a member."""
    if not suite.member_ids:
        return
    report(force=True, phase="safety", detail="lesion-removed verdicts of the hold-out")
    try:
        counterfactual_predictions(suite)
    except ValueError as err:  # e.g. a hold-out with one class: no donor of the other
        warnings.warn(f"suite {suite.name!r}: no lesion-removed verdicts ({err}); the Case "
                      "page computes them on first open", RuntimeWarning, stacklevel=2)


@contextmanager
def _reporting_to(status_file: str | Path | None) -> Iterator[StatusFile | None]:
    """Progress goes to ``status_file`` (None: nowhere) while the block runs; a block that
    raises finishes the file with its error, so a page never waits on a dead job."""
    status = StatusFile(status_file) if status_file is not None else None
    set_status_sink(status)
    try:
        yield status
    except BaseException as exc:
        if status is not None:
            status.finish(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        set_status_sink(None)


def prepare_suite(suite: Suite, *, progress: bool = True,
                  status_file: str | Path | None = None) -> bool:
    """Prepare what the clinicians' pages read, for a suite built before they did
    (:func:`dermviz.demo.prepare_pages`: embeddings, OOD calibration, similar cases,
    thumbnails), and a small report card where the suite has none
    (:func:`dermviz.demo.prepare_report_card`); what
    ``dermviz prepare`` and the pages' background job run. False when the suite's data cannot
    calibrate the OOD score."""
    with _reporting_to(status_file) as status:
        if status is not None:
            status.update(force=True, job="safety", phase="safety", safety_fraction=0.0,
                          detail="starting")
        dataset = suite.dataset()
        done = prepare_pages(suite, dataset=dataset, progress=progress) is not None
        _prepare_case_counterfactuals(suite)
        if not sanity.list_studies(suite, ["evaluation"]):  # the Report card page's first
            prepare_report_card(suite, dataset=dataset)
    if status is not None:
        status.finish(error=None if done else "this suite's data cannot calibrate the score")
    return done


def build_probe(
    *,
    size: str = "default",
    correlated: bool = True,
    gradmask: float | None = None,
    artefact: str = PROBE_ARTEFACT,
    out_dir: str | Path,
    overwrite: bool = False,
    explain: bool = True,
    prepare: bool = True,
) -> Suite:
    """Build (or resume) a spurious-correlation probe suite and its GradCAM maps
    (:func:`dermviz.demo.run_probe`)."""
    return run_probe(size=size, correlated=correlated, gradmask=gradmask, artefact=artefact,
                     out_dir=out_dir, overwrite=overwrite, explain=explain, prepare=prepare)


def explain_suite(suite: Suite, **options: Any) -> dict[str, int]:
    """Fill the suite's map store (:func:`dermviz.explain.precompute.explain_suite`, whose
    options these are): ``{"computed": n, "cached": n}``."""
    return precompute.explain_suite(suite, **options)
