"""Sanity-check studies: randomization, reproducibility, cross-model.

Three checks, after the paper (protocol §10) but scored on the maps themselves:

* :func:`run_randomization_study`: explain the same images with a trained member
  and with copies whose layers are re-initialised stage by stage (Adebayo et al.
  [1]_); the similarity to the trained map should fall.
* :func:`run_reproducibility`: explain the same images with the same member
  twice; the similarity is the method's own noise floor.
* :func:`run_cross_model`: explain the same images with several members of
  similar accuracy; pairwise similarity.

Every result is a long :class:`pandas.DataFrame` (one row per image, stage or
pair, and measure) plus the maps for display, and always includes the
"no information" baselines of :mod:`dermviz.sanity.baselines`. Results are
saved with :func:`save_study` (CSV + JSON + npz, atomic writes) and read back
with :func:`load_study`. Explainers come from a factory ``make_explainer(model)
-> Explainer`` so any registered method can be checked.

References
----------
.. [1] Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for
   Saliency Maps", NeurIPS 2018.
.. [2] Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error
   visibility to structural similarity", IEEE TIP 2004.
.. [3] Young, Booth, Simpson, Dutton and Shrapnel, "Deep neural network or
   dermatologist?", iMIMIC 2019, arXiv:1908.06612.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import io
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermviz.sanity.baselines import BASELINES
from dermviz.sanity.randomization import (
    PAPER_STAGES,
    StageLayers,
    block_layers,
    paper_stages,
    randomize,
)
from dermviz.sanity.similarity import SIMILARITIES, mean_abs_successive_change
from dermviz.store.atomic import read_json, write_atomic, write_json

__all__ = [
    "DEFAULT_SIMILARITIES",
    "PAPER_NV_TEST_INDEXES",
    "PAPER_MEL_TEST_INDEXES",
    "PAPER_REFERENCE",
    "ComparisonResult",
    "RandomizationResult",
    "StudySpec",
    "export_csv",
    "load_or_run_study",
    "load_study",
    "paper_image_ids",
    "paper_study_spec",
    "resolve_stages",
    "run_cross_model",
    "run_randomization_study",
    "run_reproducibility",
    "save_study",
    "stage_summary",
    "step_summary",
    "study_folder",
]

#: Measures computed unless a spec says otherwise: raw-map SSIM, Spearman with and
#: without absolute values, and the paper's overlay SSIM (RGBA, and RGB only).
DEFAULT_SIMILARITIES: tuple[str, ...] = (
    "ssim",
    "spearman",
    "spearman_abs",
    "ssim_paper",
    "ssim_paper_rgb",
)
LAYER_SETS = ("paper", "blocks")
ORDERS = ("cascading", "independent")
#: "original": every stage explains the class the trained model predicted (the
#: sanity check proper); "predicted": each stage explains its own predicted class
#: (what the paper did: its GradCAM model was rebuilt per stage).
TARGETS = ("original", "predicted")

#: The paper's randomization images (protocol §10.2), as hold-out ``test_index``.
PAPER_MEL_TEST_INDEXES: tuple[int, ...] = (1, 6, 13, 17, 18, 21, 72, 80)
PAPER_NV_TEST_INDEXES: tuple[int, ...] = (200, 204, 210, 212, 217, 219, 223, 226)

#: The paper's numbers (protocol §10), for display beside a study's. All are SSIM
#: on RGBA overlays (measure ``"ssim_paper"``), not on raw maps; the method keys
#: are registry names. ``ssim_to_original`` is indexed by stage like a study's
#: table (stage 0, the original against itself, is 1 by definition);
#: ``mean_abs_step`` holds the five steps the paper reported; ``mean_abs_step_all``
#: adds the sixth (``conv2d_1``), in the data but not in the paper's list.
PAPER_REFERENCE: dict[str, Any] = {
    "measure": "ssim_paper",
    "randomization": {
        "stages": [s.role for s in PAPER_STAGES],
        "paper_layer_names": [s.paper_name for s in PAPER_STAGES],
        "order": "cascading",
        "n_images": 16,
        "ssim": {"win_size": 9, "use_sample_covariance": True},
        "gradcam": {
            "ssim_to_original": [1.0, 0.768, 0.760, 0.764, 0.756, 0.769, 0.807],
            "mean_abs_step": [0.232, 0.044, 0.030, 0.018, 0.043],
            "mean_abs_step_all": [0.232, 0.044, 0.030, 0.018, 0.043, 0.039],
        },
        "kernelshap": {
            "ssim_to_original": [1.0, 0.827, 0.837, 0.843, 0.832, 0.763, 0.824],
            "mean_abs_step": [0.173, 0.032, 0.046, 0.033, 0.070],
            "mean_abs_step_all": [0.173, 0.032, 0.046, 0.033, 0.070, 0.066],
        },
    },
    "reproducibility": {
        "ssim": {"win_size": 3, "use_sample_covariance": False},
        "gradcam": {"mean": 0.9999992, "min": 0.999995, "n": 200},
        "kernelshap": {"mean": 0.929, "sd": 0.029, "min": 0.859, "max": 1.0, "n": 199},
    },
    "cross_model": {
        "ssim": {"win_size": 9, "use_sample_covariance": True},
        "reference": "seed 5",
        "n_images": 200,
        "gradcam": {
            "5 vs 8": {"mean": 0.789, "sd": 0.047},
            "5 vs 11": {"mean": 0.816, "sd": 0.061},
        },
        "kernelshap": {
            "5 vs 8": {"mean": 0.785, "sd": 0.046},
            "5 vs 11": {"mean": 0.812, "sd": 0.047},
        },
    },
}

ExplainerFactory = Callable[[Any], Any]
Progress = bool | Callable[[int, int, str], None]
_FORMAT = 1


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class StudySpec:
    """What a randomization study computes; its :meth:`key` names the cached result.

    Attributes
    ----------
    member_id : str
        The suite member explained (metadata; the model is passed in).
    image_ids : tuple of str
        The images, in order.
    method : str
        Registry name of the saliency method (``"gradcam"``, ``"kernelshap"``).
    method_params : dict
        Keyword arguments of the explainer (JSON-serialisable), e.g.
        ``{"layer": "mixed10"}``.
    layer_set : {"paper", "blocks"}
        :func:`~dermviz.sanity.randomization.paper_stages` (six single layers) or
        :func:`~dermviz.sanity.randomization.block_layers` (whole blocks).
    order : {"cascading", "independent"}
        See :func:`~dermviz.sanity.randomization.randomize`.
    similarities : tuple of str
        :data:`~dermviz.sanity.similarity.SIMILARITIES` names.
    seed : int
        Seeds the re-initialisation and the random baseline.
    reset_bias, reset_batchnorm : bool
        See :func:`~dermviz.sanity.randomization.randomize` (default: kept, as
        in the paper).
    target : {"original", "predicted"}
        Which class each stage explains; see :data:`TARGETS`.
    threshold : float
        The member's operating threshold (decides the predicted class).
    n_stages : int, optional
        Only the first (top-most) ``n_stages`` stages: a quick preview.
    stages : tuple of str, optional
        Only these stages of the layer set, by stage name (e.g. ``("head_dense",
        "stem/conv1")``), kept in top-down order; default all. Left out of
        :meth:`to_dict` (and so of :meth:`key`) when None, so older keys hold.
    """

    member_id: str
    image_ids: tuple[str, ...]
    method: str = "gradcam"
    method_params: dict[str, Any] = field(default_factory=dict)
    layer_set: str = "paper"
    order: str = "cascading"
    similarities: tuple[str, ...] = DEFAULT_SIMILARITIES
    seed: int = 0
    reset_bias: bool = False
    reset_batchnorm: bool = False
    target: str = "original"
    threshold: float = 0.5
    n_stages: int | None = None
    stages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "member_id", str(self.member_id))
        set_(self, "image_ids", tuple(str(i) for i in self.image_ids))
        set_(self, "similarities", tuple(self.similarities))
        set_(
            self, "method_params", json.loads(json.dumps(dict(self.method_params), sort_keys=True))
        )
        set_(self, "seed", int(self.seed))
        set_(self, "threshold", float(self.threshold))
        if self.layer_set not in LAYER_SETS:
            raise ValueError(f"layer_set must be one of {LAYER_SETS}, got {self.layer_set!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {self.target!r}")
        unknown = [s for s in self.similarities if s not in SIMILARITIES]
        if unknown or not self.similarities:
            raise ValueError(f"unknown similarities {unknown}; known: {sorted(SIMILARITIES)}")
        if len(set(self.image_ids)) != len(self.image_ids):
            raise ValueError("image_ids must be unique")
        if self.n_stages is not None and self.n_stages < 1:
            raise ValueError(f"n_stages must be >= 1, got {self.n_stages}")
        if self.stages is not None:
            set_(self, "stages", tuple(str(x) for x in self.stages))
            if not self.stages or len(set(self.stages)) != len(self.stages):
                raise ValueError("stages must list at least one stage, each once")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (tuples as lists)."""
        d = asdict(self)
        d["image_ids"] = list(self.image_ids)
        d["similarities"] = list(self.similarities)
        if self.stages is None:
            del d["stages"]  # keeps the keys of specs written before the field existed
        else:
            d["stages"] = list(self.stages)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudySpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key(self) -> str:
        """Stable hash of the spec (16 hex digits of SHA-256 of its sorted JSON)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __hash__(self) -> int:
        return hash(self.key())


def paper_image_ids(holdout_table: pd.DataFrame) -> list[str]:
    """The paper's 16 randomization images, or a stand-in on a small hold-out.

    Parameters
    ----------
    holdout_table : DataFrame
        Hold-out rows with ``image_id``, ``test_index`` and ``y`` (or ``dx``).

    Returns
    -------
    list of str
        The images at test indexes 1, 6, 13, 17, 18, 21, 72, 80 (melanomas) and
        200, 204, 210, 212, 217, 219, 223, 226 (naevi) when all 16 exist with those
        labels (the 400-image hold-out); otherwise the first 8 melanomas and the
        first 8 naevi by ``test_index`` (fewer if the hold-out has fewer).
    """
    t = holdout_table
    if "test_index" not in t or "image_id" not in t:
        raise ValueError("the hold-out table needs 'image_id' and 'test_index' columns")
    y = t["y"].astype(int) if "y" in t else (t["dx"] == "mel").astype(int)
    t = t.assign(_y=y.to_numpy()).sort_values("test_index")
    by_index = t.set_index("test_index")
    wanted = [(i, 1) for i in PAPER_MEL_TEST_INDEXES] + [(i, 0) for i in PAPER_NV_TEST_INDEXES]
    if by_index.index.is_unique and all(
        i in by_index.index and int(by_index.at[i, "_y"]) == lab for i, lab in wanted
    ):
        return [str(by_index.at[i, "image_id"]) for i, _ in wanted]
    mel = t.loc[t["_y"] == 1, "image_id"].head(8)
    nv = t.loc[t["_y"] == 0, "image_id"].head(8)
    ids = [str(i) for i in mel] + [str(i) for i in nv]
    if not ids:
        raise ValueError("the hold-out table is empty")
    return ids


def paper_study_spec(
    holdout_table: pd.DataFrame,
    *,
    member_id: str = "",
    methods: Sequence[str] = ("gradcam", "kernelshap"),
    method_params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    threshold: float = 0.5,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
) -> dict[str, StudySpec]:
    """The paper's randomization design, one spec per method.

    16 hold-out images (:func:`paper_image_ids`), the six paper layers, cascading,
    kernels only, each stage explaining its own predicted class (``target=
    "predicted"``, as the paper did), GradCAM on ``mixed10``.

    Parameters
    ----------
    holdout_table : DataFrame
        ``Dataset.holdout`` (or a suite's hold-out predictions table).
    member_id : str
        The member to randomize (the paper did not record which it used).
    methods : sequence of str
        Registry names; default GradCAM and KernelSHAP.
    method_params : mapping, optional
        Per-method explainer parameters; GradCAM defaults to ``{"layer":
        "mixed10"}``, others to ``{}`` (the explainer's defaults).

    Returns
    -------
    dict of str to StudySpec
        Keyed by method name.
    """
    ids = tuple(paper_image_ids(holdout_table))
    params = {"gradcam": {"layer": "mixed10"}}
    params.update({k: dict(v) for k, v in (method_params or {}).items()})
    return {
        m: StudySpec(
            member_id=member_id,
            image_ids=ids,
            method=m,
            method_params=params.get(m, {}),
            layer_set="paper",
            order="cascading",
            similarities=tuple(similarities),
            seed=seed,
            target="predicted",
            threshold=threshold,
        )
        for m in methods
    }


def resolve_stages(model: Any, spec: StudySpec) -> list[StageLayers]:
    """The spec's stages on this model: ``(stage name, [layer names])``, top-down."""
    stages = paper_stages(model) if spec.layer_set == "paper" else block_layers(model)
    if spec.stages is not None:
        known = [name for name, _ in stages]
        unknown = [s for s in spec.stages if s not in known]
        if unknown:
            raise ValueError(
                f"unknown stage(s) {unknown} for layer set {spec.layer_set!r}; known: {known}"
            )
        stages = [st for st in stages if st[0] in spec.stages]
    return stages[: spec.n_stages] if spec.n_stages is not None else stages


# --------------------------------------------------------------------------- results


@dataclass
class RandomizationResult:
    """A randomization study.

    Attributes
    ----------
    spec : StudySpec
    image_ids : list of str
    stage_names : list of str
        ``"original"`` then the stages, top-down.
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
    """

    spec: StudySpec
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

    kind = "randomization"

    def summary(self, measure: str = "ssim") -> pd.DataFrame:
        """Mean and sd over images per stage and baseline: :func:`stage_summary`."""
        return stage_summary(self.table, measure=measure)

    def steps(self, measure: str = "ssim") -> pd.DataFrame:
        """The paper's per-step metric: :func:`step_summary`."""
        return step_summary(self.table, measure=measure)


@dataclass
class ComparisonResult:
    """A reproducibility or cross-model check.

    Attributes
    ----------
    kind : {"reproducibility", "cross_model"}
    method : str
    signed : bool
    image_ids : list of str
    images : ndarray, uint8, (n, H, W, 3)
    maps : dict of str to ndarray, (n, H, W)
        Per run (``"run1"``, ``"run2"``) or per member id.
    table : DataFrame
        ``method, image_id, kind ("pair" | "baseline"), a, b, measure, value``;
        baseline rows compare ``a``'s map with ``b = "baseline:<name>"``.
    predictions : DataFrame
        ``image_id, source, p_melanoma, target_class``.
    params : dict
    warnings : list of str
    """

    kind: str
    method: str
    signed: bool
    image_ids: list[str]
    images: np.ndarray
    maps: dict[str, np.ndarray]
    table: pd.DataFrame
    predictions: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self, measure: str = "ssim") -> pd.DataFrame:
        """Mean, sd and n per pair (and baseline) for one measure."""
        t = self.table[self.table["measure"] == measure]
        return (
            t.groupby(["kind", "a", "b"], sort=False)["value"]
            .agg(mean="mean", sd="std", n="count")
            .reset_index()
        )


def stage_summary(table: pd.DataFrame, *, measure: str = "ssim") -> pd.DataFrame:
    """Per stage (and baseline): mean, sd and n over images of one measure.

    Returns
    -------
    DataFrame
        ``kind, stage, stage_name, mean, sd, n``; stages in order, then baselines.
    """
    t = table[table["measure"] == measure]
    out = (
        t.groupby(["kind", "stage", "stage_name"], sort=False)["value"]
        .agg(mean="mean", sd="std", n="count")
        .reset_index()
    )
    order = {"stage": 0, "baseline": 1}
    return out.sort_values(
        ["kind", "stage"], key=lambda c: c.map(order) if c.name == "kind" else c, kind="stable"
    ).reset_index(drop=True)


def step_summary(table: pd.DataFrame, *, measure: str = "ssim") -> pd.DataFrame:
    """The paper's "degradation per randomised layer" for one measure.

    Returns
    -------
    DataFrame
        ``step`` (1..S), ``from_stage``, ``to_stage`` (names), ``mean_abs_change``:
        the mean over images of ``|s_{k-1} - s_k|`` with ``s_k`` the similarity of
        stage k's map to the original (:func:`mean_abs_successive_change`).
    """
    t = table[(table["measure"] == measure) & (table["kind"] == "stage")]
    wide = t.pivot_table(index="stage", columns="image_id", values="value", aggfunc="first")
    wide = wide.sort_index()
    names = t.drop_duplicates("stage").set_index("stage")["stage_name"]
    change = mean_abs_successive_change(wide.to_numpy())
    stages = list(wide.index)
    return pd.DataFrame(
        {
            "step": stages[1:],
            "from_stage": [names[s] for s in stages[:-1]],
            "to_stage": [names[s] for s in stages[1:]],
            "mean_abs_change": change,
        }
    )


# --------------------------------------------------------------------------- helpers


class _Ticker:
    """Stage progress: a tqdm bar, a user callback ``(done, total, name)``, or nothing."""

    def __init__(self, progress: Progress, total: int, desc: str) -> None:
        self.total, self.done = total, 0
        self.callback = progress if callable(progress) else None
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="stage")

    def __call__(self, name: str) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total, name)
        if self.bar is not None:
            self.bar.set_postfix_str(name)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images (n, H, W, 3), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


def _ids(image_ids: Sequence[str], n: int) -> list[str]:
    ids = [str(i) for i in image_ids]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} image ids for {n} images")
    if len(set(ids)) != n:
        raise ValueError("image ids must be unique")
    return ids


def _default_factory(method: str, params: Mapping[str, Any]) -> ExplainerFactory:
    import dermviz.explain  # noqa: F401  (registers the methods)
    from dermviz.explain.base import get_explainer

    cls = get_explainer(method)
    return lambda model: cls(model, **params)


def _baseline_seed(seed: int, image: int) -> int:
    return int(np.random.SeedSequence([seed, 7919, image]).generate_state(1)[0])


def _baseline_maps(
    images: np.ndarray, reference: np.ndarray, *, seed: int, signed: bool
) -> dict[str, np.ndarray]:
    """Baselines per image; for signed methods scaled to the reference map's peak |value|."""
    out = {}
    for name, make in BASELINES.items():
        maps = []
        for i, image in enumerate(images):
            m = make(image, _baseline_seed(seed, i), signed).astype(np.float32)
            if signed:
                m = m * np.float32(np.abs(reference[i]).max())
            maps.append(m)
        out[name] = np.stack(maps) if maps else np.zeros((0, *images.shape[1:3]), np.float32)
    return out


def _constant_map_warnings(maps: Mapping[str, np.ndarray]) -> list[str]:
    """Warn about constant maps (e.g. all-zero GradCAM), which SSIM calls identical."""
    out = []
    for source, m in maps.items():
        flat = m.reshape(len(m), -1)
        n_const = int((flat.max(axis=1) == flat.min(axis=1)).sum()) if len(m) else 0
        if n_const:
            out.append(
                f"{source}: {n_const} of {len(m)} maps are constant (e.g. all-zero GradCAM); "
                "two constant maps have SSIM 1 and an undefined (NaN) Spearman correlation"
            )
    return out


def _score(a: np.ndarray, b: np.ndarray, *, image: np.ndarray, signed: bool, measure: str):
    return float(SIMILARITIES[measure](a, b, image=image, signed=signed))


def _explain(factory: ExplainerFactory, model: Any, images: np.ndarray, **kwargs: Any):
    explainer = factory(model)
    signed = bool(getattr(explainer, "signed", False))
    result = explainer.explain(images, **kwargs)
    del explainer
    gc.collect()
    return result, signed


# --------------------------------------------------------------------------- randomization


def run_randomization_study(
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    spec: StudySpec,
    *,
    make_explainer: ExplainerFactory | None = None,
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
    spec : StudySpec
        What to compute.
    make_explainer : callable, optional
        ``make_explainer(model) -> Explainer``, called once per stage (on the
        trained model first). Default: the registered ``spec.method`` with
        ``spec.method_params``.
    progress : bool or callable
        True: a tqdm bar; a callable gets ``(done, total, stage_name)`` after each
        stage (e.g. to drive a dashboard progress bar); False: silent.

    Returns
    -------
    RandomizationResult
        Maps per stage, the long table of similarities to the original map
        (stage 0 included: its own score, 1 for SSIM) and the baseline rows.

    References
    ----------
    .. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
    .. [2] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019.
    """
    ids = _ids(image_ids, len(images))
    if spec.image_ids and tuple(ids) != spec.image_ids:
        raise ValueError("image_ids differ from spec.image_ids")
    images_u8 = _uint8(images)
    factory = make_explainer or _default_factory(spec.method, spec.method_params)
    stages = resolve_stages(model, spec)
    ticker = _Ticker(progress, len(stages) + 1, f"{spec.method} randomization")
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        sm0, signed = _explain(factory, model, images, threshold=spec.threshold)
        timings["original"] = time.perf_counter() - start
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
            start = time.perf_counter()
            sm, _ = _explain(
                factory, randomized, images, target_class=fixed, threshold=spec.threshold
            )
            timings[name] = time.perf_counter() - start
            runs.append((name, sm))
            ticker(name)
    finally:
        ticker.close()

    maps = np.stack([sm.maps for _, sm in runs]).astype(np.float32)
    baselines = _baseline_maps(images_u8, maps[0], seed=spec.seed, signed=signed)
    rows = []
    for k, (name, _) in enumerate(runs):
        for i, image_id in enumerate(ids):
            for measure in spec.similarities:
                value = _score(
                    maps[0, i], maps[k, i], image=images_u8[i], signed=signed, measure=measure
                )
                rows.append((image_id, "stage", k, name, measure, value))
    for bname, bmaps in baselines.items():
        for i, image_id in enumerate(ids):
            for measure in spec.similarities:
                value = _score(
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
        stage_layers=[[]] + [list(layers) for _, layers in stages],
        maps=maps,
        baselines=baselines,
        images=images_u8,
        table=table,
        predictions=predictions,
        method=runs[0][1].method,
        signed=signed,
        warnings=sorted({w for _, sm in runs for w in sm.warnings})
        + _constant_map_warnings({name: maps[k] for k, (name, _) in enumerate(runs)}),
        timings=timings,
    )


# --------------------------------------------------------------------------- comparisons


def _compare(
    *,
    kind: str,
    maps: dict[str, np.ndarray],
    runs: dict[str, Any],
    pairs: list[tuple[str, str]],
    images_u8: np.ndarray,
    ids: list[str],
    signed: bool,
    similarities: Sequence[str],
    seed: int,
    params: dict[str, Any],
) -> ComparisonResult:
    unknown = [s for s in similarities if s not in SIMILARITIES]
    if unknown:
        raise ValueError(f"unknown similarities {unknown}; known: {sorted(SIMILARITIES)}")
    method = next(iter(runs.values())).method
    rows = []
    for a, b in pairs:
        for i, image_id in enumerate(ids):
            for measure in similarities:
                value = _score(
                    maps[a][i], maps[b][i], image=images_u8[i], signed=signed, measure=measure
                )
                rows.append((image_id, "pair", a, b, measure, value))
    for source, smaps in maps.items():
        for bname, bmaps in _baseline_maps(images_u8, smaps, seed=seed, signed=signed).items():
            for i, image_id in enumerate(ids):
                for measure in similarities:
                    value = _score(
                        smaps[i], bmaps[i], image=images_u8[i], signed=signed, measure=measure
                    )
                    rows.append((image_id, "baseline", source, f"baseline:{bname}", measure, value))
    table = pd.DataFrame(rows, columns=["image_id", "kind", "a", "b", "measure", "value"])
    table.insert(0, "method", method)
    predictions = pd.DataFrame(
        [
            (image_id, source, float(sm.p_melanoma[i]), int(sm.target_class[i]))
            for source, sm in runs.items()
            for i, image_id in enumerate(ids)
        ],
        columns=["image_id", "source", "p_melanoma", "target_class"],
    )
    return ComparisonResult(
        kind=kind,
        method=method,
        signed=signed,
        image_ids=ids,
        images=images_u8,
        maps=maps,
        table=table,
        predictions=predictions,
        params=params,
        warnings=sorted({w for sm in runs.values() for w in sm.warnings})
        + _constant_map_warnings(maps),
    )


def run_reproducibility(
    make_explainer: ExplainerFactory,
    model: Any,
    images: np.ndarray,
    image_ids: Sequence[str],
    *,
    runs: int = 2,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
    target_class: int | np.ndarray | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    progress: Progress = True,
) -> ComparisonResult:
    """Explain the same images with the same member several times and compare.

    The method's own run-to-run noise (the paper's check #1, protocol §10.1):
    GradCAM should give identical maps; a sampling method (KernelSHAP) varies
    unless seeded. ``make_explainer`` is called once per run, so a factory that
    seeds each explainer differently measures the sampling noise.

    Parameters
    ----------
    make_explainer : callable
        ``make_explainer(model) -> Explainer``.
    model : keras.Model
    images : ndarray, (n, H, W, 3)
    image_ids : sequence of str
    runs : int
        Number of runs (>= 2); all pairs are compared.
    similarities : sequence of str
        :data:`~dermviz.sanity.similarity.SIMILARITIES` names.
    target_class : int or ndarray, optional
        Default: the predicted class.
    threshold : float
        The member's operating threshold.
    seed : int
        Seeds the random baseline.
    progress : bool or callable
        As in :func:`run_randomization_study` (one tick per run).

    Returns
    -------
    ComparisonResult
        ``kind="reproducibility"``; maps under ``"run1"``, ``"run2"``, ...
    """
    if runs < 2:
        raise ValueError(f"runs must be >= 2, got {runs}")
    ids = _ids(image_ids, len(images))
    images_u8 = _uint8(images)
    ticker = _Ticker(progress, runs, "reproducibility")
    results: dict[str, Any] = {}
    signed = False
    try:
        for r in range(1, runs + 1):
            results[f"run{r}"], signed = _explain(
                make_explainer, model, images, target_class=target_class, threshold=threshold
            )
            ticker(f"run{r}")
    finally:
        ticker.close()
    names = list(results)
    return _compare(
        kind="reproducibility",
        maps={k: sm.maps.astype(np.float32) for k, sm in results.items()},
        runs=results,
        pairs=list(itertools.combinations(names, 2)),
        images_u8=images_u8,
        ids=ids,
        signed=signed,
        similarities=similarities,
        seed=seed,
        params={
            "runs": runs,
            "threshold": threshold,
            "seed": seed,
            "similarities": list(similarities),
        },
    )


def run_cross_model(
    models: Mapping[str, Any],
    images: np.ndarray,
    image_ids: Sequence[str],
    *,
    make_explainer: ExplainerFactory,
    reference: str | None = None,
    similarities: Sequence[str] = DEFAULT_SIMILARITIES,
    target_class: int | np.ndarray | None = None,
    thresholds: float | Mapping[str, float] = 0.5,
    seed: int = 0,
    progress: Progress = True,
) -> ComparisonResult:
    """Pairwise similarity of the same images' maps across members.

    The paper's check #3 (protocol §10.3): members of similar accuracy, same
    images; a reference member against the others.

    Parameters
    ----------
    models : mapping of str to keras.Model or zero-argument loader
        Member id -> model, or -> a callable returning it (e.g.
        ``functools.partial(suite.load_model, member_id)``): loaders are called
        one at a time and the model dropped after explaining, so only one member
        is in memory.
    images : ndarray, (n, H, W, 3)
    image_ids : sequence of str
    make_explainer : callable
        ``make_explainer(model) -> Explainer``.
    reference : str, optional
        Compare this member with each other one (the paper: seed 5 vs 8 and 11);
        default: all pairs.
    similarities : sequence of str
    target_class : int or ndarray, optional
        Default: each member explains its own predicted class (as the paper).
    thresholds : float or mapping of str to float
        Operating threshold(s), per member if a mapping.
    seed : int
        Seeds the random baseline.
    progress : bool or callable
        One tick per member.

    Returns
    -------
    ComparisonResult
        ``kind="cross_model"``; maps keyed by member id.
    """
    import keras

    names = list(models)
    if len(names) < 2:
        raise ValueError("cross-model comparison needs at least two models")
    if reference is not None and reference not in models:
        raise ValueError(f"reference {reference!r} is not among {names}")
    ids = _ids(image_ids, len(images))
    images_u8 = _uint8(images)
    ticker = _Ticker(progress, len(names), "cross-model")
    results: dict[str, Any] = {}
    signed = False
    try:
        for name in names:
            entry = models[name]
            model = entry if isinstance(entry, keras.Model) else entry()
            thr = thresholds[name] if isinstance(thresholds, Mapping) else thresholds
            results[name], signed = _explain(
                make_explainer, model, images, target_class=target_class, threshold=float(thr)
            )
            del model
            ticker(name)
    finally:
        ticker.close()
    if reference is None:
        pairs = list(itertools.combinations(names, 2))
    else:
        pairs = [(reference, n) for n in names if n != reference]
    return _compare(
        kind="cross_model",
        maps={k: sm.maps.astype(np.float32) for k, sm in results.items()},
        runs=results,
        pairs=pairs,
        images_u8=images_u8,
        ids=ids,
        signed=signed,
        similarities=similarities,
        seed=seed,
        params={
            "members": names,
            "reference": reference,
            "seed": seed,
            "thresholds": thresholds if isinstance(thresholds, Mapping) else float(thresholds),
            "similarities": list(similarities),
        },
    )


# --------------------------------------------------------------------------- persistence

_META = "study.json"
_TABLE = "table.csv"
_PREDICTIONS = "predictions.csv"
_ARRAYS = "arrays.npz"


def _write_csv(path: Path, df: pd.DataFrame) -> None:
    data = df.to_csv(index=False).encode()
    write_atomic(path, lambda fh: fh.write(data))


def _write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    write_atomic(path, lambda fh: fh.write(data))


def export_csv(result: RandomizationResult | ComparisonResult, path: str | Path) -> Path:
    """Write a result's long table to ``path`` as CSV (atomically); return the path."""
    path = Path(path)
    _write_csv(path, result.table)
    return path


def study_folder(root: str | Path, spec: StudySpec) -> Path:
    """Where a randomization study is cached under ``root`` (e.g. ``<suite>/sanity``).

    ``<root>/randomization-<member>-<method>-<spec key>``.
    """
    member = spec.member_id or "model"
    return Path(root) / f"randomization-{member}-{spec.method}-{spec.key()}"


def save_study(result: RandomizationResult | ComparisonResult, folder: str | Path) -> Path:
    """Save a result to ``folder``: ``table.csv``, ``predictions.csv``, ``arrays.npz``
    and ``study.json`` (written last: a folder without it is incomplete).

    Every file is written atomically (:func:`dermviz.store.atomic.write_atomic`).
    """
    import keras

    import dermviz

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "kind": result.kind,
        "method": result.method,
        "signed": result.signed,
        "image_ids": list(result.image_ids),
        "warnings": list(result.warnings),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": {"dermviz": dermviz.__version__, "keras": keras.__version__},
    }
    arrays: dict[str, np.ndarray] = {"images": result.images}
    if isinstance(result, RandomizationResult):
        meta.update(
            spec=result.spec.to_dict(),
            key=result.spec.key(),
            stage_names=result.stage_names,
            stage_layers=result.stage_layers,
            timings=result.timings,
        )
        arrays["maps"] = result.maps
        arrays.update({f"baseline__{k}": v for k, v in result.baselines.items()})
    else:
        meta.update(params=result.params, sources=list(result.maps))
        arrays.update({f"map__{k}": v for k, v in result.maps.items()})
    _write_npz(folder / _ARRAYS, arrays)
    _write_csv(folder / _TABLE, result.table)
    _write_csv(folder / _PREDICTIONS, result.predictions)
    write_json(folder / _META, meta)
    return folder


def load_study(folder: str | Path) -> RandomizationResult | ComparisonResult:
    """Read a result written by :func:`save_study`.

    Raises
    ------
    FileNotFoundError
        If ``folder`` holds no complete study (no ``study.json``).
    """
    folder = Path(folder)
    if not (folder / _META).is_file():
        raise FileNotFoundError(f"no saved study in {folder} (missing {_META})")
    meta = read_json(folder / _META)
    if meta.get("format") != _FORMAT:
        raise ValueError(f"unsupported study format {meta.get('format')!r} in {folder}")
    str_cols = {"image_id": str, "stage_name": str, "a": str, "b": str, "source": str}
    table = pd.read_csv(folder / _TABLE, dtype=str_cols, keep_default_na=False, na_values=[""])
    predictions = pd.read_csv(folder / _PREDICTIONS, dtype=str_cols)
    with np.load(folder / _ARRAYS) as z:
        arrays = {k: z[k] for k in z.files}
    common = dict(
        method=meta["method"],
        signed=bool(meta["signed"]),
        image_ids=list(meta["image_ids"]),
        images=arrays["images"],
        table=table,
        predictions=predictions,
        warnings=list(meta["warnings"]),
    )
    if meta["kind"] == "randomization":
        return RandomizationResult(
            spec=StudySpec.from_dict(meta["spec"]),
            stage_names=list(meta["stage_names"]),
            stage_layers=[list(x) for x in meta["stage_layers"]],
            maps=arrays["maps"],
            baselines={
                k.split("__", 1)[1]: v for k, v in arrays.items() if k.startswith("baseline__")
            },
            timings=dict(meta.get("timings", {})),
            **common,
        )
    return ComparisonResult(
        kind=meta["kind"],
        maps={s: arrays[f"map__{s}"] for s in meta["sources"]},
        params=dict(meta.get("params", {})),
        **common,
    )


def load_or_run_study(
    root: str | Path,
    spec: StudySpec,
    *,
    load_model: Callable[[], Any],
    load_images: Callable[[list[str]], np.ndarray],
    make_explainer: ExplainerFactory | None = None,
    progress: Progress = True,
) -> RandomizationResult:
    """The cached study for ``spec`` under ``root``, computed and saved if missing.

    Parameters
    ----------
    root : path
        Cache folder (e.g. ``suite.path / "sanity"``); the study lives in
        :func:`study_folder`.
    spec : StudySpec
        Must list its images.
    load_model : callable
        Returns the member (e.g. ``lambda: suite.load_model(spec.member_id)``);
        only called when the study is not cached.
    load_images : callable
        ``load_images(image_ids) -> (n, H, W, 3)`` (e.g.
        ``lambda ids: dataset.load_images(ids, size=suite.image_size)``).
    """
    folder = study_folder(root, spec)
    if (folder / _META).is_file():
        result = load_study(folder)
        if isinstance(result, RandomizationResult) and result.spec.key() == spec.key():
            return result
    if not spec.image_ids:
        raise ValueError("the spec lists no images")
    ids = list(spec.image_ids)
    result = run_randomization_study(
        load_model(),
        load_images(ids),
        ids,
        spec,
        make_explainer=make_explainer,
        progress=progress,
    )
    save_study(result, folder)
    return result
