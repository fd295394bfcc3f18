"""The built-in demo: a synthetic data set, a small suite, its GradCAM maps and a small
report card of explanation methods (:func:`prepare_report_card`).

Two profiles (:mod:`dermviz.models.profiles`): ``smoke`` (seconds; what the tests
use) and ``default`` (what the README's first command builds; a few minutes).
:func:`run_probe` builds the spurious-correlation probe's suites the same way
(:func:`dermviz.models.profiles.probe_profile`; ``docs/probe.md``).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import Any

from dermviz.analysis.safety import SuiteSafety, prepare_safety
from dermviz.data.dataset import Dataset
from dermviz.data.synthetic import make_synthetic
from dermviz.explain.precompute import default_params, explain_suite
from dermviz.models.profiles import (
    PROBE_ARTEFACT,
    PROBE_FINE_LAYER,
    PROFILES,
    TrainProfile,
    probe_profile,
)
from dermviz.models.suite import Suite
from dermviz.sanity import (
    comparison_spec,
    evaluation_image_ids,
    evaluation_spec,
    randomization_spec,
)
from dermviz.sanity import run as run_study
from dermviz.store.status import report

__all__ = [
    "DEMO_REPORT_CARD", "DEMO_SANITY_IMAGES", "PROFILES", "SMOKE_REPORT_CARD",
    "prepare_report_card", "prepare_sanity_examples", "run_demo", "run_probe",
]

#: The small report-card study a build runs so the Report card page is not empty: two fast
#: methods, the fast metrics, a few images, short curves (seconds per member).
DEMO_REPORT_CARD: dict[str, Any] = {
    "methods": ("gradcam", "gradcam_pp"),
    "metrics": ("deletion", "insertion", "sparseness", "complexity"),
    "n_images": 4,
    "metric_params": {"deletion": {"n_steps": 10}, "insertion": {"n_steps": 10}},
}
#: The smoke profile's (what the tests build): GradCAM alone (GradCAM++ goes through
#: tf-keras-vis, which clones and traces the model again), on the first member only.
SMOKE_REPORT_CARD: dict[str, Any] = {**DEMO_REPORT_CARD, "methods": ("gradcam",),
                                     "max_members": 1}
#: Images of the sanity studies the default demo's build runs (:func:`prepare_sanity_examples`)
#: so that the Layer randomization and Reproducibility & variation pages open on a result.
DEMO_SANITY_IMAGES = 4


def run_demo(
    *,
    profile: str | TrainProfile = "default",
    out_dir: str | Path,
    overwrite: bool = False,
    explain: bool = True,
    prepare: bool = True,
    progress: bool = True,
    timings: dict[str, float] | None = None,
) -> Suite:
    """Build (or resume) the demo suite and precompute its GradCAM maps.

    ``profile`` names one of :data:`PROFILES`, or is a :class:`TrainProfile` of its own
    (a variant of one, as the demo benchmark tries). ``prepare``: also prepare what the
    clinicians' pages read (:func:`prepare_pages`); without it the pages prepare it in a
    background job on first open; the default profile's build also runs
    :func:`prepare_sanity_examples`. ``timings``: a dict to fill with each phase's wall
    seconds (``training``, ``gradcam``, ``pages``, ``report_card``, ``sanity``).
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown demo profile {profile!r}; choose from {sorted(PROFILES)}")
        profile = PROFILES[profile]
    smoke = profile is PROFILES["smoke"]
    # The smoke suite (what the tests share) gets no sanity examples: the tests run their own.
    return _build(profile, out_dir=out_dir, overwrite=overwrite, explain=explain,
                  prepare=prepare, progress=progress,
                  report_card=SMOKE_REPORT_CARD if smoke else DEMO_REPORT_CARD,
                  sanity_examples=not smoke, timings=timings)


def run_probe(
    *,
    size: str = "default",
    correlated: bool = True,
    gradmask: float | None = None,
    artefact: str = PROBE_ARTEFACT,
    out_dir: str | Path,
    overwrite: bool = False,
    explain: bool = True,
    prepare: bool = True,
    progress: bool = True,
) -> Suite:
    """Build (or resume) a spurious-correlation probe suite and its GradCAM maps, at
    the suite's layer and at :data:`~dermviz.models.profiles.PROBE_FINE_LAYER`.

    Parameters
    ----------
    size, correlated, gradmask, artefact
        As for :func:`dermviz.models.profiles.probe_profile`: the artefact (ink or a
        ruler) on every training melanoma and no naevus (``correlated``) or on half of
        each class, and the GradMask weight (None: plain training).
    out_dir : path
        The suite folder.
    overwrite, explain, prepare, progress
        As for :func:`run_demo`.
    """
    spec = probe_profile(size=size, correlated=correlated, gradmask=gradmask,
                         artefact=artefact)
    suite = _build(spec, out_dir=out_dir, overwrite=overwrite, explain=explain,
                   prepare=prepare, progress=progress)
    if explain and spec.train.gradcam_layer != PROBE_FINE_LAYER:
        explain_suite(suite, method="gradcam", progress=progress,
                      params=default_params(suite, "gradcam", layer=PROBE_FINE_LAYER))
    return suite


def _build(spec: TrainProfile, *, out_dir: str | Path, overwrite: bool, explain: bool,
           prepare: bool, progress: bool,
           report_card: dict[str, Any] = DEMO_REPORT_CARD,
           sanity_examples: bool = False, timings: dict[str, float] | None = None) -> Suite:
    # The training engine imports scikit-learn and TensorFlow: importing dermviz.demo
    # (as the CLI does for its help) must not.
    from dermviz.models.training import train_suite

    timings = {} if timings is None else timings
    clock = [time.perf_counter()]

    def lap(phase: str) -> None:
        clock.append(time.perf_counter())
        timings[phase] = round(clock[-1] - clock[-2], 2)

    dataset = make_synthetic(spec.data)
    suite = train_suite(dataset, spec.train, out_dir=out_dir, overwrite=overwrite,
                        progress=progress, device={"xla": spec.xla})
    lap("training")
    # The build's maps use a stored precision choice, else float32: measuring one (about
    # 20 s a member) costs more than the few hundred small maps it could speed up.
    # ``dermviz info --suite NAME --measure`` measures later, as the dashboard assumes.
    suite.measure_precision = False
    if explain:
        # The pages and the report card next use the same members: load each once.
        explain_suite(suite, method="gradcam", progress=progress, keep_models=prepare)
        lap("gradcam")
    if prepare:
        prepare_pages(suite, dataset=dataset, progress=progress)
        lap("pages")
        prepare_report_card(suite, dataset=dataset, progress=progress, **report_card)
        lap("report_card")
        if sanity_examples:
            prepare_sanity_examples(suite, dataset=dataset, n_images=DEMO_SANITY_IMAGES,
                                    progress=progress)
            lap("sanity")
    return suite


def prepare_report_card(suite: Suite, *, dataset: Dataset | None = None,
                        progress: bool = False, max_members: int | None = None,
                        **options: Any) -> Any | None:
    """Run a small report-card study (or read it from the suite's study cache), reporting to
    the status file.

    ``options`` are :func:`dermviz.sanity.evaluation_spec`'s, :data:`DEMO_REPORT_CARD` by
    default; ``max_members``: only the first members (default every one).

    Returns the study (:class:`dermviz.sanity.EvaluationResult`), or None for a suite
    without members or whose hold-out the study cannot use (a warning says why).
    """
    if not suite.member_ids:
        return None
    dataset = dataset if dataset is not None else suite.dataset()
    report(force=True, phase="safety", detail="a small report card of explanation methods")
    try:
        options = options or DEMO_REPORT_CARD
        members = suite.member_ids[:max_members] if max_members else None
        spec = evaluation_spec(suite, dataset=dataset, members=members, **options)
        return run_study(suite, spec, dataset=dataset, load_model=suite.model,
                         progress=progress)
    except (ValueError, KeyError) as err:  # e.g. an empty hold-out, a method it lacks
        warnings.warn(f"suite {suite.name!r}: no report card ({err}); run 'dermviz "
                      "evaluate' or open the Report card page", RuntimeWarning, stacklevel=2)
        return None


def prepare_sanity_examples(suite: Suite, *, dataset: Dataset | None = None,
                            n_images: int = DEMO_SANITY_IMAGES,
                            randomization: dict[str, Any] | None = None,
                            progress: bool = False) -> list[Any]:
    """Run (or read from the suite's study cache) a small GradCAM randomization study of the
    first member and a small cross-model comparison of the first members (reproducibility
    for a one-member suite), on ``n_images`` hold-out images, half melanomas.

    ``randomization``: :func:`dermviz.sanity.randomization_spec`'s options (default: the
    paper's design, six stages, cascading). Returns the studies run; a study the suite
    cannot run (e.g. an empty hold-out) is skipped with a warning.
    """
    if not suite.member_ids:
        return []
    dataset = dataset if dataset is not None else suite.dataset()
    report(force=True, phase="safety", detail="small sanity studies for the researchers' pages")
    try:
        ids = evaluation_image_ids(dataset.holdout, n_images)
        kind = "cross_model" if len(suite.member_ids) > 1 else "reproducibility"
        specs = [randomization_spec(suite, image_ids=ids, dataset=dataset,
                                    **(randomization or {})),
                 comparison_spec(suite, kind, image_ids=ids, dataset=dataset)]
    except (ValueError, KeyError) as err:
        warnings.warn(f"suite {suite.name!r}: no sanity examples ({err})", RuntimeWarning,
                      stacklevel=2)
        return []
    return [run_study(suite, spec, dataset=dataset, load_model=suite.model, progress=progress)
            for spec in specs]


def prepare_pages(suite: Suite, *, dataset: Dataset | None = None, progress: bool = True
                  ) -> SuiteSafety | None:
    """Prepare what the clinicians' pages read (:func:`dermviz.analysis.safety.prepare_safety`:
    pool embeddings, the OOD calibration, the hold-out's similar cases, thumbnails),
    reporting to the status file (phase ``safety``) and, with ``progress``, to stderr.

    A suite whose data cannot calibrate the OOD score (fewer than 2 hold-out images, or a
    class with fewer than 2 pool images) is left without: a warning says so, and the pages
    say that the check is not available.
    """
    def say(fraction: float, detail: str) -> None:
        report(force=fraction in (0.0, 1.0), phase="safety", safety_fraction=fraction,
               detail=detail)
        if progress and fraction < 1.0:
            print(f"[safety {fraction:4.0%}] {detail}", file=sys.stderr, flush=True)

    if not suite.member_ids:
        return None
    try:
        # The members stay loaded on the suite object for what comes next (the report card).
        return prepare_safety(suite, dataset=dataset, progress=say, model_loader=suite.model)
    except ValueError as err:
        warnings.warn(f"suite {suite.name!r}: no out-of-distribution calibration ({err})",
                      RuntimeWarning, stacklevel=2)
        return None
