"""Shared steps of every check: explain, score against baselines, tick progress.

Keras-free at import: the explainers are built by the caller's factory, and
:func:`explainer_factory` imports the explain layer when it is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dermviz.sanity.base import Progress
from dermviz.sanity.baselines import BASELINES
from dermviz.sanity.similarity import SIMILARITIES

if TYPE_CHECKING:
    from dermviz.explain.maps import SaliencyMaps

__all__ = [
    "ExplainerFactory",
    "Ticker",
    "as_uint8",
    "baseline_maps",
    "check_ids",
    "constant_map_warnings",
    "degenerate_map_warnings",
    "explain",
    "explainer_factory",
    "map_warnings",
    "predictions_table",
    "score",
    "timed_explain",
]

#: ``make_explainer(model) -> Explainer``.
ExplainerFactory = Callable[[Any], Any]


class Ticker:
    """Step progress: a tqdm bar, a user callback ``(done, total, name)``, or nothing."""

    def __init__(self, progress: Progress, total: int, desc: str) -> None:
        self.total, self.done = total, 0
        self.callback = progress if callable(progress) else None
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step")

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

    def __enter__(self) -> Ticker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # the bar closes also when a step fails


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Images ``(n, H, W, 3)`` as uint8 (rounded and clipped to [0, 255])."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images (n, H, W, 3), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images
    return np.clip(np.round(images), 0, 255).astype(np.uint8)


def check_ids(image_ids: Sequence[str], n: int) -> list[str]:
    """``n`` unique image ids as str."""
    ids = [str(i) for i in image_ids]
    if len(ids) != n:
        raise ValueError(f"{len(ids)} image ids for {n} images")
    if len(set(ids)) != n:
        raise ValueError("image ids must be unique")
    return ids


def explainer_factory(
    method: str, params: Mapping[str, Any], *, seeds: Sequence[int] | None = None
) -> ExplainerFactory:
    """A factory of the registered ``method`` with ``params``; with ``seeds``, the
    r-th explainer built gets ``seed=seeds[r]`` (one seed per run or member)."""
    import dermviz.explain  # noqa: F401  (registers the methods; imports the models layer)
    from dermviz.explain.base import get_explainer

    cls = get_explainer(method)
    queue = iter(seeds or ())

    def make(model: Any) -> Any:
        kwargs = dict(params)
        if seeds:
            kwargs["seed"] = next(queue)
        return cls(model, **kwargs)

    return make


def _baseline_seed(seed: int, image: int) -> int:
    return int(np.random.SeedSequence([seed, 7919, image]).generate_state(1)[0])


def baseline_maps(
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


def constant_map_warnings(maps: Mapping[str, np.ndarray]) -> list[str]:
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


def degenerate_map_warnings(runs: Mapping[str, SaliencyMaps]) -> list[str]:
    """Warn about KernelSHAP maps with a degenerate reference gap, per source.

    Their values sum to almost nothing (|f(image) - f(background)| <
    :data:`~dermviz.explain.backgrounds.DEGENERATE_GAP`), so a similarity score on
    them compares noise. Maps without ``f_x`` and ``base_value`` extras (CAMs) are
    not concerned.
    """
    # The explain layer (and, through it, the models layer) is imported when used, as in
    # explainer_factory, so that importing the checks stays light.
    from dermviz.explain.backgrounds import DEGENERATE_GAP, degenerate

    out = []
    for source, sm in runs.items():
        if "f_x" not in sm.extras or "base_value" not in sm.extras:
            continue
        n_small = int(degenerate(sm.extras["f_x"], sm.extras["base_value"]).sum())
        if n_small:
            out.append(
                f"{source}: {n_small} of {len(sm)} maps have a degenerate reference gap "
                f"(|f(image) - f(background)| < {DEGENERATE_GAP}); they distribute almost "
                "nothing, so their similarity scores compare noise"
            )
    return out


def map_warnings(runs: Mapping[str, SaliencyMaps], maps: Mapping[str, np.ndarray]) -> list[str]:
    """A result's warnings: the explainers' own (sorted, once each), then
    :func:`constant_map_warnings` of ``maps`` and :func:`degenerate_map_warnings`
    of ``runs``."""
    return (sorted({w for sm in runs.values() for w in sm.warnings})
            + constant_map_warnings(maps) + degenerate_map_warnings(runs))


def predictions_table(runs: Mapping[str, SaliencyMaps], ids: Sequence[str]) -> pd.DataFrame:
    """``image_id, source, p_melanoma, target_class`` of each source's maps."""
    return pd.DataFrame(
        [
            (image_id, source, float(sm.p_melanoma[i]), int(sm.target_class[i]))
            for source, sm in runs.items()
            for i, image_id in enumerate(ids)
        ],
        columns=["image_id", "source", "p_melanoma", "target_class"],
    )


def score(a: np.ndarray, b: np.ndarray, *, image: np.ndarray, signed: bool, measure: str) -> float:
    """One similarity of two maps of ``image``."""
    return float(SIMILARITIES[measure](a, b, image=image, signed=signed))


def explain(factory: ExplainerFactory, model: Any, images: np.ndarray, **kwargs: Any):
    """``(SaliencyMaps, signed)`` of one explainer built for ``model``."""
    explainer = factory(model)
    return explainer.explain(images, **kwargs), bool(getattr(explainer, "signed", False))


def timed_explain(timings: dict[str, float], name: str, factory: ExplainerFactory, model: Any,
                  images: np.ndarray, **kwargs: Any):
    """:func:`explain`, its seconds recorded as ``timings[name]``."""
    start = time.perf_counter()
    out = explain(factory, model, images, **kwargs)
    timings[name] = time.perf_counter() - start
    return out
