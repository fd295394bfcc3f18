"""The evidence mode's dermoscopic structures: melanoma-specific ones and benign look-alikes.

In the evidence mode (:attr:`SyntheticConfig.evidence
<dermviz.data.synthetic.config.SyntheticConfig>`) the lesion itself is drawn the same way
for both classes, and the class lives only in a few local structures. Each structure
belongs to a *family* that has a melanoma-specific member, from the 7-point checklist
(Argenziano et al. 1998), and a benign look-alike of about the same colour and coverage,
placed in the same kind of region:

==============  ======================  =====================  ===========================
family          melanoma                naevus                 region
==============  ======================  =====================  ===========================
``network``     ``atypical_network``    ``regular_network``    a patch in the lesion
``globules``    ``irregular_globules``  ``regular_globules``   a patch in the lesion
``blue_area``   ``blue_whitish_veil``   ``homogeneous_blue``   a patch in the lesion
``blotch``      ``irregular_blotch``    ``regular_blotch``     a patch in the lesion
``rim``         ``irregular_streaks``   ``peripheral_globules`` a sector of the border
==============  ======================  =====================  ===========================

So the presence of "some structure", its colour, its size and its place tell the classes
apart no better than chance; its *regularity* does. Every image carries one or two
structures of distinct families, drawn with the same odds for both classes, from the
families a data set allows (:data:`FAMILY_NAMES` by default; the demo's
:data:`COARSE_FAMILIES`).

The blue area and the blotch differ in outline, a ragged patch against a round one, at
the scale of the patch; the others differ in fine texture (a line's path, a dot's size).
A network trained from scratch for a hundred steps learns the first kind and not the
second (``docs/evidence-benchmark.md``, "Learnability"), so the demo draws the coarse
families only.

A structure is returned as a blend weight (float32 in [0, 1], zero off the lesion and
below :data:`MIN_WEIGHT`) and a colour (one RGB triple or an RGB image); the renderer
composites it over the painted lesion. Its pixels (its *mask*) are where its weight is
non-zero. Sizes are relative to the lesion's mean radius, so a structure looks alike at
every image size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dermviz.data.dataset import LABELS
from dermviz.data.synthetic.drawing import smooth_field

#: (melanoma-specific, benign look-alike, region kind) of each family.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("atypical_network", "regular_network", "patch"),
    ("irregular_globules", "regular_globules", "patch"),
    ("blue_whitish_veil", "homogeneous_blue", "patch"),
    ("irregular_blotch", "regular_blotch", "patch"),
    ("irregular_streaks", "peripheral_globules", "rim"),
)
#: The families' names, in :data:`FAMILIES` order: what ``SyntheticConfig.evidence_families``
#: chooses from.
FAMILY_NAMES: tuple[str, ...] = ("network", "globules", "blue_area", "blotch", "rim")
#: The families told apart by their outline at the scale of the patch (the demo's).
COARSE_FAMILIES: tuple[str, ...] = ("blue_area", "blotch")
#: Melanoma-specific structures (7-point checklist), in family order.
MEL_STRUCTURES: tuple[str, ...] = tuple(f[0] for f in FAMILIES)
#: Benign look-alikes, in family order.
NV_STRUCTURES: tuple[str, ...] = tuple(f[1] for f in FAMILIES)
#: Every structure name: the order of the per-structure masks.
STRUCTURE_NAMES: tuple[str, ...] = MEL_STRUCTURES + NV_STRUCTURES
#: Blend weights below this are dropped, so a mask holds no invisible blur tail.
MIN_WEIGHT = 0.02

_FAMILY_ODDS = np.array([0.22, 0.22, 0.21, 0.19, 0.16])
# Black and near-black: dark brown on a brown lesion is too faint to learn at 96 px.
_DARK = np.array([(40, 30, 32), (34, 26, 28)], np.float32)
_BLOTCH = np.array((38, 26, 26), np.float32)
_BLOTCH_LIGHT = np.array((72, 48, 40), np.float32)
#: Patch radius and the fine structures' scale, relative to the lesion's mean radius.
_PATCH_RADIUS = (0.35, 0.55)
_FEATURE_SCALE = 1.5
_BLUE_GREY = np.array((92, 106, 140), np.float32)
_WHITISH = np.array((196, 196, 214), np.float32)


@dataclass(frozen=True, eq=False)
class Structure:
    """One drawn structure, inside the lesion's bounding box.

    Attributes
    ----------
    name : str
        From :data:`STRUCTURE_NAMES`.
    weight : numpy.ndarray
        float32 (h, w) blend weight in [0, 1]; 0 off the lesion and below :data:`MIN_WEIGHT`.
    colour : numpy.ndarray
        float32 RGB, (3,) or (h, w, 3).
    """

    name: str
    weight: np.ndarray
    colour: np.ndarray


def check_families(families: object) -> tuple[str, ...]:
    """``families`` as a tuple of distinct names from :data:`FAMILY_NAMES` (at least one)."""
    if isinstance(families, str) or not isinstance(families, (tuple, list)):
        raise ValueError(f"evidence families must be a list of names from {list(FAMILY_NAMES)},"
                         f" got {families!r}")
    out = tuple(str(f) for f in families)
    unknown = [f for f in out if f not in FAMILY_NAMES]
    if unknown or not out or len(set(out)) != len(out):
        raise ValueError(f"evidence families must be distinct names from {list(FAMILY_NAMES)}, "
                         f"at least one; got {list(out)}")
    return tuple(f for f in FAMILY_NAMES if f in out)


def plan_structures(rng: np.random.Generator, label: str,
                    families: tuple[str, ...] = FAMILY_NAMES) -> tuple[str, ...]:
    """Names of the structures an image of class ``label`` carries (1 or 2 families,
    from ``families``).

    Consumes the same draws for both classes, so the number of structures and their
    families have one distribution whatever the label.
    """
    if label not in LABELS:
        raise ValueError(f"label must be one of {sorted(LABELS)}, got {label!r}")
    allowed = [FAMILY_NAMES.index(f) for f in check_families(families)]
    odds = _FAMILY_ODDS[allowed] / _FAMILY_ODDS[allowed].sum()
    n = min(1 + int(rng.random() < 0.4), len(allowed))
    chosen = rng.choice(allowed, size=n, replace=False, p=odds)
    column = 0 if label == "mel" else 1
    return tuple(FAMILIES[int(k)][column] for k in chosen)


def draw_structures(
    rng: np.random.Generator, names: tuple[str, ...], mask: np.ndarray, mean_r: float,
    *, strength: float,
) -> list[Structure]:
    """Draw the named structures inside ``mask`` (the lesion's bounding box, uint8).

    ``strength`` in (0, 1] scales every structure's opacity. The place and size of a
    structure are drawn before its look, with the same odds for both classes.
    """
    h, w = mask.shape
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for name in names:
        family = next(k for k, f in enumerate(FAMILIES) if name in f[:2])
        irregular = name in MEL_STRUCTURES
        opacity = rng.uniform(0.7, 0.95) * strength
        if FAMILIES[family][2] == "patch":
            region = _patch(rng, mask, depth, mean_r, xs, ys)
        else:
            region = _rim(rng, mask, depth, mean_r, xs, ys)
        draw = (_network, _globules, _blue_area, _blotch, _rim_marks)[family]
        weight, colour = draw(rng, region, irregular, mean_r, xs, ys)
        weight = weight * (opacity * (mask > 0))
        weight[weight < MIN_WEIGHT] = 0.0
        out.append(Structure(name, weight.astype(np.float32), colour))
    return out


@dataclass(frozen=True)
class _Region:
    """Where a structure goes: a soft (h, w) support in [0, 1] and its geometry."""

    support: np.ndarray
    cx: float
    cy: float
    radius: float
    kind: str
    lesion_cx: float = 0.0
    lesion_cy: float = 0.0
    angle: float = 0.0
    span: float = 0.0


def _patch(rng: np.random.Generator, mask: np.ndarray, depth: np.ndarray, mean_r: float,
           xs: np.ndarray, ys: np.ndarray) -> _Region:
    """A disc at a random place inside the lesion, 35-55% of its mean radius."""
    radius = max(3.0, rng.uniform(*_PATCH_RADIUS) * mean_r)
    deep = np.flatnonzero(depth.ravel() >= min(0.6 * radius, 0.8 * float(depth.max())))
    pick = int(deep[int(rng.integers(deep.size))])
    cy, cx = divmod(pick, mask.shape[1])
    support = np.clip(radius + 0.5 - np.hypot(xs - cx, ys - cy), 0.0, 1.0)
    return _Region(support, float(cx), float(cy), float(radius), "patch")


def _rim(rng: np.random.Generator, mask: np.ndarray, depth: np.ndarray, mean_r: float,
         xs: np.ndarray, ys: np.ndarray) -> _Region:
    """A sector of the lesion's border band, 60-110 degrees wide and 40% of its radius deep."""
    m = cv2.moments(mask, binaryImage=True)
    lcx, lcy = m["m10"] / max(m["m00"], 1.0), m["m01"] / max(m["m00"], 1.0)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    span = np.deg2rad(rng.uniform(60.0, 110.0))
    off = np.angle(np.exp(1j * (np.arctan2(ys - lcy, xs - lcx) - angle)))
    band = np.clip(0.4 * mean_r + 0.5 - depth, 0.0, 1.0) * (mask > 0)
    support = band * np.clip((span / 2 - np.abs(off)) * mean_r + 0.5, 0.0, 1.0)
    return _Region(support.astype(np.float32), lcx, lcy, 0.4 * mean_r, "rim", lcx, lcy,
                   float(angle), float(span))


def _network(rng: np.random.Generator, region: _Region, irregular: bool, mean_r: float,
             xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A grid of pigment lines: even holes and thin lines, or uneven, thick and broken."""
    mean_r = mean_r * _FEATURE_SCALE
    h, w = xs.shape
    period = max(3.0, rng.uniform(0.16, 0.22) * mean_r)
    turn = rng.uniform(0.0, np.pi)
    u = np.cos(turn) * xs + np.sin(turn) * ys
    v = -np.sin(turn) * xs + np.cos(turn) * ys
    warp = smooth_field(rng, w, h, 5, 2) * (0.45 * period)
    thickness = np.full((h, w), 0.32, np.float32)
    if irregular:
        u, v = u + warp[..., 0], v + warp[..., 1]
        thickness = np.clip(0.42 + 0.22 * smooth_field(rng, w, h, 6), 0.15, 0.8)
    lines = np.maximum(np.abs(np.cos(np.pi * u / period)), np.abs(np.cos(np.pi * v / period)))
    weight = np.clip((lines - (1.0 - thickness)) / np.maximum(thickness, 1e-3), 0.0, 1.0)
    if irregular:  # broken segments
        weight *= np.clip(1.2 + 1.5 * smooth_field(rng, w, h, 8), 0.0, 1.0)
    colour = _DARK[int(rng.integers(2))]
    return (weight * region.support).astype(np.float32), colour


def _dots(layer: np.ndarray, xs_: np.ndarray, ys_: np.ndarray, radii: np.ndarray) -> None:
    for x, y, rad in zip(xs_, ys_, radii, strict=True):
        cv2.circle(layer, (round(x * 16), round(y * 16)), max(round(rad * 16), 8), 255, -1,
                   cv2.LINE_AA, 4)


def _globules(rng: np.random.Generator, region: _Region, irregular: bool, mean_r: float,
              xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round dots: one size on a jittered lattice, or scattered and of many sizes."""
    mean_r = mean_r * _FEATURE_SCALE
    h, w = xs.shape
    size = max(0.8, rng.uniform(0.05, 0.07) * mean_r)
    gap = 3.2 * size
    k = int(np.ceil(region.radius / gap))
    gx, gy = np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1))
    px = region.cx + gap * (gx + 0.5 * (gy % 2)).ravel()
    py = region.cy + gap * 0.87 * gy.ravel()
    n = px.size
    if irregular:  # as many dots, scattered over the disc, sizes 0.5x to 2x
        r = region.radius * np.sqrt(rng.random(n))
        t = rng.uniform(0.0, 2.0 * np.pi, n)
        px, py = region.cx + r * np.cos(t), region.cy + r * np.sin(t)
        radii = size * np.exp(rng.uniform(np.log(0.5), np.log(1.6), n))
    else:
        px = px + rng.normal(0.0, 0.12 * gap, n)
        py = py + rng.normal(0.0, 0.12 * gap, n)
        radii = np.full(n, size)
    layer = np.zeros((h, w), np.uint8)
    _dots(layer, px, py, radii)
    weight = layer.astype(np.float32) * (1.0 / 255.0)
    colour = _DARK[int(rng.integers(2))]
    return weight * (region.support > 0.5), colour


def _outlined_patch(rng: np.random.Generator, region: _Region, irregular: bool,
                    xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The blend weight of a filled patch: a ragged outline, or the region's round disc
    (the blue area's and the blotch's shared geometry)."""
    h, w = xs.shape
    dist = np.hypot(xs - region.cx, ys - region.cy) / region.radius
    ragged = smooth_field(rng, w, h, max(4, round(4 * w / max(region.radius, 1.0))))
    edge = 1.0 + 0.35 * ragged - dist if irregular else 1.0 - dist
    return np.clip(edge * region.radius * 0.5, 0.0, 1.0) * 0.9


def _blue_area(rng: np.random.Generator, region: _Region, irregular: bool, mean_r: float,
               xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blue-grey pigment with whitish mottling: a round blot, or a ragged veil."""
    h, w = xs.shape
    weight = _outlined_patch(rng, region, irregular, xs, ys)
    mottle = smooth_field(rng, w, h, max(6, round(8 * w / max(region.radius, 1.0))))
    white = rng.uniform(0.2, 0.4)
    # one colour spread for both: the outline, not the colour, tells the veil apart
    shade = np.clip(white + 0.25 * mottle, 0.0, 0.8)[..., None]
    colour = _BLUE_GREY + (_WHITISH - _BLUE_GREY) * shade
    return weight.astype(np.float32), colour.astype(np.float32)


def _rim_marks(rng: np.random.Generator, region: _Region, irregular: bool, mean_r: float,
               xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At the border: radial streaks of uneven length and angle, or a row of even globules."""
    mean_r = mean_r * _FEATURE_SCALE
    h, w = xs.shape
    n = int(rng.integers(5, 10))
    offsets = (np.arange(n) + 0.5) / n - 0.5
    layer = np.zeros((h, w), np.uint8)
    reach = 1.2 * mean_r
    if irregular:
        angles = region.angle + region.span * (offsets + rng.uniform(-0.4, 0.4, n) / n)
        lengths = reach * rng.uniform(0.5, 1.1, n)
        for a, length in zip(angles, lengths, strict=True):
            bend = rng.normal(0.0, 0.15)
            ts = np.linspace(0.55, 1.0, 8) * length
            px = region.lesion_cx + ts * np.cos(a + bend * np.linspace(0, 1, 8))
            py = region.lesion_cy + ts * np.sin(a + bend * np.linspace(0, 1, 8))
            pts = np.round(np.stack([px, py], 1) * 16).astype(np.int32)
            thick = max(1, round(rng.uniform(0.03, 0.07) * mean_r))
            cv2.polylines(layer, [pts], False, 255, thick, cv2.LINE_AA, shift=4)
    else:
        angles = region.angle + region.span * offsets
        size = max(0.8, rng.uniform(0.05, 0.07) * mean_r)
        # each globule just inside the border along its ray
        px, py = [], []
        for a in angles:
            ts = np.linspace(0.2, reach, 64)
            cx, cy = region.lesion_cx + ts * np.cos(a), region.lesion_cy + ts * np.sin(a)
            inside = region.support[np.clip(np.round(cy).astype(int), 0, h - 1),
                                    np.clip(np.round(cx).astype(int), 0, w - 1)] > 0.5
            if inside.any():
                j = int(np.flatnonzero(inside)[-1])
                back = max(j - int(np.ceil(size / (ts[1] - ts[0]))), 0)
                px.append(cx[back])
                py.append(cy[back])
        _dots(layer, np.array(px), np.array(py), np.full(len(px), size))
    weight = layer.astype(np.float32) * (1.0 / 255.0)
    colour = _DARK[int(rng.integers(2))]
    return weight * (region.support > 0), colour


def _blotch(rng: np.random.Generator, region: _Region, irregular: bool, mean_r: float,
            xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dark structureless pigment: a ragged off-centre blotch, or a round one (a naevus's
    regular blotch). The outline, not the colour, tells them apart, as for the blue area."""
    weight = _outlined_patch(rng, region, irregular, xs, ys)
    colour = _BLOTCH + (_BLOTCH_LIGHT - _BLOTCH) * rng.uniform(0.0, 0.25)
    return weight.astype(np.float32), colour.astype(np.float32)
