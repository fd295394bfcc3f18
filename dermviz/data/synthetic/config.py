"""The synthetic data set's parameters: their schema and validation.

:class:`SyntheticConfig` says what to generate, :class:`ArtefactSpec` how often an
artefact appears per class. The checks shared with the renderer (image seeds, labels,
difficulty and sizes) live here too, so every entry point refuses the same inputs with
the same message.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from dermviz.data.dataset import LABELS
from dermviz.data.synthetic.structures import FAMILY_NAMES, check_families

#: Artefacts the generator can draw, in the order their flags are drawn.
ARTEFACT_NAMES: tuple[str, ...] = ("ink", "ruler")

#: Key of each split in the per-image seed streams (never renumber: seeds depend on it).
SPLIT_KEYS = {"test": 0, "train": 1}

_MIN_SIDE = 32


@dataclass(frozen=True)
class ArtefactSpec:
    """How often an artefact appears, per class.

    Parameters
    ----------
    p_mel : float
        Probability that a melanoma image carries the artefact, in [0, 1].
    p_nv : float
        Probability that a naevus image carries the artefact, in [0, 1].
    """

    p_mel: float = 0.0
    p_nv: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p_mel", "p_nv"):
            value = getattr(self, name)
            if not is_real(value) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(
                    f"ArtefactSpec.{name} must be a probability in [0, 1], got {value!r}"
                )
            object.__setattr__(self, name, float(value))

    def probability(self, dx: str) -> float:
        """Probability for class ``dx`` (``"mel"`` or ``"nv"``)."""
        if dx not in LABELS:
            raise ValueError(f"dx must be one of {sorted(LABELS)}, got {dx!r}")
        return self.p_mel if dx == "mel" else self.p_nv


ArtefactSpecs = Mapping[str, ArtefactSpec]


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic data set.

    Parameters
    ----------
    n_train : int
        Size of the training pool.
    n_test : int
        Size of the balanced hold-out (``n_test // 2`` melanomas, then as many
        naevi); must be even.
    mel_fraction : float
        Melanoma share of the training pool, in [0, 1] (rounded to a count).
    difficulty : float
        0 = trivially separable classes, 1 = indistinguishable; see
        :mod:`dermviz.data.synthetic`.
    native_size : tuple of int
        ``(width, height)`` of the rendered images, like the shared HAM10000
        copy (200x150). Each side must be at least 32 pixels.
    seed : int
        Non-negative master seed.
    artefacts : mapping of str to ArtefactSpec
        Artefact rates for both splits (names from :data:`ARTEFACT_NAMES`).
    artefacts_train, artefacts_test : mapping of str to ArtefactSpec
        Per-split rates; they override ``artefacts`` name by name. A spec may
        also be given as a ``(p_mel, p_nv)`` pair or a ``{"p_mel", "p_nv"}``
        mapping. Artefacts not named are never drawn.
    evidence : bool
        The evidence mode (opt-in): every lesion is drawn alike whatever its class,
        and the class lives in one or two local structures, melanoma-specific or a
        benign look-alike, whose pixel masks are known
        (:mod:`dermviz.data.synthetic.structures`). The difficulty then fades the
        structures instead of blurring the classes.
    evidence_families : tuple of str
        The evidence mode's structure families
        (:data:`~dermviz.data.synthetic.structures.FAMILY_NAMES`, all by default). The
        demo draws :data:`~dermviz.data.synthetic.structures.COARSE_FAMILIES`, the ones
        a network learns in its few training steps.
    """

    n_train: int = 600
    n_test: int = 200
    mel_fraction: float = 0.5
    difficulty: float = 0.5
    native_size: tuple[int, int] = (200, 150)
    seed: int = 0
    artefacts: ArtefactSpecs = field(default_factory=dict)
    artefacts_train: ArtefactSpecs = field(default_factory=dict)
    artefacts_test: ArtefactSpecs = field(default_factory=dict)
    evidence: bool = False
    evidence_families: tuple[str, ...] = FAMILY_NAMES

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.n_test % 2:
            raise ValueError(f"n_test must be even (half melanomas, half naevi), got {self.n_test}")
        for name in ("mel_fraction", "difficulty"):
            value = getattr(self, name)
            if not is_real(value) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "native_size", check_native_size(self.native_size))
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if not isinstance(self.evidence, (bool, np.bool_)):
            raise ValueError(f"evidence must be a bool, got {self.evidence!r}")
        object.__setattr__(self, "evidence", bool(self.evidence))
        object.__setattr__(self, "evidence_families", check_families(self.evidence_families))
        for name in ("artefacts", "artefacts_train", "artefacts_test"):
            object.__setattr__(self, name, _coerce_specs(getattr(self, name), name))

    def artefact_specs(self, split: str) -> dict[str, ArtefactSpec]:
        """Effective artefact rates for ``split`` (``"train"`` or ``"test"``)."""
        if split not in SPLIT_KEYS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        own = self.artefacts_train if split == "train" else self.artefacts_test
        return {**self.artefacts, **own}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; :meth:`from_dict` rebuilds the config."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("artefacts"):
                value = {k: {"p_mel": s.p_mel, "p_nv": s.p_nv} for k, s in value.items()}
            elif f.name in ("native_size", "evidence_families"):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SyntheticConfig:
        """Rebuild a config from :meth:`to_dict` output (unknown keys raise)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown SyntheticConfig field(s): {unknown}")
        kwargs = dict(data)
        for name in ("native_size", "evidence_families"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


def is_int(value: Any) -> bool:
    """True for an integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for a finite real number that is not a bool."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and bool(np.isfinite(float(value)))
    )


def check_native_size(size: Any) -> tuple[int, int]:
    """``size`` as a ``(width, height)`` pair of ints, each side at least 32 pixels."""
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ValueError(f"native_size must be a (width, height) pair, got {size!r}") from None
    if not (is_int(width) and is_int(height)) or min(width, height) < _MIN_SIDE:
        raise ValueError(
            f"native_size must be two integers >= {_MIN_SIDE} (width, height), got {size!r}"
        )
    return int(width), int(height)


def check_render_args(seed: Any, label: Any, difficulty: Any) -> None:
    """Refuse an image seed, label or difficulty the renderer cannot draw."""
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if label not in LABELS:
        raise ValueError(f"label must be one of {sorted(LABELS)}, got {label!r}")
    if not is_real(difficulty) or not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")


def _coerce_specs(specs: Any, name: str) -> dict[str, ArtefactSpec]:
    if specs is None:
        return {}
    if not isinstance(specs, Mapping):
        raise ValueError(f"{name} must be a mapping of artefact name to ArtefactSpec")
    out: dict[str, ArtefactSpec] = {}
    for key, spec in specs.items():
        if key not in ARTEFACT_NAMES:
            raise ValueError(
                f"unknown artefact {key!r} in {name}; known artefacts: {list(ARTEFACT_NAMES)}"
            )
        if isinstance(spec, ArtefactSpec):
            out[key] = spec
        elif isinstance(spec, Mapping):
            extra = sorted(set(spec) - {"p_mel", "p_nv"})
            if extra:
                raise ValueError(f"{name}[{key!r}] has unknown key(s) {extra}")
            out[key] = ArtefactSpec(**spec)
        elif isinstance(spec, (tuple, list)) and len(spec) == 2:
            out[key] = ArtefactSpec(*spec)
        else:
            raise ValueError(
                f"{name}[{key!r}] must be an ArtefactSpec, a (p_mel, p_nv) pair or a "
                f"mapping, got {spec!r}"
            )
    return out
