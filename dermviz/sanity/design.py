"""Study designs for a suite: the specs of the paper's checks and of custom ones.

Builds the typed specs (:mod:`dermviz.sanity.checks`) from a suite: its members,
thresholds, hold-out images and the explainers' default parameters
(:func:`dermviz.explain.precompute.default_params`; KernelSHAP's default is the
paper's 2500 samples). Shared by ``dermviz sanity`` and the dashboard pages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from dermviz.explain.base import get_explainer
from dermviz.explain.precompute import default_params
from dermviz.models.blocks import INCEPTION_BLOCKS, PAPER_STAGES
from dermviz.sanity.base import DEFAULT_SIMILARITIES
from dermviz.sanity.checks import (
    CrossModelSpec,
    EfficientRandomizationSpec,
    EvaluationSpec,
    RandomizationSpec,
    ReproducibilitySpec,
    SmoothRandomizationSpec,
)
from dermviz.sanity.checks.evaluation import DEFAULT_METHODS, DEFAULT_METRICS
from dermviz.sanity.reference import paper_image_ids

if TYPE_CHECKING:  # pragma: no cover
    from dermviz.models.suite import Suite

__all__ = [
    "COMPARISON_KINDS",
    "CROSS_MODEL_MEMBERS",
    "METHODS",
    "comparison_spec",
    "default_image_ids",
    "default_layer_set",
    "emprt_spec",
    "evaluation_image_ids",
    "evaluation_spec",
    "layer_sets",
    "method_params",
    "paper_study_spec",
    "randomization_spec",
    "smprt_spec",
    "stage_names",
]

#: The saliency methods the paper checked.
METHODS = ("gradcam", "kernelshap")
COMPARISON_KINDS = ("reproducibility", "cross_model")
#: The paper compared three members (seeds 5, 8, 11; docs/protocol.md §10.3).
CROSS_MODEL_MEMBERS = 3


def layer_sets(suite: Suite | None = None) -> tuple[str, ...]:
    """The randomization layer sets a suite's members have, its default first: ``paper``
    and ``blocks`` for InceptionV3 members, ``blocks`` alone for an imported model of
    another architecture (its adapter's, :mod:`dermviz.models.adapter`)."""
    if suite is None or not suite.member_ids:
        return ("paper", "blocks")
    return suite.adapter(suite.member_ids[0]).layer_sets


def default_layer_set(suite: Suite | None = None) -> str:
    """The layer set a paper-style randomization study uses on ``suite``
    (:func:`layer_sets`' first)."""
    return layer_sets(suite)[0]


def stage_names(layer_set: str, *, suite: Suite | None = None) -> list[str]:
    """Stage names of a layer set, top-down, without building a model.

    With ``suite``, its members' stages: an imported model's are recorded in its
    adapter; a layer set the suite's members do not have is refused.
    """
    if layer_set not in ("paper", "blocks"):
        raise ValueError(f"unknown layer set {layer_set!r}; choose 'paper' or 'blocks'")
    if suite is not None and suite.member_ids:
        adapter = suite.adapter(suite.member_ids[0])
        if layer_set not in adapter.layer_sets:
            raise ValueError(f"suite {suite.name!r}'s members have no {layer_set!r} layer "
                             f"set (the paper's stages are InceptionV3's); use "
                             f"{' or '.join(repr(s) for s in adapter.layer_sets)}")
        if adapter.stage_names is not None:
            return list(adapter.stage_names)
    if layer_set == "paper":
        return [s.role for s in PAPER_STAGES]
    return ["head", *INCEPTION_BLOCKS, "stem"]


def method_params(
    suite: Suite,
    method: str,
    *,
    layer: str | None = None,
    nsamples: int | None = None,
    n_segments: int | None = None,
) -> dict[str, Any]:
    """The explainer's full parameters for ``suite``
    (:func:`dermviz.explain.precompute.default_params`: the suite's GradCAM layer,
    KernelSHAP's defaults, the paper's settings), with the given options.

    Only options the method has are used (``layer`` for the CAMs, ``nsamples`` and
    ``n_segments`` for KernelSHAP): the method's registered class says which.
    """
    known = get_explainer(method).canonical_params()
    given = {"layer": layer, "nsamples": None if nsamples is None else int(nsamples),
             "n_segments": None if n_segments is None else int(n_segments)}
    overrides = {k: v for k, v in given.items() if v is not None and k in known}
    return default_params(suite, method, **overrides)


def default_image_ids(holdout: pd.DataFrame) -> list[str]:
    """The paper's 16 randomization images (8 mel, 8 nv), or the stand-in on a small
    hold-out (:func:`~dermviz.sanity.reference.paper_image_ids`)."""
    return paper_image_ids(holdout)


def paper_study_spec(
    holdout_table: pd.DataFrame,
    *,
    member_id: str = "",
    methods: Sequence[str] = METHODS,
    method_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    threshold: float = 0.5,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
) -> dict[str, RandomizationSpec]:
    """The paper's randomization design, one spec per method.

    16 hold-out images (:func:`~dermviz.sanity.reference.paper_image_ids`), the
    six paper layers, cascading, kernels only, each stage explaining its own
    predicted class (``target="predicted"``, as the paper did).

    Parameters
    ----------
    holdout_table : DataFrame
        ``Dataset.holdout`` (or a suite's hold-out predictions table).
    member_id : str
        The member to randomize (the paper did not record which it used).
    methods : sequence of str
        Registry names; default GradCAM and KernelSHAP.
    method_params : mapping, optional
        Per-method explainer parameters; default each explainer's own defaults
        (the paper's: GradCAM on its default layer, KernelSHAP at 2500 samples).

    Returns
    -------
    dict of str to RandomizationSpec
        Keyed by method name.
    """
    ids = tuple(paper_image_ids(holdout_table))
    given = {k: dict(v) for k, v in (method_params or {}).items()}
    return {
        m: RandomizationSpec(
            member_id=member_id,
            image_ids=ids,
            method=m,
            method_params=given[m] if m in given else get_explainer(m).canonical_params(),
            layer_set="paper",
            order="cascading",
            similarities=tuple(similarities),
            seed=seed,
            target="predicted",
            threshold=threshold,
        )
        for m in methods
    }


def _check_member(suite: Suite, member: str | None) -> str:
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    if member is None:
        return suite.member_ids[0]
    suite.member(member)  # KeyError naming the members
    return member


def _check_images(holdout: pd.DataFrame, image_ids: Sequence[str]) -> list[str]:
    ids = [str(i) for i in image_ids]
    if not ids:
        raise ValueError("no image chosen")
    if len(set(ids)) != len(ids):
        raise ValueError("an image is listed twice")
    known = set(holdout["image_id"].astype(str))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise KeyError(
            f"{len(unknown)} image id(s) not in the hold-out: {', '.join(unknown[:5])}"
        )
    return ids


def _images(suite: Suite, dataset: Any | None, image_ids: Sequence[str] | None) -> list[str]:
    holdout = (dataset if dataset is not None else suite.dataset()).holdout
    return _check_images(holdout, image_ids) if image_ids else default_image_ids(holdout)


def _check_stages(layer_set: str, stages: Sequence[str] | None,
                  suite: Suite | None = None) -> None:
    known = stage_names(layer_set, suite=suite)
    unknown = [s for s in stages or () if s not in known]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown} for layer set {layer_set!r}; "
                         f"known: {', '.join(known)}")


def randomization_spec(
    suite: Suite,
    *,
    member: str | None = None,
    method: str = "gradcam",
    params: Mapping[str, Any] | None = None,
    image_ids: Sequence[str] | None = None,
    study: str = "paper",
    layer_set: str | None = None,
    order: str = "cascading",
    target: str | None = None,
    seed: int = 0,
    reset_bias: bool = False,
    reset_batchnorm: bool = False,
    stages: Sequence[str] | None = None,
    dataset: Any | None = None,
) -> RandomizationSpec:
    """A randomization study's spec for a suite member.

    ``study="paper"``: the paper's design (:func:`paper_study_spec`: six layers,
    cascading, kernels only, each stage explaining its own predicted class);
    ``layer_set``, ``order``, ``reset_*`` and ``stages`` must then keep the
    paper's values. ``layer_set`` defaults to the suite's (:func:`default_layer_set`:
    the paper's six layers for InceptionV3 members, the blocks of an imported model).
    ``study="custom"``: every option as given; ``target``
    defaults to ``"original"`` (the sanity check proper).

    ``member`` defaults to the first member, ``params`` to :func:`method_params`,
    ``image_ids`` to :func:`default_image_ids`; ``dataset`` to ``suite.dataset()``.
    """
    member = _check_member(suite, member)
    ids = _images(suite, dataset, image_ids)
    params = dict(params) if params is not None else method_params(suite, method)
    own = default_layer_set(suite)
    layer_set = layer_set or own
    if study == "paper":
        changed = [
            name
            for name, value, paper in (
                ("layer set", layer_set, own),
                ("order", order, "cascading"),
                ("target", target or "predicted", "predicted"),
                ("reset-bias", reset_bias, False),
                ("reset-batchnorm", reset_batchnorm, False),
                ("stages", stages or None, None),
            )
            if value != paper
        ]
        if changed:
            raise ValueError(
                f"the paper study fixes {', '.join(changed)}; use --study custom to change them"
            )
        target = "predicted"
    elif study == "custom":
        _check_stages(layer_set, stages, suite)
    else:
        raise ValueError(f"unknown study {study!r}; choose 'paper' or 'custom'")
    return RandomizationSpec(
        member_id=member, image_ids=tuple(ids), method=method, method_params=params,
        layer_set=layer_set, order=order, target=target or "original", seed=seed,
        reset_bias=reset_bias, reset_batchnorm=reset_batchnorm,
        threshold=suite.threshold(member), stages=tuple(stages) if stages else None,
    )


def smprt_spec(
    suite: Suite,
    *,
    member: str | None = None,
    method: str = "gradcam",
    params: Mapping[str, Any] | None = None,
    image_ids: Sequence[str] | None = None,
    layer_set: str | None = None,
    order: str = "bottom_up",
    target: str | None = None,
    seed: int = 0,
    stages: Sequence[str] | None = None,
    n_noisy: int = 50,
    noise_level: float = 0.1,
    reset_bias: bool = False,
    reset_batchnorm: bool = False,
    dataset: Any | None = None,
) -> SmoothRandomizationSpec:
    """An sMPRT study's spec for a suite member.

    The options of a custom :func:`randomization_spec` (bottom-up order by
    default, as Hedstroem et al. recommend), plus the smoothing: ``n_noisy``
    explanations averaged per map (the noise-free one included) with Gaussian
    noise of ``noise_level`` times the image's value range.
    """
    base = randomization_spec(
        suite, member=member, method=method, params=params, image_ids=image_ids,
        study="custom", layer_set=layer_set, order=order, target=target, seed=seed,
        reset_bias=reset_bias, reset_batchnorm=reset_batchnorm, stages=stages, dataset=dataset,
    )
    fields = {k: v for k, v in base.to_dict().items() if k != "similarities"}
    return SmoothRandomizationSpec.from_dict(
        {**fields, "n_noisy": n_noisy, "noise_level": noise_level}
    )


def emprt_spec(
    suite: Suite,
    *,
    member: str | None = None,
    method: str = "gradcam",
    params: Mapping[str, Any] | None = None,
    image_ids: Sequence[str] | None = None,
    layer_set: str = "blocks",
    stages: Sequence[str] | None = None,
    target: str | None = None,
    seed: int = 0,
    n_bins: int = 100,
    reset_bias: bool = False,
    reset_batchnorm: bool = False,
    dataset: Any | None = None,
) -> EfficientRandomizationSpec:
    """An eMPRT study's spec for a suite member: the maps before and after
    randomizing the whole layer set (default every weighted layer) at once.

    ``target`` defaults to ``"original"``; the other options as in
    :func:`randomization_spec`.
    """
    member = _check_member(suite, member)
    ids = _images(suite, dataset, image_ids)
    _check_stages(layer_set, stages, suite)
    return EfficientRandomizationSpec(
        member_id=member, image_ids=tuple(ids), method=method,
        method_params=dict(params) if params is not None else method_params(suite, method),
        layer_set=layer_set, stages=tuple(stages) if stages else None, n_bins=n_bins,
        seed=seed, reset_bias=reset_bias, reset_batchnorm=reset_batchnorm,
        target=target or "original", threshold=suite.threshold(member),
    )


def comparison_spec(
    suite: Suite,
    kind: str,
    *,
    member: str | None = None,
    members: Sequence[str] | None = None,
    method: str = "gradcam",
    params: Mapping[str, Any] | None = None,
    image_ids: Sequence[str] | None = None,
    seed: int = 0,
    dataset: Any | None = None,
) -> ReproducibilitySpec | CrossModelSpec:
    """A reproducibility or cross-model check's spec for a suite.

    Parameters
    ----------
    kind : {"reproducibility", "cross_model"}
    member : str, optional
        Reproducibility: the member explained twice; cross-model: the reference.
        Default: the first member.
    members : sequence of str, optional
        Cross-model: the members compared (the reference first); default the
        reference and the next members, :data:`CROSS_MODEL_MEMBERS` in all (all
        members if fewer).
    params : mapping, optional
        Explainer parameters (default :func:`method_params`). Seeded methods get
        one seed per run or member: ``params["seed"] + r`` (r = 0, 1, ...).
    image_ids : sequence of str, optional
        Default :func:`default_image_ids`.
    seed : int
        Seeds the random baseline map.
    """
    if kind not in COMPARISON_KINDS:
        raise ValueError(f"unknown comparison {kind!r}; choose from {COMPARISON_KINDS}")
    member = _check_member(suite, member)
    ids = tuple(_images(suite, dataset, image_ids))
    params = dict(params) if params is not None else method_params(suite, method)
    if kind == "reproducibility":
        return ReproducibilitySpec(
            member_id=member, image_ids=ids, method=method, method_params=params,
            threshold=suite.threshold(member), seed=seed,
        )
    if members:
        listed = [_check_member(suite, m) for m in members]
        if len(set(listed)) != len(listed):
            raise ValueError("a member is listed twice")
        sources = [member, *(m for m in listed if m != member)]
    else:
        others = [m for m in suite.member_ids if m != member]
        sources = [member, *others[: CROSS_MODEL_MEMBERS - 1]]
    if len(sources) < 2:
        raise ValueError(
            f"cross-model comparison needs two members; suite {suite.name!r} has "
            f"{suite.member_ids}"
        )
    return CrossModelSpec(
        member_ids=tuple(sources), image_ids=ids, method=method, method_params=params,
        reference=member, thresholds={m: suite.threshold(m) for m in sources}, seed=seed,
    )


def evaluation_image_ids(holdout: pd.DataFrame, n_images: int) -> list[str]:
    """``n_images`` hold-out images, half melanomas and half naevi (the first of each by
    ``test_index``; the other class fills in where one runs short)."""
    if int(n_images) < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    t = holdout.sort_values("test_index") if "test_index" in holdout else holdout
    y = t["y"].astype(int) if "y" in t else (t["dx"] == "mel").astype(int)
    mel = [str(i) for i in t.loc[y.to_numpy() == 1, "image_id"]]
    nv = [str(i) for i in t.loc[y.to_numpy() == 0, "image_id"]]
    n_mel = min(len(mel), max(int(n_images) - len(nv), (int(n_images) + 1) // 2))
    ids = mel[:n_mel] + nv[: int(n_images) - n_mel]
    if not ids:
        raise ValueError("the hold-out has no images")
    return ids


def evaluation_spec(
    suite: Suite,
    *,
    members: Sequence[str] | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    metrics: Sequence[str] = DEFAULT_METRICS,
    image_ids: Sequence[str] | None = None,
    n_images: int = 8,
    method_params: Mapping[str, Mapping[str, Any]] | None = None,
    metric_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    dataset: Any | None = None,
) -> EvaluationSpec:
    """A report-card study's spec for a suite (:class:`~dermviz.sanity.checks.EvaluationSpec`).

    Parameters
    ----------
    suite : Suite
    members : sequence of str, optional
        Default every member.
    methods : sequence of str
        Registered saliency methods; default the fast CAMs (GradCAM, GradCAM++, LayerCAM).
    metrics : sequence of str
        Registered metrics; default the fast ones (deletion, insertion, sparseness,
        complexity).
    image_ids : sequence of str, optional
        Hold-out images; default ``n_images`` of them, half of each class
        (:func:`evaluation_image_ids`).
    n_images : int
        How many images when ``image_ids`` is not given.
    method_params : mapping, optional
        Per method, options over the suite's defaults
        (:func:`dermviz.explain.precompute.default_params`), e.g.
        ``{"kernelshap": {"nsamples": 500}}``.
    metric_params : mapping, optional
        Per metric, its parameters (e.g. ``{"deletion": {"n_steps": 10,
        "replacement": "blur"}}``); the rest are the metric's defaults.
    seed : int
        Seeds the random baselines.
    dataset : Dataset, optional
        The suite's data set (default ``suite.dataset()``).

    Raises
    ------
    KeyError
        An unknown method, member or image (the message lists the known ones).
    ValueError
        An unknown metric (the message lists the known ones), or a bad parameter.
    """
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    chosen = list(members) if members else list(suite.member_ids)
    for member in chosen:
        suite.member(member)  # KeyError naming the members
    methods = list(methods)
    for method in methods:
        get_explainer(method)  # KeyError naming the methods
    given = {k: dict(v) for k, v in (method_params or {}).items()}
    unknown = sorted(set(given) - set(methods))
    if unknown:
        raise ValueError(f"method_params for methods not in the study: {unknown}")
    holdout = (dataset if dataset is not None else suite.dataset()).holdout
    ids = (_check_images(holdout, image_ids) if image_ids
           else evaluation_image_ids(holdout, n_images))
    return EvaluationSpec(
        member_ids=tuple(chosen), image_ids=tuple(ids), methods=tuple(methods),
        method_params={m: default_params(suite, m, **given.get(m, {})) for m in methods},
        metrics=tuple(metrics), metric_params=dict(metric_params or {}),
        thresholds={m: suite.threshold(m) for m in chosen}, seed=seed,
    )
