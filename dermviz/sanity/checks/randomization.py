"""The model-parameter randomization check (Adebayo et al. [1]_, docs/protocol.md §10.2).

Explain the same images with a trained member and with copies whose layers are
re-initialised stage by stage; the similarity to the trained map should fall
towards the "no information" baselines. Registered as ``"randomization"``.

References
----------
.. [1] Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for
   Saliency Maps", NeurIPS 2018.
.. [2] Young, Booth, Simpson, Dutton and Shrapnel, "Deep neural network or
   dermatologist?", iMIMIC 2019, arXiv:1908.06612.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dermviz.sanity import tables
from dermviz.sanity.base import (
    DEFAULT_SIMILARITIES,
    MemberSpec,
    Progress,
    normalise_similarities,
    register_check,
)
from dermviz.sanity.checks._common import (
    maps_from_saved,
    maps_to_saved,
    member_compute,
    prepare_inputs,
)
from dermviz.sanity.scoring import (
    ExplainerFactory,
    Ticker,
    baseline_maps,
    map_warnings,
    score,
    timed_explain,
)

__all__ = [
    "LAYER_SETS",
    "ORDERS",
    "TARGETS",
    "RandomizationResult",
    "RandomizationSpec",
    "check_layer_options",
    "resolve_stages",
    "run_randomization_study",
    "select_stages",
]

LAYER_SETS = ("paper", "blocks")
#: The same as :data:`dermviz.sanity.layer_randomization.ORDERS`, kept literal so that this
#: module stays free of Keras (checked in the tests).
ORDERS = ("cascading", "bottom_up", "independent")
#: "original": every stage explains the class the trained model predicted (the
#: sanity check proper); "predicted": each stage explains its own predicted class
#: (what the paper did: its GradCAM model was rebuilt per stage).
TARGETS = ("original", "predicted")


def check_layer_options(spec: Any) -> None:
    """Check the ``layer_set`` and ``target`` of a randomization spec (this test's,
    eMPRT's) and normalise its ``stages``; raises ValueError."""
    if spec.layer_set not in LAYER_SETS:
        raise ValueError(f"layer_set must be one of {LAYER_SETS}, got {spec.layer_set!r}")
    if spec.target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {spec.target!r}")
    if spec.stages is not None:
        object.__setattr__(spec, "stages", tuple(str(x) for x in spec.stages))
        if not spec.stages or len(set(spec.stages)) != len(spec.stages):
            raise ValueError("stages must list at least one stage, each once")


@dataclass(frozen=True, eq=False, kw_only=True)
class RandomizationSpec(MemberSpec):
    """What a randomization study computes; its :meth:`key` names the cached result.

    Every field of :class:`~dermviz.sanity.base.MemberSpec` (``member_id``, the
    member randomized; ``image_ids``, ``method``, such as ``"gradcam"`` or
    ``"kernelshap"``, ``method_params``, ``threshold``; ``seed`` also seeds the
    re-initialisation), plus:

    Attributes
    ----------
    layer_set : {"paper", "blocks"}
        :func:`~dermviz.models.graph.paper_stages` (six single layers) or
        :func:`~dermviz.models.graph.block_layers` (whole blocks).
    order : {"cascading", "bottom_up", "independent"}
        See :func:`~dermviz.sanity.layer_randomization.randomize`: ``"bottom_up"``
        accumulates the stages from the input side.
    similarities : tuple of str
        :data:`~dermviz.sanity.similarity.SIMILARITIES` names.
    reset_bias, reset_batchnorm : bool
        See :func:`~dermviz.sanity.layer_randomization.randomize` (default: kept, as
        in the paper).
    target : {"original", "predicted"}
        Which class each stage explains; see :data:`TARGETS`.
    n_stages : int, optional
        Only the first ``n_stages`` stages in randomization order (the top-most,
        or the bottom-most for ``"bottom_up"``): a quick preview.
    stages : tuple of str, optional
        Only these stages of the layer set, by stage name (e.g. ``("head_dense",
        "stem/conv1")``), kept in top-down order; default all. Left out of
        :meth:`to_dict` (and so of :meth:`key`) when None, so older keys hold.
    """

    kind: ClassVar[str] = "randomization"

    layer_set: str = "paper"
    order: str = "cascading"
    similarities: tuple[str, ...] = DEFAULT_SIMILARITIES
    reset_bias: bool = False
    reset_batchnorm: bool = False
    target: str = "original"
    n_stages: int | None = None
    stages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "similarities", normalise_similarities(self.similarities))
        check_layer_options(self)
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.n_stages is not None and self.n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {self.n_stages}")

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self.stages is None:
            del d["stages"]  # keeps the keys of specs written before the field existed
        return d

    def describe(self) -> str:
        detail = f"{self.layer_set} layers, {self.order}"
        if self.stages is not None:
            detail += f", stages {', '.join(self.stages)}"
        if self.n_stages is not None:
            detail += f", first {self.n_stages} stages"
        return detail + self.sampling_detail()


def select_stages(
    model: Any,
    layer_set: str,
    *,
    stages: Sequence[str] | None = None,
    n_stages: int | None = None,
    order: str = "cascading",
) -> list[tuple[str, list[str]]]:
    """A layer set's stages on this model: ``(stage name, [layer names])``, top-down.

    Parameters
    ----------
    model : keras.Model
        A dermviz InceptionV3 model.
    layer_set : {"paper", "blocks"}
    stages : sequence of str, optional
        Only these stages, by name (kept in top-down order).
    n_stages : int, optional
        Only the first ``n_stages`` in randomization order: the top-most, or the
        bottom-most for ``order="bottom_up"``.
    order : str
        The randomization order (decides which end ``n_stages`` keeps).
    """
    # Keras-heavy: the spec module stays light for listing and loading.
    from dermviz.models.graph import block_layers, is_inception, paper_stages

    if layer_set not in LAYER_SETS:
        raise ValueError(f"layer_set must be one of {LAYER_SETS}, got {layer_set!r}")
    if layer_set == "paper" and not is_inception(model):
        raise ValueError(f"model {model.name!r} is not an InceptionV3: it has no paper stages; "
                         "use layer set 'blocks'")
    found = paper_stages(model) if layer_set == "paper" else block_layers(model)
    if stages is not None:
        known = [name for name, _ in found]
        unknown = [s for s in stages if s not in known]
        if unknown:
            raise ValueError(
                f"unknown stage(s) {unknown} for layer set {layer_set!r}; known: {known}"
            )
        found = [st for st in found if st[0] in stages]
    if n_stages is None:
        return found
    return found[-n_stages:] if order == "bottom_up" else found[:n_stages]


def resolve_stages(model: Any, spec: RandomizationSpec) -> list[tuple[str, list[str]]]:
    """The spec's stages on this model: ``(stage name, [layer names])``, top-down
    (:func:`select_stages` with the spec's options)."""
    return select_stages(
        model, spec.layer_set, stages=spec.stages, n_stages=spec.n_stages, order=spec.order
    )


@dataclass
class RandomizationResult:
    """A randomization study.

    Attributes
    ----------
    spec : RandomizationSpec
    image_ids : list of str
    stage_names : list of str
        ``"original"`` then the stages in randomization order (top-down, or
        bottom-up for ``order="bottom_up"``).
    stage_layers : list of list of str
        The layers randomized at each stage (empty for the original).
    maps : ndarray, float32, (S + 1, n, H, W)
        Maps per stage; stage 0 is the trained model's.
    baselines : dict of str to ndarray, (n, H, W)
        The reference maps (``"random"``, ``"edge"``) as scored.
    images : ndarray, uint8, (n, H, W, 3)
    table : DataFrame
        Long table: ``method, image_id, kind ("stage" | "baseline"), stage
        (0..S; -1 for baselines), stage_name, measure, value`` with value the
        similarity to the original map (higher = more similar).
    predictions : DataFrame
        ``image_id, stage, stage_name, p_melanoma, target_class`` per stage.
    method : str
    signed : bool
        Whether the maps are signed attributions.
    warnings : list of str
    timings : dict of str to float
        Seconds per stage.
    kind : str
        The spec's check (``"randomization"``, or ``"smprt"`` for the smooth test
        that shares this result type).
    """

    spec: RandomizationSpec
    image_ids: list[str]
    stage_names: list[str]
    stage_layers: list[list[str]]
    maps: np.ndarray
    baselines: dict[str, np.ndarray]
    images: np.ndarray
    table: pd.DataFrame
    predictions: pd.DataFrame
    method: str
    signed: bool
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.spec.kind

    def summary(self, measure: str = "ssim") -> pd.DataFrame:
        """Mean and sd over images per stage and baseline: :func:`~dermviz.sanity.tables.stage_summary`."""  # noqa: E501
        return tables.stage_summary(self.table, measure=measure)

    def steps(self, measure: str = "ssim") -> pd.DataFrame:
        """The paper's per-step metric: :func:`~dermviz.sanity.tables.step_summary`."""
        return tables.step_summary(self.table, measure=measure)

    def stage_table(self, measures: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`~dermviz.sanity.tables.stage_table`."""
        return tables.stage_table(self, measures)

    def step_table(self, measures: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`~dermviz.sanity.tables.step_table`."""
        return tables.step_table(self, measures)

    def baseline_table(self, measures: Sequence[str] | None = None) -> pd.DataFrame:
        """:func:`~dermviz.sanity.tables.baseline_table`."""
        return tables.baseline_table(self, measures)

    def to_saved(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What :mod:`dermviz.sanity.storage` writes beside the tables."""
        return maps_to_saved(
            self, {"stage_names": self.stage_names, "stage_layers": self.stage_layers}
        )

    @classmethod
    def from_saved(cls, spec: RandomizationSpec, meta: Mapping[str, Any],
                   arrays: Mapping[str, np.ndarray], **common: Any) -> RandomizationResult:
        """The result from what :meth:`to_saved` wrote (``common``: the shared fields)."""
        return cls(
            spec=spec,
            stage_names=list(meta["stage_names"]),
            stage_layers=[list(x) for x in meta["stage_layers"]],
            **maps_from_saved(meta, arrays),
            **common,
        )


def run_randomization_study(
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    spec: RandomizationSpec,
    *,
    make_explainer: ExplainerFactory | None = None,
    layers: Sequence[Any] | None = None,
    progress: Progress = True,
) -> RandomizationResult:
    """Explain images with the trained model and with its randomized copies.

    Parameters
    ----------
    model : keras.Model
        The trained member (never modified).
    images : ndarray, (n, H, W, 3)
        Values in [0, 255], in the order of ``image_ids``.
    image_ids : sequence of str
        Must equal ``spec.image_ids`` when the spec lists images.
    spec : RandomizationSpec
        What to compute.
    make_explainer : callable, optional
        ``make_explainer(model) -> Explainer``, called once per stage (on the
        trained model first). Default: the registered ``spec.method`` with
        ``spec.method_params``.
    layers : sequence, optional
        Explicit top-down stages (see :func:`~dermviz.sanity.layer_randomization.as_stages`)
        instead of the spec's ``layer_set``/``stages``/``n_stages``: for models
        other than InceptionV3.
    progress : bool or callable
        True: a tqdm bar; a callable gets ``(done, total, stage_name)`` after each
        stage (e.g. to drive a dashboard progress bar); False: silent.

    Returns
    -------
    RandomizationResult
        Maps per stage, the long table of similarities to the original map
        (stage 0 included: its own score, 1 for SSIM) and the baseline rows.
    """
    from dermviz.sanity.layer_randomization import as_stages, randomize  # Keras-heavy, as above

    ids, images_u8, factory = prepare_inputs(images, image_ids, spec, make_explainer)
    stages = as_stages(layers) if layers is not None else resolve_stages(model, spec)
    layers_of = dict(stages)
    timings: dict[str, float] = {}
    with Ticker(progress, len(stages) + 1, f"{spec.method} randomization") as ticker:
        sm0, signed = timed_explain(timings, "original", factory, model, images,
                                    threshold=spec.threshold)
        ticker("original")
        fixed = sm0.target_class if spec.target == "original" else None
        runs = [("original", sm0)]
        for name, randomized in randomize(
            model,
            stages,
            order=spec.order,  # type: ignore[arg-type]
            seed=spec.seed,
            reset_bias=spec.reset_bias,
            reset_batchnorm=spec.reset_batchnorm,
            copy=False,
        ):
            sm, _ = timed_explain(timings, name, factory, randomized, images,
                                  target_class=fixed, threshold=spec.threshold)
            runs.append((name, sm))
            ticker(name)

    maps = np.stack([sm.maps for _, sm in runs]).astype(np.float32)
    baselines = baseline_maps(images_u8, maps[0], seed=spec.seed, signed=signed)
    rows = []
    for k, (name, _) in enumerate(runs):
        for i, image_id in enumerate(ids):
            for measure in spec.similarities:
                value = score(
                    maps[0, i], maps[k, i], image=images_u8[i], signed=signed, measure=measure
                )
                rows.append((image_id, "stage", k, name, measure, value))
    for bname, bmaps in baselines.items():
        for i, image_id in enumerate(ids):
            for measure in spec.similarities:
                value = score(
                    maps[0, i], bmaps[i], image=images_u8[i], signed=signed, measure=measure
                )
                rows.append((image_id, "baseline", -1, f"baseline:{bname}", measure, value))
    table = pd.DataFrame(
        rows, columns=["image_id", "kind", "stage", "stage_name", "measure", "value"]
    )
    table.insert(0, "method", runs[0][1].method)
    predictions = pd.DataFrame(
        [
            (image_id, k, name, float(sm.p_melanoma[i]), int(sm.target_class[i]))
            for k, (name, sm) in enumerate(runs)
            for i, image_id in enumerate(ids)
        ],
        columns=["image_id", "stage", "stage_name", "p_melanoma", "target_class"],
    )
    return RandomizationResult(
        spec=spec,
        image_ids=ids,
        stage_names=[name for name, _ in runs],
        stage_layers=[[]] + [list(layers_of[name]) for name, _ in runs[1:]],
        maps=maps,
        baselines=baselines,
        images=images_u8,
        table=table,
        predictions=predictions,
        method=runs[0][1].method,
        signed=signed,
        warnings=map_warnings(dict(runs), {name: maps[k] for k, (name, _) in enumerate(runs)}),
        timings=timings,
    )


register_check(
    RandomizationSpec,
    compute=member_compute(run_randomization_study),
    result_type=RandomizationResult,
)
