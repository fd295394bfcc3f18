"""The renderer: one dermoscopy-like image and its lesion mask from a few numbers.

Every image is a pure function of its seed, label, difficulty, size and the artefacts
drawn (about 3 ms per image at 200x150).

What is drawn
-------------
* skin-toned background with low-frequency colour variation and sensor noise,
  the dark circular vignette of a contact dermoscope and a few thin dark hairs;
* a **naevus**: a roughly symmetric ellipse-like blob with a smooth border and an
  even brown colour, darker in the middle;
* a **melanoma**: an asymmetric blob with an irregular border (a radial function
  with several random harmonics), several colours (dark brown, black, blue-grey,
  reddish and whitish regions) and dark dots/globules.

In the opt-in evidence mode the lesion is drawn naevus-like whatever the label, and the
class is drawn as local structures (:mod:`dermviz.data.synthetic.structures`), composited
after the lesion is painted, from the last stream: :func:`render_evidence` gives their
masks, :func:`render_counterfactual` the same scene without them.

How melanoma-like a lesion is drawn is one latent number, its *atypia*
``a`` in [0, 1] (:func:`lesion_atypia`). Naevi normally get ``a`` in [0, 0.25],
melanomas ``a`` in [0.6, 1]. With probability ``difficulty ** 2`` an image instead
gets ``a`` drawn uniformly from [0, 1], whatever its label, so at difficulty 0 the
classes are trivially separable, at difficulty 1 they are indistinguishable, and at
the default 0.5 about a quarter of the images are ambiguous (an ideal classifier is
right on roughly 88% of them).

Drawing on or around the lesion
-------------------------------
The scene is drawn in order: skin, lesion, hairs, the artefacts in the order of
:data:`~dermviz.data.synthetic.config.ARTEFACT_NAMES`, vignette, sensor noise. A
structure drawn on or beside the lesion is a function ``(rng, img, lesion)`` that
reads where the lesion lies from a :class:`Lesion` (its mask, centre, radii and
bounding box), draws its coverage into a ``uint8`` layer and blends it with
:func:`~dermviz.data.synthetic.drawing.blend_layer`. Each switchable structure draws
from its own random stream (:func:`_streams`: streams are only ever appended, so adding
one leaves every existing image unchanged); switching it on then changes only its own
pixels, and rendering with and without it gives its exact mask (see
:func:`dermviz.data.synthetic.artefacts.artefact_masks`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from dermviz.data.synthetic.config import (
    ARTEFACT_NAMES,
    check_native_size,
    check_render_args,
)
from dermviz.data.synthetic.drawing import (
    blend_layer,
    composite,
    grid_shape,
    pixel_grid,
    smooth_field,
)
from dermviz.data.synthetic.structures import (
    FAMILY_NAMES,
    STRUCTURE_NAMES,
    check_families,
    draw_structures,
    plan_structures,
)

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


@dataclass(frozen=True, eq=False)
class Lesion:
    """Where the lesion lies in the image: what a structure drawn on or near it reads.

    Attributes
    ----------
    mask : numpy.ndarray
        ``uint8`` (height, width), 1 on the lesion.
    cx, cy : float
        Centre of the outline, in pixels.
    radii : numpy.ndarray
        Radius of the outline at evenly spaced angles from the centre.
    box : tuple of slice
        ``(rows, columns)`` of the bounding box with an 8 px margin, clipped to the image.
    """

    mask: np.ndarray
    cx: float
    cy: float
    radii: np.ndarray
    box: tuple[slice, slice]


#: A structure drawn into the image in place, from its own stream, around a lesion.
Drawer = Callable[[np.random.Generator, np.ndarray, Lesion], None]


def _streams(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent streams: the scene first, then one per artefact name, then the
    evidence structures'.

    Spawned children depend only on their position, so a stream appended for a new
    structure leaves the seeds of the earlier ones (and their pixels) unchanged.
    """
    children = np.random.SeedSequence(seed).spawn(1 + len(ARTEFACT_NAMES) + 1)
    return tuple(np.random.default_rng(c) for c in children)


#: Evidence modes of a render: the default scene, or the evidence mode's lesion with its
#: structures ("on") or without them ("removed", the counterfactual).
EVIDENCE_MODES = ("off", "on", "removed")
#: Atypia of every lesion in the evidence mode: naevus-like, whatever the label.
_EVIDENCE_ATYPIA = 0.3


def _draw_atypia(
    rng: np.random.Generator, label: str, difficulty: float, evidence: bool = False
) -> float:
    """Latent melanoma-likeness; always consumes three draws.

    In the evidence mode it ignores the label: both classes get the same naevus-like
    lesions, and the class lives in the structures only.
    """
    u_mix, u_any, u_own = rng.random(3)
    if evidence:
        return float(_EVIDENCE_ATYPIA * u_any)
    if u_mix < difficulty**2:
        return float(u_any)
    if label == "mel":
        return float(0.6 + 0.4 * u_own)
    return float(0.25 * u_own)


def lesion_atypia(*, seed: int, label: str, difficulty: float, evidence: bool = False) -> float:
    """How melanoma-like :func:`render_lesion` draws this lesion (0 = naevus-like).

    Parameters
    ----------
    seed : int
        Image seed.
    label : {"mel", "nv"}
        True class.
    difficulty : float
        In [0, 1].
    evidence : bool
        The evidence mode: the atypia is drawn from [0, 0.3] whatever the label.

    Returns
    -------
    float
        The latent atypia in [0, 1] that drives shape asymmetry, border
        irregularity, colour variety and dots.
    """
    check_render_args(seed, label, difficulty)
    return _draw_atypia(_streams(seed)[0], label, float(difficulty), bool(evidence))


def evidence_structures(*, seed: int, label: str,
                        families: tuple[str, ...] = FAMILY_NAMES) -> tuple[str, ...]:
    """Names of the structures the evidence mode draws on this image (cheap: no pixels).

    Parameters
    ----------
    seed : int
        Image seed.
    label : {"mel", "nv"}
        True class: melanoma-specific structures for ``"mel"``, benign look-alikes for
        ``"nv"`` (:mod:`dermviz.data.synthetic.structures`).
    families : tuple of str
        The families drawn from (:data:`~dermviz.data.synthetic.structures.FAMILY_NAMES`).

    Returns
    -------
    tuple of str
        One or two names from :data:`~dermviz.data.synthetic.structures.STRUCTURE_NAMES`.
    """
    check_render_args(seed, label, 0.0)
    return plan_structures(_streams(seed)[-1], label, families)  # it checks the families


def _skin(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Pink-to-orange skin with gentle low-frequency variation, float32 (H, W, 3)."""
    pink, orange = np.array((232, 168, 162), np.float32), np.array((218, 158, 118), np.float32)
    skin = (pink + (orange - pink) * rng.random()) * rng.uniform(0.82, 1.04)
    gw, gh = grid_shape(width, height, 4)
    small = (
        skin
        + rng.standard_normal((gh, gw, 3)) * rng.uniform(1.5, 4.0)
        + rng.standard_normal((gh, gw, 1)) * rng.uniform(4.0, 10.0)
    )
    return cv2.resize(small.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)


def _lesion_outline(
    rng: np.random.Generator, atypia: float, width: int, height: int, evidence: bool = False
) -> tuple[np.ndarray, float, float, np.ndarray]:
    """Polygon (N, 2) of a radial-function blob, its centre and radii.

    In the evidence mode the lesion covers 30-50% of the image (10-42% otherwise) and
    sits nearer the centre: larger structures, as in a dermoscope's close framing.
    """
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
    if evidence:  # the same draw, mapped onto the evidence mode's range
        frac = 0.30 + 0.20 * (frac - 0.10) / 0.32
    shift = (0.05, 0.10) if evidence else (0.07, 0.15)
    mean_sq = float(np.mean(shape**2))
    radius = np.sqrt(frac * width * height / (np.pi * mean_sq))
    cx = width / 2 + np.clip(rng.normal(0, shift[0]), -shift[1], shift[1]) * width
    cy = height / 2 + np.clip(rng.normal(0, shift[0]), -shift[1], shift[1]) * height
    r = radius * shape
    pts = np.stack([cx + r * np.cos(theta), cy + r * np.sin(theta)], axis=1)
    return pts, float(cx), float(cy), r


def _place_lesion(rng: np.random.Generator, atypia: float, width: int, height: int,
                  evidence: bool = False) -> Lesion:
    """Draw an outline and rasterise it: the mask and the drawing share one polygon."""
    pts, cx, cy, r = _lesion_outline(rng, atypia, width, height, evidence)
    mask_u8 = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask_u8, [np.round(pts * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    pad = 8
    x0 = max(int(np.floor(pts[:, 0].min())) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad + 1, width)
    y0 = max(int(np.floor(pts[:, 1].min())) - pad, 0)
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad + 1, height)
    return Lesion(mask=mask_u8, cx=cx, cy=cy, radii=r, box=(slice(y0, y1), slice(x0, x1)))


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
    shade *= 1.0 + 0.08 * smooth_field(rng, w, h, 7)
    pigment = base + (core - base) * shade[..., None]

    # Pigment network: zero-crossings of a mid-frequency field; patchy when atypical.
    cells = max(3, round(2.0 * mean_r / rng.uniform(3.0, 4.5)))
    net = smooth_field(rng, w, h, cells)
    net = np.exp(-((net * rng.uniform(1.3, 2.0)) ** 2))
    strength = rng.uniform(0.06, 0.16) * (1.0 + 0.8 * a)
    if a > 0.3:
        net *= np.clip(0.6 + smooth_field(rng, w, h, 4), 0.0, 1.5)
    pigment *= (1.0 - strength * net)[..., None]

    # Extra colour regions: their number and extent grow with atypia.
    n_extra = int(np.clip(np.floor(a * 4.2 + rng.uniform(-0.4, 0.4)), 0, 4))
    if n_extra:
        # Blue-grey, black, red and white only come with real atypia.
        s = float(np.clip((a - 0.25) / 0.35, 0.02, 1.0))
        odds = _MEL_COLOUR_ODDS * np.where(_MEL_COLOUR_ATYPICAL, s, 1.0)
        odds /= odds.sum()
        pick = rng.choice(len(_MEL_COLOURS), size=n_extra, replace=False, p=odds)
        fields_ = smooth_field(rng, w, h, 5, n_extra + 1)
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
        composite(pigment, dot_alpha, dot_colour)

    # Blend over the skin: soft edge, fainter towards the periphery.
    edge_sigma = rng.uniform(1.0, 2.2) * (1.0 - 0.45 * a)
    alpha = cv2.GaussianBlur(mask_u8.astype(np.float32), (0, 0), edge_sigma)
    alpha *= 0.74 + 0.22 * np.minimum(depth * 2.5, 1.0)
    composite(img, alpha, pigment)


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
    blend_layer(img, layer, _HAIR, 1.0)


def _draw_ink(rng: np.random.Generator, img: np.ndarray, lesion: Lesion) -> None:
    """A purple/blue marker circle around the lesion, or a few pen dots near it."""
    height, width = img.shape[:2]
    mask, cx, cy = lesion.mask, lesion.cx, lesion.cy
    layer = np.zeros((height, width), np.uint8)
    colour = _INKS[rng.integers(len(_INKS))]
    reach = float(lesion.radii.max())
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
    blend_layer(img, layer, colour, rng.uniform(0.6, 0.85))


def _draw_ruler(rng: np.random.Generator, img: np.ndarray, lesion: Lesion) -> None:
    """A scale strip with tick marks along one edge (wherever the lesion is)."""
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


#: The drawer of each artefact, in drawing order (a later one covers an earlier one).
_ARTEFACT_DRAWERS: dict[str, Drawer] = dict(
    zip(ARTEFACT_NAMES, (_draw_ink, _draw_ruler), strict=True)
)


def _vignette(rng: np.random.Generator, img: np.ndarray) -> None:
    """Dermoscope vignette, in place: dark outside a circle, or mildly darker corners."""
    height, width = img.shape[:2]
    xs, ys = pixel_grid(width, height)
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


@functools.lru_cache(maxsize=4)
def _noise_bank(width: int, height: int) -> np.ndarray:
    """A fixed tile of sensor noise; each image reads it at a random offset."""
    rng = np.random.default_rng(0x5EED)
    return rng.standard_normal((height + _NOISE_PAD, width + _NOISE_PAD, 3), dtype=np.float32)


def _sensor_noise(rng: np.random.Generator, img: np.ndarray) -> None:
    height, width = img.shape[:2]
    ox, oy = rng.integers(0, _NOISE_PAD, 2)
    img += _noise_bank(width, height)[oy : oy + height, ox : ox + width] * rng.uniform(1.5, 3.5)


def _draw_evidence(
    rng: np.random.Generator, img: np.ndarray, lesion: Lesion, label: str, difficulty: float,
    families: tuple[str, ...],
) -> np.ndarray:
    """Composite the evidence structures over the painted lesion, in place.

    Returns the structures' masks, bool (len(STRUCTURE_NAMES), H, W): where each
    structure's blend weight is non-zero. The difficulty fades every structure (opacity
    times ``1 - 0.5 * difficulty``).
    """
    names = plan_structures(rng, label, families)
    masks = np.zeros((len(STRUCTURE_NAMES), *img.shape[:2]), bool)
    drawn = draw_structures(rng, names, lesion.mask[lesion.box], float(lesion.radii.mean()),
                            strength=1.0 - 0.5 * difficulty)
    view = img[lesion.box]
    for structure in drawn:
        composite(view, structure.weight, structure.colour)
        masks[STRUCTURE_NAMES.index(structure.name)][lesion.box] |= structure.weight > 0
    return masks


def _render(
    seed: int, label: str, difficulty: float, width: int, height: int, artefacts: frozenset[str],
    evidence: str = "off", families: tuple[str, ...] = FAMILY_NAMES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng, *artefact_rngs, evidence_rng = _streams(seed)
    a = _draw_atypia(rng, label, difficulty, evidence != "off")
    img = _skin(rng, width, height)
    lesion = _place_lesion(rng, a, width, height, evidence != "off")
    _paint_lesion(rng, img[lesion.box], lesion.mask[lesion.box], a, float(lesion.radii.mean()))
    if evidence == "on":
        structures = _draw_evidence(evidence_rng, img, lesion, label, difficulty, families)
    else:
        structures = np.zeros((0 if evidence == "off" else len(STRUCTURE_NAMES),
                               height, width), bool)
    _draw_hairs(rng, img, width, height)
    for name, stream in zip(ARTEFACT_NAMES, artefact_rngs, strict=True):
        if name in artefacts:
            _ARTEFACT_DRAWERS[name](stream, img, lesion)
    _vignette(rng, img)
    _sensor_noise(rng, img)
    np.clip(img, 0.0, 255.0, out=img)
    return img.astype(np.uint8), lesion.mask.astype(bool), structures


@functools.lru_cache(maxsize=16)
def render_cached(
    seed: int, label: str, difficulty: float, width: int, height: int, artefacts: frozenset[str],
    evidence: str = "off", families: tuple[str, ...] = FAMILY_NAMES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`render_lesion` of checked arguments, as read-only arrays shared by callers.

    The last few renders are cached, so reading an image and then its mask renders
    once. ``artefacts`` holds the names (from ``ARTEFACT_NAMES``) drawn; ``evidence`` is
    one of :data:`EVIDENCE_MODES`; ``families`` the evidence families drawn from.
    Returns the image, the lesion mask and the structure masks (bool, one per name in
    ``STRUCTURE_NAMES``; none in the mode ``"off"``, all False in ``"removed"``). Callers
    copy what they hand out.
    """
    if evidence not in EVIDENCE_MODES:
        raise ValueError(f"evidence must be one of {EVIDENCE_MODES}, got {evidence!r}")
    out = _render(seed, label, difficulty, width, height, artefacts, evidence, families)
    for array in out:
        array.flags.writeable = False
    return out


def render_lesion(
    *,
    seed: int,
    label: str,
    difficulty: float,
    native_size: tuple[int, int] = (200, 150),
    ink: bool = False,
    ruler: bool = False,
    evidence: bool = False,
    families: tuple[str, ...] = FAMILY_NAMES,
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
        :mod:`dermviz.data.synthetic.renderer`).
    native_size : tuple of int
        ``(width, height)`` in pixels.
    ink, ruler : bool
        Draw the spurious ink / ruler artefact. The lesion and the rest of the
        scene are identical with and without them.
    evidence : bool
        The evidence mode: a label-free lesion carrying its class's structures
        (:func:`render_evidence` also returns their masks).
    families : tuple of str
        The evidence mode's families (:data:`~dermviz.data.synthetic.structures.FAMILY_NAMES`).

    Returns
    -------
    image : numpy.ndarray
        RGB ``uint8`` of shape (height, width, 3).
    mask : numpy.ndarray
        ``bool`` of shape (height, width), True on the lesion (artefacts excluded).
    """
    image, mask, _ = _render_checked(seed, label, difficulty, native_size, ink, ruler,
                                     "on" if evidence else "off", families)
    return image.copy(), mask.copy()


def _render_checked(
    seed: int, label: str, difficulty: float, native_size: tuple[int, int], ink: bool,
    ruler: bool, evidence: str, families: tuple[str, ...] = FAMILY_NAMES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    check_render_args(seed, label, difficulty)
    width, height = check_native_size(native_size)
    drawn = frozenset(name for name, on in (("ink", ink), ("ruler", ruler)) if on)
    return render_cached(int(seed), str(label), float(difficulty), width, height, drawn,
                         evidence, check_families(families))


def render_evidence(
    *,
    seed: int,
    label: str,
    difficulty: float,
    native_size: tuple[int, int] = (200, 150),
    ink: bool = False,
    ruler: bool = False,
    counterfactual: bool = False,
    families: tuple[str, ...] = FAMILY_NAMES,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Render an evidence-mode image, its lesion mask and its structures' masks.

    Parameters
    ----------
    seed, label, difficulty, native_size, ink, ruler
        As for :func:`render_lesion`; the difficulty fades the structures (opacity
        times ``1 - 0.5 * difficulty``).
    counterfactual : bool
        Render the same scene without its structures: the same seed, lesion, hairs,
        artefacts, vignette and noise. It equals the image bit for bit outside the
        evidence mask.
    families : tuple of str
        The families the structures are drawn from
        (:data:`~dermviz.data.synthetic.structures.FAMILY_NAMES`).

    Returns
    -------
    image : numpy.ndarray
        RGB ``uint8`` (height, width, 3).
    mask : numpy.ndarray
        ``bool`` (height, width) lesion mask (the same with and without the evidence).
    structures : dict of str to numpy.ndarray
        For each name in :data:`~dermviz.data.synthetic.structures.STRUCTURE_NAMES`, a
        ``bool`` (height, width) mask: where that structure's blend weight is non-zero
        (all False for a structure not drawn, and for every one in a counterfactual).
        Their union is the image's *evidence mask*. The image differs from its
        counterfactual only inside it; inside, a pixel can keep its counterfactual value
        where the weight is too small to move it by a grey level after the vignette, or
        where a hair covers it.
    """
    image, mask, masks = _render_checked(seed, label, difficulty, native_size, ink, ruler,
                                         "removed" if counterfactual else "on", families)
    structures = {name: m.copy() for name, m in zip(STRUCTURE_NAMES, masks, strict=True)}
    return image.copy(), mask.copy(), structures


def render_counterfactual(**scene: object) -> tuple[np.ndarray, np.ndarray]:
    """The evidence-mode image of ``scene`` with its evidence removed: image and lesion mask.

    ``scene`` holds the keyword arguments of :func:`render_evidence` (without
    ``counterfactual``).
    """
    image, mask, _ = render_evidence(**scene, counterfactual=True)  # type: ignore[arg-type]
    return image, mask
