"""The report card of explanation methods: every method x metric x member x image, cached.

For each member and hold-out image, every method explains the image's predicted class, and
every metric of :mod:`dermviz.evaluation` (faithfulness, robustness, complexity) scores the
map beside its two uninformed baselines (the random map and the centred Gaussian,
:func:`~dermviz.evaluation.baselines.score_images`; the baselines are scored once per
member, image and signedness, not once per method). Deletion and insertion keep their
curves, for the drill-down of one image. Registered as ``"evaluation"``: run by the one
sanity runner, cached under ``<suite>/sanity/evaluation-<key>/``.

The spec's key holds every metric's full parameters (the replacement value included), the
methods' parameters, the members, their thresholds and the images. Each member and image
is written to the runner's scratch folder as soon as it is scored, so an interrupted study
loses at most the image in progress and resumes where it stopped.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dermviz.evaluation import (
    METRICS,
    Metric,
    get_metric,
    keras_model_fn,
    score_images,
    summarize_scores,
)
from dermviz.evaluation.report import family_table
from dermviz.sanity.base import (
    Loaders,
    Progress,
    SanitySpec,
    normalise_ids,
    normalise_params,
    register_check,
)
from dermviz.sanity.scoring import Ticker, as_uint8, explainer_factory
from dermviz.store.atomic import write_atomic

__all__ = [
    "CURVE_SOURCES",
    "DEFAULT_METHODS",
    "DEFAULT_METRICS",
    "EvaluationResult",
    "EvaluationSpec",
]

#: The fast methods (one or a few passes per image): the study's default.
DEFAULT_METHODS: tuple[str, ...] = ("gradcam", "gradcam_pp", "layercam")
#: The fast metrics (no re-explanation, no imputation): the study's default.
DEFAULT_METRICS: tuple[str, ...] = ("deletion", "insertion", "sparseness", "complexity")
#: The curves kept per map: the method's, then its two baselines'.
CURVE_SOURCES: tuple[str, ...] = ("method", "random", "gaussian")


def _full_metric_params(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of metric ``name`` (defaults filled in), as sorted plain JSON."""
    params = get_metric(name, **dict(given)).params()
    params.pop("metric")
    return normalise_params(params)


@dataclass(frozen=True, eq=False, kw_only=True)
class EvaluationSpec(SanitySpec):
    """A report-card study: methods x metrics on members x images.

    Attributes
    ----------
    member_ids : tuple of str
        The members explained.
    image_ids : tuple of str
        The images, in order.
    methods : tuple of str
        Registered saliency methods (:func:`dermviz.explain.available_methods`).
    method_params : dict
        Each method's explainer parameters (``{method: {...}}``; a missing method takes
        its class's defaults).
    metrics : tuple of str
        Registered metric names (:func:`dermviz.evaluation.available_metrics`).
    metric_params : dict
        Each metric's parameters, completed with its defaults (so the key holds the
        replacement value and every other parameter).
    thresholds : dict
        Each member's operating threshold (decides the explained class); default 0.5.
    seed : int
        Seeds the random baselines (image ``k`` uses ``seed + k``).
    """

    kind: ClassVar[str] = "evaluation"

    member_ids: tuple[str, ...]
    image_ids: tuple[str, ...]
    methods: tuple[str, ...] = DEFAULT_METHODS
    method_params: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    metric_params: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        members = tuple(str(m) for m in self.member_ids)
        methods, metrics = tuple(self.methods), tuple(self.metrics)
        for what, names in (("member_ids", members), ("methods", methods), ("metrics", metrics)):
            if not names:
                raise ValueError(f"an evaluation study needs at least one of {what}")
            if len(set(names)) != len(names):
                raise ValueError(f"{what} must be unique, got {list(names)}")
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
        extra = sorted(set(self.metric_params) - set(metrics))
        if extra:
            raise ValueError(f"metric_params for metrics not in the study: {extra}")
        extra = sorted(set(self.method_params) - set(methods))
        if extra:
            raise ValueError(f"method_params for methods not in the study: {extra}")
        set_(self, "member_ids", members)
        set_(self, "image_ids", normalise_ids(self.image_ids))
        if not self.image_ids:
            raise ValueError("an evaluation study needs at least one image")
        set_(self, "methods", methods)
        set_(self, "metrics", metrics)
        set_(
            self,
            "method_params",
            normalise_params({m: dict(self.method_params.get(m, {})) for m in methods}),
        )
        set_(
            self,
            "metric_params",
            {m: _full_metric_params(m, self.metric_params.get(m, {})) for m in metrics},
        )
        set_(self, "thresholds", {m: float(self.thresholds.get(m, 0.5)) for m in members})
        set_(self, "seed", int(self.seed))

    @property
    def members(self) -> tuple[str, ...]:
        return self.member_ids

    def revisions(self) -> dict[str, int]:
        """Each metric's revision where the code has changed its scores since the first."""
        return {m: METRICS[m].revision for m in self.metrics if METRICS[m].revision > 1}

    def metric_objects(self) -> list[Metric]:
        """The study's metrics, built with their parameters."""
        return [get_metric(m, **self.metric_params[m]) for m in self.metrics]

    def describe(self) -> str:
        return (
            f"{', '.join(self.methods)} x {len(self.metrics)} metrics, "
            f"{len(self.member_ids)} member(s)"
        )


@dataclass
class EvaluationResult:
    """A report-card study's scores, maps and curves.

    Attributes
    ----------
    spec : EvaluationSpec or None
    image_ids : list of str
    images : ndarray, uint8, (n, H, W, 3)
    table : DataFrame
        One row per member, method, image and metric: ``member``, ``method``,
        ``image_id``, ``metric``, ``family``, ``higher_is_better``, ``score``,
        ``score_random``, ``score_gaussian`` (:func:`~dermviz.evaluation.score_images`).
    predictions : DataFrame
        ``member``, ``image_id``, ``p_melanoma``, ``target_class`` (the explained class).
    maps : ndarray, float32, (members, methods, n, H, W)
    curves : dict of str to ndarray
        Per curve metric (deletion, insertion): ``(members, methods, 3, n, steps + 1)``,
        the method's curve and its baselines' (:data:`CURVE_SOURCES`).
    fractions : dict of str to ndarray
        Per curve metric, the removed fraction at each step.
    timings : dict
        Seconds per member spent scoring (images read from the scratch folder excluded).
    warnings : list of str
    """

    kind: ClassVar[str] = "evaluation"
    signed: ClassVar[bool] = False

    spec: EvaluationSpec | None
    image_ids: list[str]
    images: np.ndarray
    table: pd.DataFrame
    predictions: pd.DataFrame
    maps: np.ndarray
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    fractions: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        """The methods, comma-separated (for listings)."""
        return ",".join(self.methods)

    @property
    def methods(self) -> list[str]:
        """The methods, in the study's order."""
        return self._listed("methods", "method")

    @property
    def member_ids(self) -> list[str]:
        """The members, in the study's order."""
        return self._listed("member_ids", "member")

    def _listed(self, field_: str, column: str) -> list[str]:
        """The spec's ``field_``, or without a spec the table's ``column`` in order."""
        if self.spec is not None:
            return list(getattr(self.spec, field_))
        return list(dict.fromkeys(self.table[column]))

    def summary(
        self, *, n_bootstrap: int = 2000, level: float = 0.95, seed: int = 0
    ) -> pd.DataFrame:
        """Per member, method and metric: the mean score with its bootstrap interval over
        images, both baselines, the gains over them and whether the method passes
        (:func:`~dermviz.evaluation.summarize_scores`)."""
        return summarize_scores(
            self.table, by=("member", "method"), n_bootstrap=n_bootstrap, level=level, seed=seed
        )

    def family_table(self, summary: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per member, family and method: metrics passed, mean rank, the best marked
        (:func:`~dermviz.evaluation.report.family_table`)."""
        return family_table(self.summary() if summary is None else summary, by=("member",))

    def _index(self, member: str, method: str, image_id: str) -> tuple[int, int, int]:
        for what, value, known in (
            ("member", member, self.member_ids),
            ("method", method, self.methods),
            ("image", image_id, self.image_ids),
        ):
            if value not in known:
                raise KeyError(f"{what} {value!r} is not in this study; it has {known}")
        return (
            self.member_ids.index(member),
            self.methods.index(method),
            self.image_ids.index(image_id),
        )

    def saliency(self, member: str, method: str, image_id: str) -> np.ndarray:
        """One image's map, ``(H, W)``."""
        a, b, k = self._index(member, method, image_id)
        return self.maps[a, b, k]

    def curve(self, member: str, method: str, image_id: str, metric: str) -> pd.DataFrame:
        """One image's perturbation curve and its baselines': ``fraction``, ``source``
        (:data:`CURVE_SOURCES`), ``p`` (of the explained class)."""
        if metric not in self.curves:
            raise KeyError(f"no curves of {metric!r} in this study; it has {sorted(self.curves)}")
        a, b, k = self._index(member, method, image_id)
        fractions = self.fractions[metric]
        return pd.DataFrame(
            [
                {"fraction": float(f), "source": source, "p": float(p)}
                for s, source in enumerate(CURVE_SOURCES)
                for f, p in zip(fractions, self.curves[metric][a, b, s, k], strict=True)
            ]
        )

    def to_saved(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "timings": self.timings,
            "fractions": {k: v.tolist() for k, v in self.fractions.items()},
        }
        return meta, {"maps": self.maps, **{f"curves__{k}": v for k, v in self.curves.items()}}

    @classmethod
    def from_saved(
        cls,
        spec: EvaluationSpec | None,
        meta: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray],
        **fields_: Any,
    ) -> EvaluationResult:
        table = fields_["table"].astype({"member": str, "method": str})
        predictions = fields_["predictions"].astype({"member": str})
        return cls(
            spec=spec,
            image_ids=fields_["image_ids"],
            images=fields_["images"],
            table=table,
            predictions=predictions,
            maps=arrays["maps"],
            curves={k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("curves__")},
            fractions={k: np.asarray(v) for k, v in meta.get("fractions", {}).items()},
            timings=dict(meta.get("timings", {})),
            warnings=fields_["warnings"],
        )


@dataclass
class _Unit:
    """One member and image, scored: what the scratch folder keeps."""

    rows: pd.DataFrame
    maps: np.ndarray  # (methods, H, W)
    curves: dict[str, np.ndarray]  # metric -> (methods, 3, steps + 1)
    seconds: float


def _score_image(
    spec: EvaluationSpec,
    member: str,
    model: Any,
    explainers: list[Any],
    image: np.ndarray,
    image_id: str,
    k: int,
    metrics: Sequence[Metric],
) -> _Unit:
    """Every method and metric on one image of one member."""
    start = time.perf_counter()
    threshold = spec.thresholds[member]
    batch = image[None]
    first = explainers[0].explain(batch, threshold=threshold)
    target = int(first.target_class[0])
    model_fn = keras_model_fn(model, target_class=target)
    curve_metrics = [m.name for m in metrics if hasattr(m, "fractions")]
    references: dict[bool, tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]] = {}
    frames, maps = [], []
    curves: dict[str, list[np.ndarray]] = {name: [] for name in curve_metrics}
    for method, explainer in zip(spec.methods, explainers, strict=True):
        sm = (
            first
            if explainer is explainers[0]
            else explainer.explain(batch, target_class=target, threshold=threshold)
        )

        def explain_fn(images: np.ndarray, explainer: Any = explainer) -> np.ndarray:
            return explainer.explain(images, target_class=target, threshold=threshold).maps

        signed = bool(getattr(explainer, "signed", False))
        reference = references.get(signed)
        kept: dict[tuple[str, str], np.ndarray] = {}
        rows = score_images(
            metrics,
            model_fn,
            batch,
            sm.maps,
            explain_fn=explain_fn,
            image_ids=[image_id],
            signed=signed,
            seed=spec.seed + k,
            reference=None if reference is None else reference[0],
            curves=kept,
        )
        if reference is None:
            references[signed] = (rows, kept)
        base_curves = references[signed][1]
        for name in curve_metrics:
            curves[name].append(
                np.stack(
                    [
                        kept[(name, "method")][0],
                        *(base_curves[(name, s)][0] for s in CURVE_SOURCES[1:]),
                    ]
                )
            )
        frames.append(
            rows.assign(
                member=member,
                method=method,
                p_melanoma=float(first.p_melanoma[0]),
                target_class=target,
            )
        )
        maps.append(np.asarray(sm.maps[0], dtype=np.float32))
    return _Unit(
        rows=pd.concat(frames, ignore_index=True),
        maps=np.stack(maps),
        curves={k_: np.stack(v) for k_, v in curves.items()},
        seconds=time.perf_counter() - start,
    )


def _unit_paths(scratch: Path, member_index: int, k: int) -> tuple[Path, Path]:
    stem = scratch / f"m{member_index}-i{k}"
    return stem.with_suffix(".npz"), stem.with_suffix(".csv")


def _save_unit(scratch: Path, member_index: int, k: int, unit: _Unit) -> None:
    """Write one unit: its arrays first, then its rows (the rows mark it complete)."""
    arrays_path, rows_path = _unit_paths(scratch, member_index, k)
    scratch.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(
        buf,
        maps=unit.maps,
        seconds=np.float64(unit.seconds),
        **{f"curves__{name}": c for name, c in unit.curves.items()},
    )
    data = buf.getvalue()
    write_atomic(arrays_path, lambda fh: fh.write(data))
    text = unit.rows.to_csv(index=False).encode()
    write_atomic(rows_path, lambda fh: fh.write(text))


def _load_unit(scratch: Path | None, member_index: int, k: int) -> _Unit | None:
    """A unit saved by an earlier, interrupted run; None when missing or unreadable."""
    if scratch is None:
        return None
    arrays_path, rows_path = _unit_paths(scratch, member_index, k)
    if not (rows_path.is_file() and arrays_path.is_file()):
        return None
    try:
        rows = pd.read_csv(rows_path, dtype={"image_id": str, "member": str, "method": str})
        with np.load(arrays_path, allow_pickle=False) as z:
            return _Unit(
                rows=rows,
                maps=z["maps"],
                seconds=0.0,
                curves={n.split("__", 1)[1]: z[n] for n in z.files if n.startswith("curves__")},
            )
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # a damaged unit is scored again


def _compute(spec: EvaluationSpec, loaders: Loaders, *, progress: Progress) -> EvaluationResult:
    ids = list(spec.image_ids)
    images = as_uint8(loaders.images(ids))
    metrics = spec.metric_objects()
    scratch = loaders.scratch
    units: list[list[_Unit]] = []
    timings: dict[str, float] = {}
    with Ticker(progress, len(spec.member_ids) * len(ids), "report card") as tick:
        for a, member in enumerate(spec.member_ids):
            explainers: list[Any] | None = None
            model = None
            row: list[_Unit] = []
            for k, image_id in enumerate(ids):
                unit = _load_unit(scratch, a, k)
                if unit is None:
                    if explainers is None:
                        model = loaders.model(member)
                        explainers = [
                            explainer_factory(m, spec.method_params[m])(model) for m in spec.methods
                        ]
                    unit = _score_image(
                        spec, member, model, explainers, images[k], image_id, k, metrics
                    )
                    if scratch is not None:
                        _save_unit(scratch, a, k, unit)
                row.append(unit)
                tick(f"{member} {image_id}")
            units.append(row)
            timings[member] = float(sum(u.seconds for u in row))
    table = pd.concat([u.rows for row in units for u in row], ignore_index=True)
    predictions = (
        table[["member", "image_id", "p_melanoma", "target_class"]]
        .drop_duplicates(["member", "image_id"])
        .reset_index(drop=True)
    )
    columns = [
        "member",
        "method",
        "image_id",
        "metric",
        "family",
        "higher_is_better",
        "score",
        "score_random",
        "score_gaussian",
    ]
    curve_metrics = [m for m in metrics if hasattr(m, "fractions")]
    return EvaluationResult(
        spec=spec,
        image_ids=ids,
        images=images,
        table=table[columns],
        predictions=predictions,
        # (members, images, methods, H, W) -> (members, methods, images, H, W)
        maps=np.stack([np.stack([u.maps for u in row]) for row in units]).swapaxes(1, 2),
        curves={
            m.name: np.stack(
                [np.stack([u.curves[m.name] for u in row]) for row in units]
            ).transpose(0, 2, 3, 1, 4)
            for m in curve_metrics
        },
        fractions={m.name: np.asarray(m.fractions) for m in curve_metrics},
        timings=timings,
        warnings=_warnings(table),
    )


def _warnings(table: pd.DataFrame) -> list[str]:
    """Say where a method's score is not a number (e.g. an empty map on some metric)."""
    bad = table[~np.isfinite(table["score"].astype(float))]
    return [
        f"{method}: {len(group)} score(s) are not finite "
        f"({', '.join(sorted(set(group['metric'])))})"
        for method, group in bad.groupby("method", sort=False)
    ]


register_check(EvaluationSpec, compute=_compute, result_type=EvaluationResult)
