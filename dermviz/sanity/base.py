"""Sanity-check specs and the check registry (Keras-free).

Every check (layer randomization, reproducibility, cross-model, ...) is a frozen
dataclass deriving from :class:`SanitySpec`: it names its ``kind``, round-trips
through JSON and has a stable :meth:`~SanitySpec.key` that names its cache
folder. A check's module registers its spec type, its compute function and its
result type with :func:`register_check`; :func:`dermviz.sanity.runner.run` then
loads or computes any registered check the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dermviz.sanity.similarity import SIMILARITIES

__all__ = [
    "DEFAULT_SIMILARITIES",
    "Check",
    "Loaders",
    "MemberSpec",
    "MethodSpec",
    "Progress",
    "SanitySpec",
    "check_kinds",
    "get_check",
    "register_check",
    "spec_from_dict",
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

#: True: a tqdm bar; a callable gets ``(done, total, step name)``; False: silent.
Progress = bool | Callable[[int, int, str], None]


@dataclass(frozen=True, eq=False)
class SanitySpec:
    """Base of every check's spec: what it computes, JSON-serialisable.

    Subclasses are frozen dataclasses with a class attribute ``kind`` (the
    registry name, also the first part of the cache folder name). Equality and
    hashing go through :meth:`to_dict`, so specs holding dicts stay hashable.
    """

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (tuples as lists), without ``kind``."""
        return json.loads(json.dumps(asdict(self), sort_keys=True))

    def to_json(self) -> dict[str, Any]:
        """:meth:`to_dict` plus ``kind``: what :func:`spec_from_dict` reads back."""
        return {"kind": self.kind, **self.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SanitySpec:
        """The spec of :meth:`to_dict` (unknown keys, such as ``kind``, are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def revisions(self) -> dict[str, int]:
        """The code revisions the study's results depend on beyond its fields (a metric's
        :attr:`~dermviz.evaluation.base.Metric.revision` above 1, by name); empty by
        default. They enter :meth:`key`, so a study saved by older code is never a cache
        hit, and :func:`~dermviz.sanity.runner.list_studies` can tell it is outdated."""
        return {}

    def key(self) -> str:
        """Stable hash of the spec (16 hex digits of SHA-256 of its sorted JSON, with
        :meth:`revisions` where there are any)."""
        spec = self.to_dict()
        revisions = self.revisions()
        if revisions:  # absent otherwise: keys of specs without any stay as they were
            spec = {**spec, "_revisions": revisions}
        blob = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def folder_name(self) -> str:
        """``<kind>-<key>``: the study's folder under ``<suite>/sanity``."""
        return f"{self.kind}-{self.key()}"

    @property
    def members(self) -> tuple[str, ...]:
        """The suite members the check loads (for listings)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short human description of the design (for listings)."""
        return ""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.key()))


def normalise_ids(image_ids: Sequence[str]) -> tuple[str, ...]:
    """Image ids as a tuple of str; each may appear once."""
    ids = tuple(str(i) for i in image_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("image_ids must be unique")
    return ids


def normalise_similarities(similarities: Sequence[str]) -> tuple[str, ...]:
    """Similarity names as a tuple; each must be registered."""
    names = tuple(similarities)
    unknown = [s for s in names if s not in SIMILARITIES]
    if unknown or not names:
        raise ValueError(f"unknown similarities {unknown}; known: {sorted(SIMILARITIES)}")
    return names


def normalise_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Explainer parameters as sorted plain JSON (so keys do not depend on types)."""
    return json.loads(json.dumps(dict(params), sort_keys=True))


@dataclass(frozen=True, eq=False, kw_only=True)
class MethodSpec(SanitySpec):
    """Base of the checks that explain images with one saliency method.

    Attributes
    ----------
    image_ids : tuple of str
        The images, in order.
    method : str
        Registry name of the saliency method.
    method_params : dict
        Explainer parameters.
    seed : int
        Seeds the random baseline map (and what else the check says).
    """

    image_ids: tuple[str, ...]
    method: str = "gradcam"
    method_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "image_ids", normalise_ids(self.image_ids))
        set_(self, "method_params", normalise_params(self.method_params))
        set_(self, "seed", int(self.seed))

    def sampling_detail(self) -> str:
        """``", nsamples <n>"`` for a sampling method's spec (for :meth:`describe`), else ``""``."""
        if "nsamples" not in self.method_params:
            return ""
        return f", nsamples {self.method_params['nsamples']}"


@dataclass(frozen=True, eq=False, kw_only=True)
class MemberSpec(MethodSpec):
    """Base of the checks on one suite member: :class:`MethodSpec`, plus:

    Attributes
    ----------
    member_id : str
        The suite member explained.
    threshold : float
        The member's operating threshold (decides the predicted class).
    """

    member_id: str
    threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "member_id", str(self.member_id))
        object.__setattr__(self, "threshold", float(self.threshold))

    @property
    def members(self) -> tuple[str, ...]:
        return (self.member_id,)


@dataclass(frozen=True)
class Loaders:
    """What a check's compute function may load (only on a cache miss).

    Attributes
    ----------
    model : callable
        ``model(member_id) -> keras.Model``.
    images : callable
        ``images(image_ids) -> ndarray (n, H, W, 3)`` in [0, 255].
    scratch : Path or None
        A folder where a check may keep its work in progress, image by image: a run
        interrupted and started again finds it there and resumes (the runner removes it
        once the study is saved). None: keep nothing.
    """

    model: Callable[[str], Any]
    images: Callable[[list[str]], np.ndarray]
    scratch: Path | None = None


@dataclass(frozen=True)
class Check:
    """A registered check: its spec type, compute function and result type.

    ``compute(spec, loaders, *, progress) -> result``; the result type has
    ``to_saved() -> (meta, arrays)`` and ``from_saved(spec, meta, arrays, table,
    predictions)`` for :mod:`dermviz.sanity.storage`.
    """

    spec_type: type[SanitySpec]
    compute: Callable[..., Any]
    result_type: type


_CHECKS: dict[str, Check] = {}


def register_check(spec_type: type[SanitySpec], *, compute: Callable[..., Any],
                   result_type: type) -> Check:
    """Register a check under ``spec_type.kind``; returns the entry."""
    kind = spec_type.kind
    if not kind:
        raise ValueError(f"{spec_type.__name__} has no kind")
    if kind in _CHECKS and _CHECKS[kind].spec_type is not spec_type:
        raise ValueError(f"a different check is already registered as {kind!r}")
    _CHECKS[kind] = Check(spec_type, compute, result_type)
    return _CHECKS[kind]


def get_check(kind: str) -> Check:
    """The registered check of ``kind`` (the built-in ones register when
    :mod:`dermviz.sanity.checks` is imported, as the runner does)."""
    try:
        return _CHECKS[kind]
    except KeyError:
        raise KeyError(f"unknown sanity check {kind!r}; known: {sorted(_CHECKS)}") from None


def check_kinds() -> list[str]:
    """Names of the registered checks."""
    return sorted(_CHECKS)


def spec_from_dict(d: Mapping[str, Any]) -> SanitySpec:
    """The spec of :meth:`SanitySpec.to_json` (``kind`` picks the type)."""
    if "kind" not in d:
        raise ValueError("a spec dict needs a 'kind'")
    return get_check(d["kind"]).spec_type.from_dict(d)
