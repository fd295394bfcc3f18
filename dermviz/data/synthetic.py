"""Seeded synthetic dermoscopy images: the built-in demo data set.

No real data is available on a fresh machine, so the workbench ships a generator
that draws dermoscopy-like images with the same :class:`~dermviz.data.dataset.Dataset`
interface as the HAM10000 loader. Every image is a pure function of a few numbers
stored in its table row (``seed``, ``dx``, ``difficulty`` and the artefact flags),
so the table is tiny and pixels are rendered on demand (about 3 ms per image).

What is drawn
-------------
* skin-toned background with low-frequency colour variation and sensor noise,
  the dark circular vignette of a contact dermoscope and a few thin dark hairs;
* a **naevus**: a roughly symmetric ellipse-like blob with a smooth border and an
  even brown colour, darker in the middle;
* a **melanoma**: an asymmetric blob with an irregular border (a radial function
  with several random harmonics), several colours (dark brown, black, blue-grey,
  reddish and whitish regions) and dark dots/globules.

How melanoma-like a lesion is drawn is one latent number, its *atypia*
``a`` in [0, 1] (stored in the ``atypia`` column). Naevi normally get
``a`` in [0, 0.25], melanomas ``a`` in [0.6, 1]. With probability
``difficulty ** 2`` an image instead gets ``a`` drawn uniformly from [0, 1],
whatever its label, so at difficulty 0 the classes are trivially separable, at
difficulty 1 they are indistinguishable, and at the default 0.5 about a quarter
of the images are ambiguous (an ideal classifier is right on roughly 88% of them).

Spurious artefacts
------------------
Optional artefacts that a classifier may learn as shortcuts: ``"ink"`` (a purple
or blue marker circle, or pen dots, near the lesion) and ``"ruler"`` (a scale
strip with ticks along an edge). Each has an :class:`ArtefactSpec` giving the
probability that a melanoma / naevus image carries it, set separately for the
training pool and the hold-out, so the correlation with the label can differ
between the splits. Artefacts are drawn from their own random streams: switching
one on changes only its own pixels, never the lesion, and they are never part of
the lesion mask.

Determinism
-----------
Per-image seeds come from :class:`numpy.random.SeedSequence` keyed by
``(config.seed, split, position)``, so a hold-out image is the same whatever
``n_train`` is, and the first ``k`` pool images only depend on ``n_train`` through
the label shuffle.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import cv2
import numpy as np
import pandas as pd

from dermviz.data.dataset import LABELS, Dataset

__all__ = [
    "ARTEFACT_NAMES",
    "ArtefactSpec",
    "SyntheticConfig",
    "SyntheticSource",
    "artefact_masks",
    "lesion_atypia",
    "load_artefact_masks",
    "make_synthetic",
    "render_lesion",
]

#: Artefacts the generator can draw, in the order their flags are drawn.
ARTEFACT_NAMES: tuple[str, ...] = ("ink", "ruler")

_SPLIT_KEYS = {"test": 0, "train": 1}
_MIN_SIDE = 32
_NOISE_PAD = 32

# Colours (RGB, 0-255) of the pigment structures.
_LIGHT_BROWN = (172, 110, 74)
_DARK_BROWN = (82, 48, 34)
_BLACK = (36, 27, 30)
_BLUE_GREY = (88, 100, 128)
_RED = (176, 84, 86)
_WHITE = (204, 186, 188)
# Secondary colours a melanoma may show, with their relative odds.
_MEL_COLOURS = np.array([_DARK_BROWN, _BLACK, _BLUE_GREY, _RED, _LIGHT_BROWN, _WHITE], np.float32)
_MEL_COLOUR_ODDS = np.array([3.0, 3.0, 2.5, 1.5, 1.5, 1.0])
_MEL_COLOUR_ATYPICAL = np.array([False, True, True, True, False, True])
_HAIR = np.array((42, 30, 26), np.float32)
_INKS = np.array([(118, 62, 150), (86, 64, 168), (60, 72, 160)], np.float32)


# --------------------------------------------------------------------------- config


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
            if not _is_real(value) or not 0.0 <= float(value) <= 1.0:
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
        0 = trivially separable classes, 1 = indistinguishable; see the module
        docstring.
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

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.n_test % 2:
            raise ValueError(f"n_test must be even (half melanomas, half naevi), got {self.n_test}")
        for name in ("mel_fraction", "difficulty"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
            object.__setattr__(self, name, float(value))
        object.__setattr__(self, "native_size", _check_native_size(self.native_size))
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        for name in ("artefacts", "artefacts_train", "artefacts_test"):
            object.__setattr__(self, name, _coerce_specs(getattr(self, name), name))

    def artefact_specs(self, split: str) -> dict[str, ArtefactSpec]:
        """Effective artefact rates for ``split`` (``"train"`` or ``"test"``)."""
        if split not in _SPLIT_KEYS:
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
            elif f.name == "native_size":
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
        if "native_size" in kwargs:
            kwargs["native_size"] = tuple(kwargs["native_size"])
        return cls(**kwargs)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and bool(np.isfinite(float(value)))
    )


def _check_native_size(size: Any) -> tuple[int, int]:
    try:
        width, height = size
    except (TypeError, ValueError):
        raise ValueError(f"native_size must be a (width, height) pair, got {size!r}") from None
    if not (_is_int(width) and _is_int(height)) or min(width, height) < _MIN_SIDE:
        raise ValueError(
            f"native_size must be two integers >= {_MIN_SIDE} (width, height), got {size!r}"
        )
    return int(width), int(height)


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


# --------------------------------------------------------------------------- rendering


def _rngs(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent streams: lesion/scene, ink, ruler."""
    children = np.random.SeedSequence(seed).spawn(3)
    return tuple(np.random.default_rng(c) for c in children)


def _draw_atypia(rng: np.random.Generator, label: str, difficulty: float) -> float:
    """Latent melanoma-likeness; always consumes three draws."""
    u_mix, u_any, u_own = rng.random(3)
    if u_mix < difficulty**2:
        return float(u_any)
    if label == "mel":
        return float(0.6 + 0.4 * u_own)
    return float(0.25 * u_own)


def lesion_atypia(*, seed: int, label: str, difficulty: float) -> float:
    """How melanoma-like :func:`render_lesion` draws this lesion (0 = naevus-like).

    Parameters
    ----------
    seed : int
        Image seed.
    label : {"mel", "nv"}
        True class.
    difficulty : float
        In [0, 1].

    Returns
    -------
    float
        The latent atypia in [0, 1] that drives shape asymmetry, border
        irregularity, colour variety and dots.
    """
    _check_render_args(seed, label, difficulty)
    return _draw_atypia(_rngs(seed)[0], label, float(difficulty))


def _check_render_args(seed: Any, label: Any, difficulty: Any) -> None:
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if label not in LABELS:
        raise ValueError(f"label must be one of {sorted(LABELS)}, got {label!r}")
    if not _is_real(difficulty) or not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")


@functools.lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def _grid_shape(width: int, height: int, cells: int) -> tuple[int, int]:
    longest = max(width, height)
    return max(2, round(cells * width / longest)), max(2, round(cells * height / longest))


def _smooth_field(
    rng: np.random.Generator, width: int, height: int, cells: int, channels: int = 1
) -> np.ndarray:
    """Low-frequency noise, about N(0, 1), shape (H, W) or (H, W, channels)."""
    gw, gh = _grid_shape(width, height, cells)
    small = rng.standard_normal((gh, gw, channels), dtype=np.float32)
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return out.reshape(height, width, channels) if channels > 1 else out.reshape(height, width)


def _composite(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: ``img = img * (1 - alpha) + colour * alpha`` (colour may be an image)."""
    a = alpha[..., None]
    img *= 1.0 - a
    img += a * colour


def _composite_layer(
    img: np.ndarray, layer: np.ndarray, colour: np.ndarray, opacity: float
) -> None:
    """In place: blend ``colour`` where the ``uint8`` coverage ``layer`` is non-zero."""
    ys, xs = np.nonzero(layer)
    if ys.size == 0:
        return
    a = layer[ys, xs].astype(np.float32)[:, None] * (opacity / 255.0)
    img[ys, xs] = img[ys, xs] * (1.0 - a) + colour * a


def _lesion_outline(
    rng: np.random.Generator, atypia: float, width: int, height: int
) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Polygon (N, 2) of a radial-function blob, its centre and radii."""
    a = atypia
    n_pts = 180
    theta = np.linspace(0.0, 2.0 * np.pi, n_pts, endpoint=False)
    ks = np.arange(1, 13)
    amps = np.zeros(ks.size)
    amps[0] = 0.10 * a * rng.random()  # k=1: lopsided (egg-shaped with k=2)
    amps[1] = rng.uniform(0.03, 0.17)  # k=2: elongation, both classes
    amps[2] = (0.015 + 0.15 * a) * rng.uniform(0.6, 1.0)  # k=3: asymmetry
    high = ks[3:]
    amps[3:] = (0.004 + 0.075 * a**1.3) * rng.uniform(0.3, 1.0, high.size) * (4.0 / high) ** 0.7
    phases = rng.uniform(0.0, 2.0 * np.pi, ks.size)
    shape = 1.0 + (amps[:, None] * np.cos(ks[:, None] * theta[None, :] + phases[:, None])).sum(0)
    shape = np.maximum(shape, 0.3)
    frac = rng.uniform(0.10, 0.42)
    mean_sq = float(np.mean(shape**2))
    radius = np.sqrt(frac * width * height / (np.pi * mean_sq))
    cx = width / 2 + np.clip(rng.normal(0, 0.07), -0.15, 0.15) * width
    cy = height / 2 + np.clip(rng.normal(0, 0.07), -0.15, 0.15) * height
    r = radius * shape
    pts = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)
    return pts, float(cx), float(cy), r


def _draw_hairs(rng: np.random.Generator, img: np.ndarray, width: int, height: int) -> None:
    n_hairs = int(rng.choice(7, p=[0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05]))
    if n_hairs == 0:
        return
    layer = np.zeros((height, width), np.uint8)
    t = np.linspace(0.0, 1.0, 24)[:, None]
    for _ in range(n_hairs):
        p0 = rng.uniform(-0.1, 1.1, 2) * (width, height)
        heading = rng.uniform(0.0, 2.0 * np.pi)
        p2 = p0 + rng.uniform(0.5, 1.2) * width * np.array((np.cos(heading), np.sin(heading)))
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.2, 2) * (width, height)
        curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
        shade = int(rng.integers(150, 256))
        thick = 1 if rng.random() < 0.8 else 2
        pts = np.round(curve * 16).astype(np.int32)
        cv2.polylines(layer, [pts], False, shade, thick, cv2.LINE_AA, shift=4)
    _composite_layer(img, layer, _HAIR, 1.0)


def _draw_ink(
    rng: np.random.Generator,
    img: np.ndarray,
    mask: np.ndarray,
    cx: float,
    cy: float,
    r: np.ndarray,
) -> None:
    """A purple/blue marker circle around the lesion, or a few pen dots near it."""
    height, width = img.shape[:2]
    layer = np.zeros((height, width), np.uint8)
    colour = _INKS[rng.integers(len(_INKS))]
    reach = float(r.max())
    # Candidate pen dots: next to the lesion, off it, and inside the dermoscope's view.
    ang = rng.uniform(0.0, 2.0 * np.pi, 12)
    dist = reach * rng.uniform(0.75, 1.1, 12) + rng.uniform(6.0, 14.0, 12)
    xs, ys = cx + dist * np.cos(ang), cy + dist * np.sin(ang)
    ok = (
        (np.hypot(xs - width / 2, ys - height / 2) < 0.42 * width)
        & (xs > 6)
        & (xs < width - 7)
        & (ys > 6)
        & (ys < height - 7)
    )
    keep = [
        k
        for k in np.flatnonzero(ok)
        if not mask[
            max(0, int(ys[k]) - 5) : int(ys[k]) + 6, max(0, int(xs[k]) - 5) : int(xs[k]) + 6
        ].any()
    ][: int(rng.integers(3, 6))]
    if rng.random() < 0.6 or len(keep) < 2:  # a hand-drawn circle around the lesion
        margin = rng.uniform(6.0, 14.0)
        axes = (round((reach + margin) * 16), round((reach + margin) * rng.uniform(1.0, 1.2) * 16))
        start = rng.uniform(0, 360)
        span = rng.uniform(220, 340)
        thick = int(rng.integers(2, 4))
        centre = (round(cx * 16), round(cy * 16))
        angle = rng.uniform(0, 180)
        cv2.ellipse(
            layer, centre, axes, angle, start, start + span, 255, thick, cv2.LINE_AA, shift=4
        )
    else:  # a few pen dots next to the lesion
        for k in keep:
            rad = rng.uniform(2.5, 4.5)
            centre = (round(xs[k] * 16), round(ys[k] * 16))
            cv2.circle(layer, centre, round(rad * 16), 255, -1, cv2.LINE_AA, 4)
    _composite_layer(img, layer, colour, rng.uniform(0.6, 0.85))


def _draw_ruler(rng: np.random.Generator, img: np.ndarray) -> None:
    """A scale strip with tick marks along one edge."""
    height, width = img.shape[:2]
    side = int(rng.integers(4))  # 0 top, 1 bottom, 2 left, 3 right
    horizontal = side < 2
    length = width if horizontal else height
    thick = int(rng.integers(11, 16))
    offset = int(rng.integers(3, 10))
    strip = np.empty((thick, length, 3), np.float32)
    light = rng.random() < 0.7
    base = np.array((232, 228, 212) if light else (48, 48, 52), np.float32)
    ink = np.array((30, 30, 34) if light else (226, 226, 226), np.float32)
    strip[:] = base * rng.uniform(0.9, 1.0)
    spacing = rng.uniform(4.0, 6.0)
    start = rng.uniform(0, spacing)
    ticks = np.round(np.arange(start, length, spacing)).astype(int)
    ticks = ticks[ticks < length]
    tick_len = np.where(np.arange(ticks.size) % 5 == 0, 0.75, 0.4) * thick
    on = np.zeros((thick, length), bool)
    on[:, ticks] = np.arange(thick)[:, None] < np.maximum(np.round(tick_len), 1)[None, :]
    strip[on] = ink
    if side in (1, 3):  # ticks hang from the edge nearest the image border
        strip = strip[::-1]
    if horizontal:
        rows = (
            slice(offset, offset + thick)
            if side == 0
            else slice(height - offset - thick, height - offset)
        )
        img[rows] = strip
    else:
        cols = (
            slice(offset, offset + thick)
            if side == 2
            else slice(width - offset - thick, width - offset)
        )
        img[:, cols] = strip.transpose(1, 0, 2)


@functools.lru_cache(maxsize=4)
def _noise_bank(width: int, height: int) -> np.ndarray:
    """A fixed tile of sensor noise; each image reads it at a random offset."""
    rng = np.random.default_rng(0x5EED)
    return rng.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3), dtype=np.float32)


def _paint_lesion(
    rng: np.random.Generator, img: np.ndarray, mask_u8: np.ndarray, a: float, mean_r: float
) -> None:
    """Paint the lesion into ``img`` (a view around its bounding box), in place."""
    h, w = mask_u8.shape
    # Depth inside the lesion: 0 at the border, 1 in the core.
    depth = cv2.distanceTransform(mask_u8, cv2.DIST_L2, 3)
    depth = np.minimum(depth * (1.0 / max(mean_r * 0.45, 1.0)), 1.0)

    # Base pigment: one brown, darker in the core, faintly mottled.
    light, dark = np.array(_LIGHT_BROWN, np.float32), np.array(_DARK_BROWN, np.float32)
    base = light + (dark - light) * rng.uniform(0.0, 0.8)
    core = base * rng.uniform(0.6, 0.85)
    shade = np.sqrt(depth)
    shade *= 1.0 + 0.08 * _smooth_field(rng, w, h, 7)
    pigment = base + (core - base) * shade[..., None]

    # Pigment network: zero-crossings of a mid-frequency field; patchy when atypical.
    cells = max(3, round(2.0 * mean_r / rng.uniform(3.0, 4.5)))
    net = _smooth_field(rng, w, h, cells)
    net = np.exp(-((net * rng.uniform(1.3, 2.0)) ** 2))
    strength = rng.uniform(0.06, 0.16) * (1.0 + 0.8 * a)
    if a > 0.3:
        net *= np.clip(0.6 + _smooth_field(rng, w, h, 4), 0.0, 1.5)
    pigment *= (1.0 - strength * net)[..., None]

    # Extra colour regions: their number and extent grow with atypia.
    n_extra = int(np.clip(np.floor(a * 4.2 + rng.uniform(-0.4, 0.4)), 0, 4))
    if n_extra:
        # Blue-grey, black, red and white only come with real atypia.
        s = float(np.clip((a - 0.25) / 0.35, 0.02, 1.0))
        odds = _MEL_COLOUR_ODDS * np.where(_MEL_COLOUR_ATYPICAL, s, 1.0)
        odds /= odds.sum()
        pick = rng.choice(len(_MEL_COLOURS), size=n_extra, replace=False, p=odds)
        fields_ = _smooth_field(rng, w, h, 5, n_extra + 1)
        fields_[..., 0] += 1.5 - 1.8 * a  # the base colour dominates in atypical naevi
        region = fields_.argmax(axis=2)
        weights = (region[..., None] == np.arange(1, n_extra + 1)).astype(np.float32)
        weights = cv2.GaussianBlur(weights, (0, 0), max(1.5, 0.08 * mean_r))
        weights = weights.reshape(h, w, n_extra)
        weights *= rng.uniform(0.65, 0.95, n_extra).astype(np.float32)
        cover = weights.sum(axis=2, keepdims=True)
        pigment *= 1.0 - cover
        pigment += weights @ _MEL_COLOURS[pick]

    # Dots and globules.
    n_dots = int(rng.poisson(30.0 * max(a - 0.3, 0.0) ** 1.2))
    if n_dots:
        ys_in, xs_in = np.nonzero(mask_u8)
        dots = np.zeros((h, w), np.uint8)
        idx = rng.integers(0, ys_in.size, n_dots)
        radii = rng.uniform(1.0, 2.8, n_dots)
        for x, y, rad in zip(xs_in[idx], ys_in[idx], radii, strict=True):
            centre = (int(x) * 16 + 8, int(y) * 16 + 8)
            cv2.circle(dots, centre, round(rad * 16), 255, -1, cv2.LINE_AA, 4)
        dot_alpha = cv2.GaussianBlur(dots.astype(np.float32), (0, 0), 0.7) * (0.85 / 255.0)
        dot_colour = np.array(_BLACK if rng.random() < 0.5 else _DARK_BROWN, np.float32)
        _composite(pigment, dot_alpha, dot_colour)

    # Blend over the skin: soft edge, fainter towards the periphery.
    edge_sigma = rng.uniform(1.0, 2.2) * (1.0 - 0.45 * a)
    alpha = cv2.GaussianBlur(mask_u8.astype(np.float32), (0, 0), edge_sigma)
    alpha *= 0.74 + 0.22 * np.minimum(depth * 2.5, 1.0)
    _composite(img, alpha, pigment)


def _render(
    seed: int, label: str, difficulty: float, width: int, height: int, ink: bool, ruler: bool
) -> tuple[np.ndarray, np.ndarray]:
    rng, rng_ink, rng_ruler = _rngs(seed)
    a = _draw_atypia(rng, label, difficulty)

    # Skin: pink-to-orange tone with gentle low-frequency variation.
    pink, orange = np.array((232, 168, 162), np.float32), np.array((218, 158, 118), np.float32)
    skin = (pink + (orange - pink) * rng.random()) * rng.uniform(0.82, 1.04)
    gw, gh = _grid_shape(width, height, 4)
    small = (
        skin
        + rng.standard_normal((gh, gw, 3)) * rng.uniform(1.5, 4.0)
        + rng.standard_normal((gh, gw, 1)) * rng.uniform(4.0, 10.0)
    )
    img = cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)

    # Lesion: mask and drawing from the same polygon.
    pts, cx, cy, r = _lesion_outline(rng, a, width, height)
    mask_u8 = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask_u8, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    pad = 8
    x0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad + 1, width)
    y0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad + 1, height)
    _paint_lesion(rng, img[y0:y1, x0:x1], mask_u8[y0:y1, x0:x1], a, float(r.mean()))

    _draw_hairs(rng, img, width, height)
    if ink:
        _draw_ink(rng_ink, img, mask_u8, cx, cy, r)
    if ruler:
        _draw_ruler(rng_ruler, img)

    # Dermoscope vignette: dark outside a circle, or mildly darker corners.
    xs, ys = _grid(width, height)
    vx = width / 2 + rng.normal(0, 0.02) * width
    vy = height / 2 + rng.normal(0, 0.02) * height
    dist = np.hypot(xs - vx, ys - vy)
    if rng.random() < 0.8:
        radius = rng.uniform(0.5, 0.6) * width
        soft = rng.uniform(6.0, 14.0)
        shade = np.clip((radius - dist) * (1.0 / soft), 0.0, 1.0)
        shade = shade * shade * (3.0 - 2.0 * shade) * 0.95 + 0.04
    else:
        far = dist * (1.0 / float(np.hypot(width / 2, height / 2)))
        shade = 1.0 - rng.uniform(0.2, 0.45) * far**3
    img *= shade[..., None]

    # Sensor noise.
    ox, oy = rng.integers(0, _NOISE_PAD, 2)
    img += _noise_bank(width, height)[oy : oy + height, ox : ox + width] * rng.uniform(1.5, 3.5)
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8), mask_u8.astype(bool)


@functools.lru_cache(maxsize=16)
def _render_cached(
    seed: int, label: str, difficulty: float, width: int, height: int, ink: bool, ruler: bool
) -> tuple[np.ndarray, np.ndarray]:
    image, mask = _render(seed, label, difficulty, width, height, ink, ruler)
    image.flags.writeable = False
    mask.flags.writeable = False
    return image, mask


def render_lesion(
    *,
    seed: int,
    label: str,
    difficulty: float,
    native_size: tuple[int, int] = (200, 150),
    ink: bool = False,
    ruler: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic dermoscopy image and its lesion mask.

    Parameters
    ----------
    seed : int
        Non-negative image seed; the result is a pure function of the arguments.
    label : {"mel", "nv"}
        Class to draw.
    difficulty : float
        In [0, 1]; the chance that the lesion looks like the other class (see
        the module docstring).
    native_size : tuple of int
        ``(width, height)`` in pixels.
    ink, ruler : bool
        Draw the spurious ink / ruler artefact. The lesion and the rest of the
        scene are identical with and without them.

    Returns
    -------
    image : numpy.ndarray
        RGB ``uint8`` of shape (height, width, 3).
    mask : numpy.ndarray
        ``bool`` of shape (height, width), True on the lesion (artefacts excluded).
    """
    _check_render_args(seed, label, difficulty)
    width, height = _check_native_size(native_size)
    image, mask = _render_cached(
        int(seed), str(label), float(difficulty), width, height, bool(ink), bool(ruler)
    )
    return image.copy(), mask.copy()


def artefact_masks(*, ink: bool = False, ruler: bool = False,
                   **scene: Any) -> dict[str, np.ndarray]:
    """The pixels of each artefact :func:`render_lesion` draws with these arguments.

    Artefacts have their own random streams, so the image rendered without one artefact
    differs from the full image exactly where that artefact shows. Where two artefacts
    overlap the pixels belong to the one drawn last (the ruler covers ink); an artefact
    inside the dark vignette that rounds away to nothing has no pixels there.

    Parameters
    ----------
    ink, ruler : bool
        The artefacts drawn, as for :func:`render_lesion`.
    **scene
        ``seed``, ``label``, ``difficulty`` and ``native_size``: keyword arguments of
        :func:`render_lesion`, which checks them.

    Returns
    -------
    dict of str to numpy.ndarray
        One ``bool`` (height, width) mask per name in :data:`ARTEFACT_NAMES`; all False
        for an artefact that is not drawn.
    """
    on = {"ink": bool(ink), "ruler": bool(ruler)}
    full, _ = render_lesion(**scene, **on)
    out = {}
    for name in ARTEFACT_NAMES:
        if not on[name]:
            out[name] = np.zeros(full.shape[:2], bool)
            continue
        without, _ = render_lesion(**scene, **{**on, name: False})
        out[name] = (full != without).any(axis=-1)
    return out


def load_artefact_masks(
    dataset: Dataset, ids: list[str] | tuple[str, ...], *, size: int
) -> dict[str, np.ndarray]:
    """Artefact masks of synthetic images at ``size`` px.

    A pixel of the output is artefact when at least a quarter of its area is (nearest
    sampling, as for lesion masks, would drop a thin ink line when shrinking).

    Parameters
    ----------
    dataset : Dataset
        A synthetic data set (:func:`make_synthetic`).
    ids : sequence of str
        Image ids.
    size : int
        Side of the square output, as for :meth:`Dataset.load_masks`.

    Returns
    -------
    dict of str to numpy.ndarray
        For each name in :data:`ARTEFACT_NAMES`, ``bool`` (n, size, size).

    Raises
    ------
    ValueError
        ``dataset`` is not synthetic (only generated images have known artefact pixels).
    """
    if not isinstance(dataset.source, SyntheticSource):
        raise ValueError(f"artefact masks exist for synthetic data only, not {dataset.name!r}")
    rows = dataset.rows(list(ids))
    native = dataset.source.config.native_size
    out = {name: np.zeros((len(rows), size, size), bool) for name in ARTEFACT_NAMES}
    for k, (_, row) in enumerate(rows.iterrows()):
        flags = {name: bool(row.get(name, False)) for name in ARTEFACT_NAMES}
        if not any(flags.values()):
            continue
        masks = artefact_masks(seed=int(row["seed"]), label=str(row["dx"]),
                               difficulty=float(row["difficulty"]), native_size=native, **flags)
        for name, mask in masks.items():
            if mask.any():
                area = cv2.resize(mask.astype(np.float32), (size, size),
                                  interpolation=cv2.INTER_AREA)
                out[name][k] = area >= 0.25
    return out


# --------------------------------------------------------------------------- data set


class SyntheticSource:
    """Renders the pixels of a synthetic table row (an :class:`ImageSource`).

    A row needs ``seed``, ``dx``, ``difficulty`` and one boolean column per
    artefact in :data:`ARTEFACT_NAMES` (missing flags count as False). The last
    few renders are cached, so reading a row's image and then its mask renders
    once.

    Parameters
    ----------
    config : SyntheticConfig
        The generator parameters (for the image size and :meth:`describe`).
    """

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def _render_row(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        width, height = self.config.native_size
        difficulty = float(row["difficulty"]) if "difficulty" in row else self.config.difficulty
        flags = [bool(row[name]) if name in row else False for name in ARTEFACT_NAMES]
        return _render_cached(int(row["seed"]), str(row["dx"]), difficulty, width, height, *flags)

    def read_image(self, row: pd.Series) -> np.ndarray:
        """RGB ``uint8`` (H, W, 3) image of ``row``."""
        return self._render_row(row)[0].copy()

    def read_mask(self, row: pd.Series) -> np.ndarray:
        """Boolean (H, W) lesion mask of ``row``."""
        return self._render_row(row)[1].copy()

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable description (the config) to rebuild the source."""
        return {"kind": "synthetic", "config": self.config.to_dict()}


def _image_seed(master: int, split: str, position: int) -> int:
    state = np.random.SeedSequence(master, spawn_key=(_SPLIT_KEYS[split], position))
    lo, hi = (int(v) for v in state.generate_state(2, np.uint32))
    return ((hi & 0x1FFFFF) << 32) | lo  # 53 bits: exact in int64 and float64


def make_synthetic(config: SyntheticConfig | None = None, **overrides: Any) -> Dataset:
    """Build the synthetic data set.

    Parameters
    ----------
    config : SyntheticConfig, optional
        Generator parameters; defaults to ``SyntheticConfig()``.
    **overrides
        Fields of :class:`SyntheticConfig` replacing those of ``config``
        (``make_synthetic(n_train=100, seed=3)``).

    Returns
    -------
    Dataset
        ``name="synthetic"``. Rows: the hold-out first (``syn_000000`` ... in
        ``test_index`` order, melanomas then naevi), then the training pool with
        its labels shuffled. Besides the required columns the table has
        ``seed``, ``difficulty``, ``atypia`` (latent melanoma-likeness, see
        :func:`lesion_atypia`) and one boolean column per artefact name.
        ``has_mask`` is True everywhere; one image per lesion.

    Raises
    ------
    ValueError
        For invalid parameters.
    TypeError
        For an override that is not a config field.
    """
    config = config if config is not None else SyntheticConfig()
    if not isinstance(config, SyntheticConfig):
        raise TypeError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    if overrides:
        known = {f.name for f in fields(SyntheticConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown SyntheticConfig field(s): {unknown}; known: {sorted(known)}")
        config = replace(config, **overrides)

    half = config.n_test // 2
    n_mel_train = int(round(config.n_train * config.mel_fraction))
    train_dx = np.array(["mel"] * n_mel_train + ["nv"] * (config.n_train - n_mel_train))
    shuffle_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(2,)))
    train_dx = train_dx[shuffle_rng.permutation(config.n_train)]

    parts = []
    for split, dx in (("test", np.array(["mel"] * half + ["nv"] * half)), ("train", train_dx)):
        n = len(dx)
        seeds = [_image_seed(config.seed, split, k) for k in range(n)]
        flag_rng = np.random.default_rng(
            np.random.SeedSequence(config.seed, spawn_key=(3, _SPLIT_KEYS[split]))
        )
        draws = flag_rng.random((n, len(ARTEFACT_NAMES)))
        specs = config.artefact_specs(split)
        part = {
            "split": [split] * n,
            "dx": dx.astype(object),
            "test_index": np.arange(n) if split == "test" else np.full(n, -1),
            "seed": np.array(seeds, dtype=np.int64),
        }
        for j, name in enumerate(ARTEFACT_NAMES):
            spec = specs.get(name, ArtefactSpec())
            probs = np.where(dx == "mel", spec.p_mel, spec.p_nv)
            part[name] = draws[:, j] < probs
        parts.append(pd.DataFrame(part))

    table = pd.concat(parts, ignore_index=True)
    n_total = len(table)
    table.insert(0, "image_id", [f"syn_{i:06d}" for i in range(n_total)])
    table.insert(1, "lesion_id", [f"synles_{i:06d}" for i in range(n_total)])
    table["y"] = table["dx"].map(LABELS).astype(np.int64)
    table["test_index"] = table["test_index"].astype(np.int64)
    table["has_mask"] = True
    table["difficulty"] = config.difficulty
    table["atypia"] = [
        _draw_atypia(_rngs(int(s))[0], str(d), config.difficulty)
        for s, d in zip(table["seed"], table["dx"], strict=True)
    ]
    for name in ARTEFACT_NAMES:
        table[name] = table[name].astype(bool)
    columns = [
        "image_id",
        "lesion_id",
        "dx",
        "y",
        "split",
        "test_index",
        "has_mask",
        "seed",
        "difficulty",
        "atypia",
        *ARTEFACT_NAMES,
    ]
    table = table[columns]

    counts = {
        f"{split}/{dx}/{name}": int(
            table.loc[(table["split"] == split) & (table["dx"] == dx), name].sum()
        )
        for split in ("train", "test")
        for dx in ("mel", "nv")
        for name in ARTEFACT_NAMES
    }
    info = {"generator": "dermviz.data.synthetic", "artefact_counts": counts}
    return Dataset(name="synthetic", table=table, source=SyntheticSource(config), info=info)
