"""``dermviz sanity``: a suite's sanity-check studies, cached, beside the paper's numbers.

Two layers:

* the suite-level runners shared with the dashboard's researcher pages:
  :func:`method_params`, :func:`randomization_spec` and :func:`run_randomization`
  (cached by :func:`~dermviz.sanity.studies.load_or_run_study`),
  :func:`comparison_spec` and :func:`run_comparison` (reproducibility and
  cross-model, cached here the same way), :func:`saved_studies`, and the
  display tables :func:`stage_table`, :func:`baseline_table`, :func:`step_table`
  and :func:`comparison_table`;
* the command itself: :func:`add_sanity_arguments` and :func:`run_sanity`.

Every study is cached under ``<suite>/sanity/<kind>-<member>-<method>-<key>/``
(``key``: a hash of everything that changes the result), so running the same
command twice, or opening a study in the dashboard, costs no recomputation.

The paper's reproducibility and cross-model runs were unseeded (protocol §10.1,
§10.3). Here KernelSHAP's sampling is seeded, so run-to-run noise is emulated
with *different* seeds: run r (or the r-th member) uses ``seed + r - 1`` (``seed``
being the KernelSHAP ``seed`` parameter, default 0); results stay reproducible.
GradCAM has no randomness.

This module is imported when the CLI starts: heavy imports (TensorFlow, the
backend) happen inside the functions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from dermviz.models.suite import Suite
    from dermviz.sanity.studies import ComparisonResult, RandomizationResult, StudySpec

__all__ = [
    "ALSO",
    "COMPARISON_KINDS",
    "CROSS_MODEL_MEMBERS",
    "DISPLAY_MEASURES",
    "METHODS",
    "PAPER_NSAMPLES",
    "add_sanity_arguments",
    "baseline_table",
    "comparison_spec",
    "comparison_table",
    "default_image_ids",
    "method_params",
    "paper_comparable",
    "randomization_spec",
    "run_comparison",
    "run_randomization",
    "run_sanity",
    "saved_studies",
    "stage_names",
    "stage_table",
    "step_table",
]

METHODS = ("gradcam", "kernelshap")
#: ``--also`` names -> result kinds.
ALSO = {"reproducibility": "reproducibility", "cross-model": "cross_model"}
COMPARISON_KINDS = ("reproducibility", "cross_model")
#: The paper's KernelSHAP samples per image (protocol §9).
PAPER_NSAMPLES = 2500
#: The paper compared three members (seeds 5, 8, 11; protocol §10.3).
CROSS_MODEL_MEMBERS = 3
#: Measures shown by default: SSIM on the raw maps, and the paper's overlay SSIM.
DISPLAY_MEASURES = ("ssim", "ssim_paper")
_META = "study.json"

Progress = bool | Callable[[int, int, str], None]


# --------------------------------------------------------------------------- specs


def stage_names(layer_set: str) -> list[str]:
    """Stage names of a layer set, top-down, without building a model."""
    if layer_set == "paper":
        from dermviz.sanity.randomization import PAPER_STAGES

        return [s.role for s in PAPER_STAGES]
    if layer_set == "blocks":
        from dermviz.models.inception import INCEPTION_BLOCKS

        return ["head", *INCEPTION_BLOCKS, "stem"]
    raise ValueError(f"unknown layer set {layer_set!r}; choose 'paper' or 'blocks'")


def method_params(
    suite: Suite,
    method: str,
    *,
    layer: str | None = None,
    nsamples: int | None = None,
    n_segments: int | None = None,
) -> dict[str, Any]:
    """The explainer's full parameters for ``suite`` (the suite's GradCAM layer,
    KernelSHAP at the paper's 2500 samples unless told otherwise).

    Only options that apply to ``method`` are used: ``layer`` for GradCAM,
    ``nsamples`` and ``n_segments`` for KernelSHAP.
    """
    from dermviz.explain.precompute import default_params

    overrides: dict[str, Any] = {}
    if method == "gradcam" and layer:
        overrides["layer"] = layer
    if method == "kernelshap":
        overrides["nsamples"] = PAPER_NSAMPLES if nsamples is None else int(nsamples)
        if n_segments is not None:
            overrides["n_segments"] = int(n_segments)
    return default_params(suite, method, **overrides)


def _check_member(suite: Suite, member: str | None) -> str:
    if not suite.member_ids:
        raise ValueError(f"suite {suite.name!r} has no trained member yet")
    if member is None:
        return suite.member_ids[0]
    suite.member(member)  # KeyError naming the members
    return member


def _holdout(suite: Suite, dataset: Any | None) -> pd.DataFrame:
    ds = dataset if dataset is not None else suite.dataset()
    return ds.holdout


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


def default_image_ids(holdout: pd.DataFrame) -> list[str]:
    """The paper's 16 randomization images (8 mel, 8 nv), or the stand-in on a small
    hold-out (:func:`~dermviz.sanity.studies.paper_image_ids`)."""
    from dermviz.sanity.studies import paper_image_ids

    return paper_image_ids(holdout)


def randomization_spec(
    suite: Suite,
    *,
    member: str | None = None,
    method: str = "gradcam",
    params: Mapping[str, Any] | None = None,
    image_ids: Sequence[str] | None = None,
    study: str = "paper",
    layer_set: str = "paper",
    order: str = "cascading",
    target: str | None = None,
    seed: int = 0,
    reset_bias: bool = False,
    reset_batchnorm: bool = False,
    stages: Sequence[str] | None = None,
    dataset: Any | None = None,
) -> StudySpec:
    """A randomization study's spec for a suite member.

    ``study="paper"``: :func:`~dermviz.sanity.studies.paper_study_spec` (the six
    paper layers, cascading, kernels only, each stage explaining its own predicted
    class); ``layer_set``, ``order``, ``reset_*`` and ``stages`` must then keep
    the paper's values. ``study="custom"``: every option as given; ``target``
    defaults to ``"original"`` (the sanity check proper).

    ``params`` default to :func:`method_params`; ``image_ids`` to
    :func:`default_image_ids`.
    """
    from dermviz.sanity.studies import StudySpec, paper_study_spec

    member = _check_member(suite, member)
    holdout = _holdout(suite, dataset)
    ids = _check_images(holdout, image_ids) if image_ids else default_image_ids(holdout)
    params = dict(params) if params is not None else method_params(suite, method)
    threshold = suite.threshold(member)
    if study == "paper":
        changed = [
            name
            for name, value, paper in (
                ("layer set", layer_set, "paper"),
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
        spec = paper_study_spec(
            holdout, member_id=member, methods=(method,), method_params={method: params},
            seed=seed, threshold=threshold,
        )[method]
        return spec if not image_ids else StudySpec.from_dict({**spec.to_dict(), "image_ids": ids})
    if study != "custom":
        raise ValueError(f"unknown study {study!r}; choose 'paper' or 'custom'")
    if stages:
        known = stage_names(layer_set)
        unknown = [s for s in stages if s not in known]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown} for layer set {layer_set!r}; "
                             f"known: {', '.join(known)}")
    return StudySpec(
        member_id=member, image_ids=tuple(ids), method=method, method_params=params,
        layer_set=layer_set, order=order, target=target or "original", seed=seed,
        reset_bias=reset_bias, reset_batchnorm=reset_batchnorm, threshold=threshold,
        stages=tuple(stages) if stages else None,
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
) -> dict[str, Any]:
    """What a reproducibility or cross-model check computes (JSON; its hash names
    the cache folder).

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
    seed : int
        Seeds the random baseline map.
    """
    if kind not in COMPARISON_KINDS:
        raise ValueError(f"unknown comparison {kind!r}; choose from {COMPARISON_KINDS}")
    member = _check_member(suite, member)
    holdout = _holdout(suite, dataset)
    ids = _check_images(holdout, image_ids) if image_ids else default_image_ids(holdout)
    params = dict(params) if params is not None else method_params(suite, method)
    if kind == "reproducibility":
        sources = [member, member]
    else:
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
    seeded = params.get("seed") is not None
    from dermviz.sanity.studies import DEFAULT_SIMILARITIES

    return {
        "kind": kind,
        "member": member,
        "members": sources,
        "method": method,
        "params": json.loads(json.dumps(params, sort_keys=True)),
        "explainer_seeds": (
            [int(params["seed"]) + r for r in range(len(sources))] if seeded else None
        ),
        "image_ids": ids,
        "similarities": list(DEFAULT_SIMILARITIES),
        "thresholds": {m: suite.threshold(m) for m in sources},
        "seed": int(seed),
        "target": "predicted",
    }


def _comparison_key(spec: Mapping[str, Any]) -> str:
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def comparison_folder(root: str | Path, spec: Mapping[str, Any]) -> Path:
    """``<root>/<kind>-<member>-<method>-<key>``."""
    return Path(root) / f"{spec['kind']}-{spec['member']}-{spec['method']}-{_comparison_key(spec)}"


# --------------------------------------------------------------------------- running


def _loaders(
    suite: Suite, dataset: Any | None, load_model: Callable[[str], Any] | None
) -> tuple[Callable[[str], Any], Callable[[list[str]], Any]]:
    ds = dataset if dataset is not None else suite.dataset()
    model_of = load_model if load_model is not None else suite.load_model
    return model_of, lambda ids: ds.load_images(ids, size=suite.image_size)


def run_randomization(
    suite: Suite,
    spec: StudySpec,
    *,
    dataset: Any | None = None,
    load_model: Callable[[str], Any] | None = None,
    progress: Progress = True,
) -> RandomizationResult:
    """The cached study for ``spec`` under ``<suite>/sanity``, computed if missing.

    ``load_model(member_id)`` defaults to ``suite.load_model`` (the dashboard
    passes its cached loader); it is only called on a cache miss.
    """
    from dermviz.sanity.studies import load_or_run_study

    model_of, load_images = _loaders(suite, dataset, load_model)
    return load_or_run_study(
        suite.path / "sanity", spec,
        load_model=lambda: model_of(spec.member_id), load_images=load_images,
        progress=progress,
    )


def cached_comparison(suite: Suite, spec: Mapping[str, Any]) -> ComparisonResult | None:
    """The saved result of a comparison spec, or None."""
    from dermviz.sanity.studies import load_study

    folder = comparison_folder(suite.path / "sanity", spec)
    if not (folder / _META).is_file():
        return None
    result = load_study(folder)
    key = getattr(result, "params", {}).get("key")
    return result if key == _comparison_key(spec) else None


def run_comparison(
    suite: Suite,
    spec: Mapping[str, Any],
    *,
    dataset: Any | None = None,
    load_model: Callable[[str], Any] | None = None,
    progress: Progress = True,
) -> ComparisonResult:
    """The cached reproducibility / cross-model result for ``spec``
    (:func:`comparison_spec`), computed and saved if missing."""
    import functools

    from dermviz.explain.base import get_explainer
    from dermviz.sanity.studies import run_cross_model, run_reproducibility, save_study

    cached = cached_comparison(suite, spec)
    if cached is not None:
        return cached
    model_of, load_images = _loaders(suite, dataset, load_model)
    cls = get_explainer(spec["method"])
    seeds = iter(spec["explainer_seeds"] or [])

    def make_explainer(model: Any) -> Any:
        params = dict(spec["params"])
        if spec["explainer_seeds"]:
            params["seed"] = next(seeds)
        return cls(model, **params)

    ids = list(spec["image_ids"])
    images = load_images(ids)
    if spec["kind"] == "reproducibility":
        member = spec["member"]
        result = run_reproducibility(
            make_explainer, model_of(member), images, ids,
            runs=len(spec["members"]), similarities=spec["similarities"],
            threshold=spec["thresholds"][member], seed=spec["seed"], progress=progress,
        )
    else:
        result = run_cross_model(
            {m: functools.partial(model_of, m) for m in spec["members"]}, images, ids,
            make_explainer=make_explainer, reference=spec["member"],
            similarities=spec["similarities"], thresholds=spec["thresholds"],
            seed=spec["seed"], progress=progress,
        )
    result.params.update(spec=dict(spec), key=_comparison_key(spec))
    save_study(result, comparison_folder(suite.path / "sanity", spec))
    return result


def saved_studies(suite_path: str | Path) -> list[dict[str, Any]]:
    """The complete studies saved under ``<suite>/sanity``, newest first.

    Each entry: ``folder``, ``kind``, ``method``, ``member``, ``n_images``,
    ``created`` and a one-line ``label`` (plus ``layer_set``, ``order`` and
    ``n_stages`` for randomization studies, ``members`` for comparisons).
    """
    root = Path(suite_path) / "sanity"
    out = []
    for meta_path in sorted(root.glob(f"*/{_META}")) if root.is_dir() else []:
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        entry = {
            "folder": str(meta_path.parent),
            "kind": meta.get("kind"),
            "method": meta.get("method"),
            "n_images": len(meta.get("image_ids", [])),
            "created": meta.get("created", ""),
        }
        if entry["kind"] == "randomization":
            spec = meta.get("spec", {})
            entry.update(
                member=spec.get("member_id"), layer_set=spec.get("layer_set"),
                order=spec.get("order"), n_stages=len(meta.get("stage_names", [])) - 1,
            )
            detail = f"{entry['layer_set']} layers, {entry['order']}, {entry['n_stages']} stages"
            extra = spec.get("method_params", {})
            if "nsamples" in extra:
                detail += f", nsamples {extra['nsamples']}"
        else:
            spec = meta.get("params", {}).get("spec", {})
            entry.update(member=spec.get("member"), members=spec.get("members", []))
            detail = " vs ".join(dict.fromkeys(entry["members"])) or "?"
            if "nsamples" in spec.get("params", {}):
                detail += f", nsamples {spec['params']['nsamples']}"
        entry["label"] = (
            f"{entry['method']} · {entry['member']} · {entry['n_images']} images · {detail} "
            f"({entry['created'][:16].replace('T', ' ')})"
        )
        out.append(entry)
    return sorted(out, key=lambda e: e["created"], reverse=True)


# --------------------------------------------------------------------------- tables


def paper_comparable(spec: StudySpec) -> bool:
    """Whether a study's stages match the paper's design (so its numbers apply)."""
    from dermviz.sanity.studies import PAPER_REFERENCE

    return (
        spec.layer_set == "paper"
        and spec.order == "cascading"
        and spec.stages is None
        and spec.n_stages is None
        and spec.method in PAPER_REFERENCE["randomization"]
    )


def _measures(result: Any, measures: Sequence[str] | None) -> list[str]:
    present = list(dict.fromkeys(result.table["measure"]))
    wanted = list(measures) if measures is not None else list(DISPLAY_MEASURES)
    return [m for m in wanted if m in present]


def stage_table(
    result: RandomizationResult, measures: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per stage: the layers, mean p(melanoma), mean similarity to the
    original per measure, and the paper's overlay SSIM (``paper_ssim_paper``)
    when the design matches (:func:`paper_comparable`)."""
    import pandas as pd

    from dermviz.sanity.studies import PAPER_REFERENCE

    preds = result.predictions.groupby("stage")["p_melanoma"].mean()
    df = pd.DataFrame({
        "stage": range(len(result.stage_names)),
        "stage_name": result.stage_names,
        "layers": [_layers_label(x) for x in result.stage_layers],
        "p_melanoma": [float(preds.get(k, math.nan)) for k in range(len(result.stage_names))],
    })
    for m in _measures(result, measures):
        s = result.summary(m)
        s = s[s["kind"] == "stage"].set_index("stage")
        df[m] = [float(s["mean"].get(k, math.nan)) for k in df["stage"]]
    if paper_comparable(result.spec):
        ref = PAPER_REFERENCE["randomization"][result.spec.method]["ssim_to_original"]
        df["paper_ssim_paper"] = [ref[k] if k < len(ref) else math.nan for k in df["stage"]]
    return df


def _layers_label(layers: Sequence[str]) -> str:
    if not layers:
        return "-"
    if len(layers) <= 2:
        return ", ".join(layers)
    return f"{layers[0]} ... ({len(layers)} layers)"


def baseline_table(result: Any, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean similarity of the trained map to each "no information" baseline."""
    import pandas as pd

    t = result.table[result.table["kind"] == "baseline"]
    col = "stage_name" if "stage_name" in t else "b"
    names = list(dict.fromkeys(t[col]))
    df = pd.DataFrame({"baseline": [n.removeprefix("baseline:") for n in names]})
    for m in _measures(result, measures):
        means = t[t["measure"] == m].groupby(col)["value"].mean()
        df[m] = [float(means.get(n, math.nan)) for n in names]
    return df


def step_table(result: RandomizationResult, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """The paper's per-step metric (mean |change| of similarity to the original)
    per measure, with the paper's GradCAM / KernelSHAP values (overlay SSIM, all
    six steps) when the design matches."""
    from dermviz.sanity.studies import PAPER_REFERENCE

    df = None
    for m in _measures(result, measures):
        s = result.steps(m).rename(columns={"mean_abs_change": m})
        df = s if df is None else df.merge(s[["step", m]], on="step")
    if df is None:
        raise ValueError("the study has none of the requested measures")
    if paper_comparable(result.spec):
        ref = PAPER_REFERENCE["randomization"][result.spec.method]["mean_abs_step_all"]
        df["paper_ssim_paper"] = [ref[k - 1] if k - 1 < len(ref) else math.nan for k in df["step"]]
    return df


def paper_comparison_reference(kind: str, method: str) -> dict[str, float]:
    """The paper's mean overlay SSIM for a comparison: label -> value."""
    from dermviz.sanity.studies import PAPER_REFERENCE

    if kind == "reproducibility":
        ref = PAPER_REFERENCE["reproducibility"].get(method)
        return {"same model twice": ref["mean"]} if ref else {}
    refs = PAPER_REFERENCE["cross_model"].get(method, {})
    return {f"seeds {pair}": v["mean"] for pair, v in refs.items()}


def comparison_table(result: ComparisonResult, measures: Sequence[str] | None = None):
    """Per pair (and baseline): mean and sd per measure, n, and the paper's value."""
    df = None
    for m in _measures(result, measures):
        s = result.summary(m).rename(columns={"mean": m, "sd": f"{m}_sd"})
        df = s if df is None else df.merge(s.drop(columns="n"), on=["kind", "a", "b"])
    if df is None:
        raise ValueError("the result has none of the requested measures")
    df.insert(0, "pair", [f"{a} vs {b.removeprefix('baseline:')}" for a, b in zip(
        df["a"], df["b"], strict=True)])
    ref = paper_comparison_reference(result.kind, result.method)
    paper = ", ".join(f"{v:.3f}" for v in ref.values()) if ref else ""
    df["paper_ssim_paper"] = [paper if k == "pair" else "" for k in df["kind"]]
    return df.drop(columns=["a", "b"])


# --------------------------------------------------------------------------- the command


def add_sanity_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dermviz sanity`` (kept free of heavy imports: runs at start-up)."""
    parser.description = (
        "Sanity checks of a suite's saliency maps: layer randomization (after Adebayo "
        "et al. and the paper's protocol), reproducibility and cross-model similarity. "
        "Results are cached under <suite>/sanity/ and shown in the dashboard's "
        "Researchers pages."
    )
    parser.add_argument("--suite", required=True, help="suite name or folder")
    parser.add_argument(
        "--study", choices=["paper", "custom"], default="paper",
        help="paper: the paper's design (six layers, cascading, 16 hold-out images, both "
             "methods, plus reproducibility and cross-model); custom: every option as given",
    )
    parser.add_argument("--member", default=None, help="member to randomize (default: first)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated saliency methods (default: gradcam,kernelshap)")
    parser.add_argument("--layer-set", choices=["paper", "blocks"], default="paper",
                        help="paper: the paper's six single layers; blocks: whole Inception "
                             "blocks (custom study only)")
    parser.add_argument("--order", choices=["cascading", "independent"], default="cascading",
                        help="custom study only")
    parser.add_argument("--target", choices=["original", "predicted"], default=None,
                        help="class each stage explains: the trained model's prediction "
                             "(custom default) or each stage's own (the paper's)")
    parser.add_argument("--stages", default=None,
                        help="custom study: comma-separated stage names to randomize "
                             "(default: all of the layer set)")
    parser.add_argument("--images", default=None,
                        help="comma-separated hold-out image ids (default: the paper's 16, "
                             "8 mel + 8 nv, or a stand-in on a small hold-out)")
    parser.add_argument("--layer", default=None,
                        help="GradCAM target layer (default: the suite's)")
    parser.add_argument("--nsamples", type=int, default=PAPER_NSAMPLES,
                        help="KernelSHAP coalitions per image (default: the paper's 2500; "
                             "slow on a CPU, about 1-2 min per image at 224 px)")
    parser.add_argument("--n-segments", type=int, default=None,
                        help="KernelSHAP superpixels (default: the paper's 100)")
    parser.add_argument("--reset-bias", action="store_true",
                        help="custom study: also reset biases (the paper kept them)")
    parser.add_argument("--reset-batchnorm", action="store_true",
                        help="custom study: also reset BatchNorm (the paper kept it)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the re-initialisation and the random baseline")
    parser.add_argument("--also", default=None,
                        help="comma-separated extra checks: reproducibility, cross-model, or "
                             "none (paper default: both; custom default: none)")
    parser.add_argument("--cross-members", default=None,
                        help="cross-model: comma-separated members (default: --member and "
                             f"the next ones, {CROSS_MODEL_MEMBERS} in all)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="write every result's long table to this CSV file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _parse_also(value: str | None, study: str) -> list[str]:
    if value is None:
        return list(ALSO.values()) if study == "paper" else []
    names = _split(value)
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in ALSO]
    if unknown:
        raise ValueError(f"unknown --also {unknown}; choose from {sorted(ALSO)} or none")
    return [ALSO[n] for n in names]


def run_sanity(args: argparse.Namespace) -> None:
    """``dermviz sanity``: run (or load) the studies, print the tables, write the CSV."""
    from dermviz.explain.base import available_methods
    from dermviz.models.suite import Suite, models_root

    root = getattr(args, "models_dir", None) or models_root()
    suite = Suite.open(args.suite, root=root)
    methods = _split(args.methods)
    known = available_methods()
    bad = [m for m in methods if m not in known]
    if bad or not methods:
        raise ValueError(f"unknown method(s) {bad or methods}; choose from {known}")
    also = _parse_also(args.also, args.study)
    if args.nsamples is not None and args.nsamples < 1:
        raise ValueError(f"--nsamples must be >= 1, got {args.nsamples}")
    member = _check_member(suite, args.member)
    cross_members = _split(args.cross_members) or None
    for m in cross_members or []:
        _check_member(suite, m)
    dataset = suite.dataset()
    image_ids = _split(args.images) or None
    progress: Progress = not args.no_progress
    models: dict[str, Any] = {}

    def load_model(member_id: str) -> Any:  # each member loaded once, only on a cache miss
        if member_id not in models:
            models[member_id] = suite.load_model(member_id)
        return models[member_id]

    specs = {}
    for method in methods:
        params = method_params(suite, method, layer=args.layer, nsamples=args.nsamples,
                               n_segments=args.n_segments)
        specs[method] = (params, randomization_spec(
            suite, member=member, method=method, params=params, image_ids=image_ids,
            study=args.study, layer_set=args.layer_set, order=args.order, target=args.target,
            seed=args.seed, reset_bias=args.reset_bias, reset_batchnorm=args.reset_batchnorm,
            stages=_split(args.stages) or None, dataset=dataset,
        ))
    comparisons = {
        (method, kind): comparison_spec(
            suite, kind, member=member, members=cross_members, method=method,
            params=specs[method][0], image_ids=specs[method][1].image_ids, seed=args.seed,
            dataset=dataset,
        )
        for method in methods
        for kind in also
        if not (kind == "cross_model" and len(suite.member_ids) < 2 and not cross_members)
    }
    skipped = [k for k in also if k == "cross_model" and len(suite.member_ids) < 2]

    print(f"suite {suite.name}: {args.study} study of member {member}, "
          f"{len(specs[methods[0]][1].image_ids)} images, methods {', '.join(methods)}")
    tables = []
    for method in methods:
        params, spec = specs[method]
        folder = _study_folder(suite, spec)
        cached = (folder / _META).is_file()
        start = time.perf_counter()
        result = run_randomization(
            suite, spec, dataset=dataset, load_model=load_model, progress=progress
        )
        _print_randomization(result, folder, cached, time.perf_counter() - start)
        tables.append(_long(result, "randomization", member))
        for kind in also:
            cspec = comparisons.get((method, kind))
            if cspec is None:
                continue
            cached = cached_comparison(suite, cspec) is not None
            start = time.perf_counter()
            cres = run_comparison(
                suite, cspec, dataset=dataset, load_model=load_model, progress=progress
            )
            _print_comparison(cres, cspec, comparison_folder(suite.path / "sanity", cspec),
                              cached, time.perf_counter() - start)
            tables.append(_long(cres, kind, member))
    for kind in skipped:
        print(f"\n{kind}: skipped, suite {suite.name!r} has a single member")
    if args.csv is not None:
        _write_csv(args.csv, tables)
        print(f"\nwrote {args.csv}")


def _study_folder(suite: Suite, spec: StudySpec) -> Path:
    from dermviz.sanity.studies import study_folder

    return study_folder(suite.path / "sanity", spec)


def _long(result: Any, study: str, member: str) -> pd.DataFrame:
    t = result.table.copy()
    t.insert(0, "study", study)
    t.insert(1, "member", member)
    return t


def _write_csv(path: Path, tables: list[pd.DataFrame]) -> None:
    import pandas as pd

    from dermviz.store.atomic import write_atomic

    cols = ["study", "member", "method", "image_id", "kind", "stage", "stage_name", "a", "b",
            "measure", "value"]
    df = pd.concat(tables, ignore_index=True)
    if "stage" in df:
        df["stage"] = df["stage"].astype("Int64")  # NaN for comparison rows
    df = df[[c for c in cols if c in df] + [c for c in df if c not in cols]]
    data = df.to_csv(index=False).encode()
    write_atomic(Path(path), lambda fh: fh.write(data))


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-")


def _status(cached: bool, seconds: float, folder: Path) -> str:
    return f"cached, {folder}" if cached else f"computed in {seconds:.0f} s, saved to {folder}"


def _print_randomization(
    result: RandomizationResult, folder: Path, cached: bool, seconds: float
) -> None:
    spec = result.spec
    params = ", ".join(f"{k}={v}" for k, v in spec.method_params.items())
    print(f"\n== {spec.method} layer randomization: member {spec.member_id}, "
          f"{len(result.image_ids)} images, {spec.layer_set} layers, {spec.order}, "
          f"target {spec.target} ({params})")
    print(f"   [{_status(cached, seconds, folder)}]")
    print("similarity to the original map (mean over images; higher = more similar):")
    print(_fmt(stage_table(result).drop(columns="stage")))
    print("baselines (the trained map against a map with no information):")
    print(_fmt(baseline_table(result)))
    print("per step, mean |change| of similarity to the original (the paper's metric):")
    print(_fmt(step_table(result).drop(columns=["from_stage"])))
    if not paper_comparable(spec):
        print("(no paper reference: the design differs from the paper's)")
    for w in result.warnings:
        print(f"warning: {w}")


def _print_comparison(
    result: ComparisonResult, spec: Mapping[str, Any], folder: Path, cached: bool,
    seconds: float,
) -> None:
    title = {"reproducibility": "reproducibility (same member twice)",
             "cross_model": "cross-model similarity"}[result.kind]
    seeds = spec.get("explainer_seeds")
    extra = f", explainer seeds {seeds}" if seeds else ""
    print(f"\n== {result.method} {title}: members {' vs '.join(dict.fromkeys(spec['members']))}, "
          f"{len(result.image_ids)} images{extra}")
    print(f"   [{_status(cached, seconds, folder)}]")
    print(_fmt(comparison_table(result).drop(columns=["kind"])))
    for w in result.warnings:
        print(f"warning: {w}")
