"""Which arithmetic a member runs in: float32 or bfloat16, with or without XLA, by measurement.

A member is saved in float32. Before it explains, embeds or scores images, it may run as a
bfloat16 twin (:func:`dermviz.models.precision.precision_twin`) and/or under XLA
(``jit_compile``), where that is faster on this CPU *and* agrees with float32:

1. **Speed** is a property of the CPU, the TensorFlow build, the architecture and the
   image size, not of the weights: the four candidates' forward passes are timed once
   (milliseconds per image, best of a few passes) and kept in the choice cache under the
   CPU model, TensorFlow version, image size, layer and architecture (:func:`speed_key`).
2. **Agreement** is a property of the trained weights: a candidate may stand in for
   float32 only when p(melanoma) on a fixed probe batch (the suite's first hold-out
   images) stays within :data:`TOLERANCE` (1e-3) of float32's and, where the suite names
   a layer, its GradCAM maps keep SSIM >= :data:`MAP_SSIM` (0.99) against float32's.
   Only candidates at least :data:`MIN_GAIN` times faster than float32 are considered,
   fastest first; the first that agrees is the member's choice, kept beside the
   timings under the member's identity (:func:`member_key`). float32 agrees with itself,
   so the choice falls back to it: never slower than float32, never further from it than
   the tolerance. Candidates slower than float32 are never checked.

``DERMVIZ_PRECISION`` (``float32``, ``bfloat16`` or ``auto``, the default) or a command's
``--precision`` flag overrides the measurement; a forced bfloat16 is still checked against
float32 on the probe batch and its disagreement is reported (:class:`PrecisionChoice`),
not hidden. The cache folder is ``DERMVIZ_PRECISION_CACHE``, else
``~/.cache/dermviz/precision``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermviz.models.precision import PRECISIONS, precision_twin
from dermviz.models.predict import JIT_ATTRIBUTE, forward_fn, is_jit  # noqa: F401 - is_jit: for callers
from dermviz.models.records import cpu_info
from dermviz.store import read_json, write_json

#: What ``--precision`` and ``DERMVIZ_PRECISION`` accept.
MODES = ("auto", *PRECISIONS)
ENV_VAR = "DERMVIZ_PRECISION"
CACHE_ENV_VAR = "DERMVIZ_PRECISION_CACHE"
#: Largest ``|p - p_float32|`` on the probe batch for a candidate to stand in for float32.
TOLERANCE = 1e-3
#: Smallest SSIM between a candidate's GradCAM maps (at the suite's layer) and float32's on
#: the probe batch: p(melanoma) can agree while the maps do not.
MAP_SSIM = 0.99
#: The names TensorFlow is installed under (read without importing it).
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tf-nightly")
#: How much faster than float32 a candidate must be to be considered: timings on a shared
#: machine move by several per cent, and a choice must not follow the noise.
MIN_GAIN = 1.1
#: (precision, XLA) pairs measured; the first is the reference.
CANDIDATES: tuple[tuple[str, bool], ...] = (
    ("float32", False), ("float32", True), ("bfloat16", False), ("bfloat16", True))


@dataclass(frozen=True)
class PrecisionChoice:
    """The arithmetic a member runs in, and why.

    Attributes
    ----------
    precision : {"float32", "bfloat16"}
    xla : bool
        Whether its passes are XLA-compiled.
    source : {"measured", "forced"}
        Chosen by measurement (``auto``), or forced by the flag or environment variable.
    max_abs_diff : float or None
        ``max |p - p_float32|`` on the probe batch (0 for float32; None when not checked).
    agrees : bool or None
        ``max_abs_diff`` within the tolerance (None: not checked).
    speedup : float or None
        float32's milliseconds per image over the choice's (None where not timed).
    timings : dict of str to float
        Milliseconds per image of every timed candidate (:func:`label`), when measured.
    """

    precision: str
    xla: bool
    source: str
    max_abs_diff: float | None
    agrees: bool | None
    speedup: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return label(self.precision, self.xla)

    def describe(self) -> str:
        """One line for people: ``bfloat16 (measured, 1.9x float32, |dp| <= 2.1e-04)``."""
        parts = [self.source]
        if self.speedup is not None:
            parts.append(f"{self.speedup:.2f}x float32")
        if self.precision != "float32" or self.xla:
            if self.max_abs_diff is None:
                parts.append("agreement with float32 not checked yet")
            else:
                verdict = "agrees" if self.agrees else f"beyond the {TOLERANCE:g} tolerance"
                parts.append(f"max |p - p_float32| {self.max_abs_diff:.1e}, {verdict}")
        return f"{self.label} ({', '.join(parts)})"


def label(precision: str, xla: bool) -> str:
    """``"bfloat16 + XLA"``, ``"float32"``: a candidate's name in tables and the cache."""
    return precision + (" + XLA" if xla else "")


def requested_mode(flag: str | None = None) -> str:
    """The precision asked for: ``flag`` if given, else ``DERMVIZ_PRECISION``, else ``auto``.

    Raises
    ------
    ValueError
        For a value outside :data:`MODES` (the message names where it came from).
    """
    source, value = ("--precision", flag) if flag is not None else (
        ENV_VAR, os.environ.get(ENV_VAR) or "auto")
    if value not in MODES:
        raise ValueError(f"{source} must be one of {list(MODES)}, got {value!r}")
    return value


def cache_dir() -> Path:
    """The choice cache's folder (``DERMVIZ_PRECISION_CACHE`` or ``~/.cache/dermviz/precision``)."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "dermviz" / "precision"


def choose(timings: dict[str, float], agreement: Callable[[str, bool], float], *,
           tolerance: float = TOLERANCE,
           candidates: Sequence[tuple[str, bool]] = CANDIDATES,
           ) -> tuple[tuple[str, bool], float, dict[str, float]]:
    """The fastest candidate whose p(melanoma) agrees with float32's.

    Parameters
    ----------
    timings : dict of str to float
        Milliseconds per image of each candidate, by :func:`label`; must hold the first
        candidate (the float32 reference).
    agreement : callable
        ``agreement(precision, xla) -> max |p - p_float32|``; called only for candidates
        at least :data:`MIN_GAIN` times faster than the reference, fastest first, until
        one agrees.
    tolerance : float
        The largest disagreement accepted (> 0).
    candidates : sequence of (str, bool)
        The candidates; the first is the reference and always agrees (0).

    Returns
    -------
    candidate : (str, bool)
    max_abs_diff : float
        The chosen candidate's disagreement (0 for the reference).
    checked : dict of str to float
        Every disagreement measured, by label.

    Raises
    ------
    ValueError
        A missing reference timing, or a tolerance that is not positive.
    """
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    reference = candidates[0]
    if label(*reference) not in timings:
        raise ValueError(f"timings must include the reference {label(*reference)!r}")
    base = timings[label(*reference)]
    faster = sorted((c for c in candidates[1:]
                     if timings.get(label(*c), np.inf) * MIN_GAIN <= base),
                    key=lambda c: timings[label(*c)])
    checked: dict[str, float] = {}
    for cand in faster:
        gap = float(agreement(*cand))
        checked[label(*cand)] = gap
        if gap <= tolerance:
            return cand, gap, checked
    return reference, 0.0, checked


def twin_for(model: Any, precision: str, xla: bool, *,
             layer: str | None = None) -> Any:
    """``model`` in ``precision`` (a twin, or itself), marked for XLA when ``xla``.

    A bfloat16 twin keeps ``layer`` (the explained one) in float32
    (:func:`dermviz.models.precision.precision_twin`'s ``float32_layers``). A model asked
    for XLA is wrapped in a new functional model on the same layers, so that ``model``
    itself is never marked.
    """
    import keras

    if model_precision(model) == precision:
        net = model
    else:
        net = precision_twin(model, precision, float32_layers=(layer,) if layer else ())
    if xla:
        net = keras.Model(net.inputs, net.outputs, name=net.name)
        setattr(net, JIT_ATTRIBUTE, True)
    return net


def probe_p(model: Any, probe: np.ndarray, *, batch: int) -> np.ndarray:
    """p(melanoma) (float64) of ``probe``, through the model's forward function."""
    fn = forward_fn(model)
    return np.concatenate([np.asarray(fn(probe[s:s + batch].astype(np.float32)),
                                      np.float64)[:, 0]
                           for s in range(0, len(probe), batch)])


def cam_maps(model: Any, layer: str, images: np.ndarray, *, batch: int) -> np.ndarray:
    """GradCAM maps of melanoma at ``layer``: ReLU, bicubic upsampling to the input and
    min-max to [0, 1], as :mod:`dermviz.explain.gradcam` makes the stored ones (which this
    layer may not import).

    The gradient is the output's, p(melanoma), not its logit's: per image they differ by
    the positive factor p(1 - p), which the scaling removes.
    """
    import keras
    import tensorflow as tf

    graph = keras.Model(model.inputs, [model.get_layer(layer).output, model.outputs[0]])
    out = []
    for s in range(0, len(images), batch):
        x = tf.constant(images[s:s + batch].astype(np.float32))
        with tf.GradientTape() as tape:
            raw, p = graph(x, training=False)
            score = tf.reduce_sum(tf.cast(p[:, 0], tf.float32))
        grads = tf.cast(tape.gradient(score, raw), tf.float32)
        features = tf.cast(raw, tf.float32)
        grid = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, tf.reduce_mean(grads, (1, 2))))
        up = tf.image.resize(grid[..., None], images.shape[1:3], method="bicubic")[..., 0]
        up = np.maximum(up.numpy().astype(np.float64), 0)  # bicubic overshoots below zero
        lo = up.min(axis=(1, 2), keepdims=True)
        span = up.max(axis=(1, 2), keepdims=True) - lo
        out.append(np.divide(up - lo, span, out=np.zeros_like(up), where=span > 1e-12))
    return np.concatenate(out)


def min_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest SSIM (data range 1) between paired maps of ``a`` and ``b``."""
    from skimage.metrics import structural_similarity

    return float(min(structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b,
                                                                               strict=True)))


def time_forward(model: Any, images: np.ndarray, *, batch: int, repeats: int) -> float:
    """Milliseconds per image of ``model``'s forward pass (best of ``repeats``, after a
    warm-up pass that traces and compiles)."""
    fn = forward_fn(model)
    chunks = [images[s:s + batch].astype(np.float32) for s in range(0, len(images), batch)]
    np.asarray(fn(chunks[0]))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for chunk in chunks:
            np.asarray(fn(chunk))
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / len(images)


def member_key(*, image_size: int, layer: str | None, member: dict[str, Any]
               ) -> dict[str, Any]:
    """What a member's choice depends on: CPU model and bfloat16 flags, TensorFlow
    version, image size, layer, the candidates and tolerance, and the trained weights'
    identity (``member``: suite folder, id, time stamp of training). Imports no TensorFlow.
    """
    cpu, flags, tf_version = _machine()
    return {"cpu": cpu, "bfloat16_flags": list(flags), "tensorflow": tf_version,
            "image_size": int(image_size), "layer": layer,
            "candidates": [label(*c) for c in CANDIDATES], "tolerance": TOLERANCE,
            "member": member}


@functools.lru_cache(maxsize=1)
def _machine() -> tuple[str, tuple[str, ...], str]:
    """CPU model, bfloat16 flags and TensorFlow version, read once per process (map
    lookups ask for a member's key often)."""
    from importlib.metadata import PackageNotFoundError, version

    from dermviz.models.precision import native_bfloat16

    tf_version = "unknown"
    for dist in TENSORFLOW_DISTRIBUTIONS:
        try:
            tf_version = f"{dist} {version(dist)}"
            break
        except PackageNotFoundError:
            continue
    return cpu_info().model, tuple(native_bfloat16()), tf_version


def speed_key(model: Any, key: dict[str, Any]) -> dict[str, Any]:
    """``key`` (:func:`member_key`) without the member, with the architecture (layer
    names, classes and output shapes): what the candidates' speed depends on."""
    def shape(layer: Any) -> str:
        try:
            return str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            return ""

    arch = hashlib.sha256(json.dumps(
        [(la.name, type(la).__name__, shape(la)) for la in model.layers]).encode()
    ).hexdigest()[:16]
    return {**{k: v for k, v in key.items() if k != "member"}, "architecture": arch}


def _key_path(folder: Path, kind: str, key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    return folder / f"{kind}-{digest}.json"


def _read(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if record.get("key") == json.loads(json.dumps(key)) else None


def stored_choice(key: dict[str, Any], *, folder: Path | None = None
                  ) -> PrecisionChoice | None:
    """The measured choice cached under ``key`` (:func:`member_key`), or None."""
    folder = cache_dir() if folder is None else Path(folder)
    hit = _read(_key_path(folder, "member", key), key)
    return None if hit is None else PrecisionChoice(**hit["choice"])


def measured_choice(model: Any, probe: np.ndarray, *, key: dict[str, Any],
                    folder: Path | None = None, batch: int = 16, repeats: int = 2,
                    tolerance: float = TOLERANCE) -> PrecisionChoice:
    """The member's measured choice, from the cache or measured now and cached.

    Parameters
    ----------
    model : keras.Model
        The float32 member.
    probe : ndarray, (n, H, W, 3)
        The fixed probe batch (values in [0, 255]); also the timed images.
    key : dict
        :func:`member_key`.
    folder : Path, optional
        The cache folder (default :func:`cache_dir`).
    batch, repeats : int
        Images per timed pass, and passes timed (best kept).
    tolerance : float
        The agreement asked of a candidate (default :data:`TOLERANCE`).
    """
    folder = cache_dir() if folder is None else Path(folder)
    hit = stored_choice(key, folder=folder)
    if hit is not None:
        return hit
    skey = speed_key(model, key)
    spath = _key_path(folder, "speed", skey)
    speed = _read(spath, skey)
    twins: dict[tuple[str, bool], Any] = {}

    def net(cand: tuple[str, bool]) -> Any:
        if cand not in twins:  # an XLA candidate wraps its precision's twin: one clone each
            twins[cand] = (twin_for(net((cand[0], False)), cand[0], True) if cand[1]
                           else twin_for(model, *cand, layer=key.get("layer")))
        return twins[cand]

    if speed is None:
        timings = {label(*c): time_forward(net(c), probe, batch=batch, repeats=repeats)
                   for c in CANDIDATES}
        speed = {"key": skey, "timings": timings, "measured": _now()}
        folder.mkdir(parents=True, exist_ok=True)
        write_json(spath, speed)
    timings = speed["timings"]
    reference = probe_p(model, probe, batch=batch)

    layer = key.get("layer")
    reference_maps = None if layer is None else cam_maps(model, layer, probe, batch=batch)

    def agreement(precision: str, xla: bool) -> float:
        p = probe_p(net((precision, xla)), probe, batch=batch)
        gap = float(np.max(np.abs(p - reference)))
        if reference_maps is not None and gap <= tolerance:
            similarity = min_ssim(reference_maps,
                                  cam_maps(net((precision, xla)), layer, probe, batch=batch))
            ssims[label(precision, xla)] = similarity
            if similarity < MAP_SSIM:
                return np.inf  # the maps disagree: refused whatever p does
        return gap

    ssims: dict[str, float] = {}
    cand, gap, checked = choose(timings, agreement, tolerance=tolerance)
    choice = PrecisionChoice(
        precision=cand[0], xla=cand[1], source="measured", max_abs_diff=gap, agrees=True,
        speedup=timings[label(*CANDIDATES[0])] / timings[label(*cand)], timings=timings)
    folder.mkdir(parents=True, exist_ok=True)
    write_json(_key_path(folder, "member", key),
               {"key": key, "choice": asdict(choice), "checked": checked,
                "map_ssim": ssims, "measured": _now()})
    return choice


def forced_choice(model: Any, probe: np.ndarray, precision: str, *,
                  batch: int = 16, layer: str | None = None) -> PrecisionChoice:
    """``precision`` without XLA, as forced, with its disagreement on ``probe``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return PrecisionChoice("float32", False, "forced", 0.0, True)
    reference = probe_p(model, probe, batch=batch)
    twin = twin_for(model, precision, False, layer=layer)
    gap = float(np.max(np.abs(probe_p(twin, probe, batch=batch) - reference)))
    return PrecisionChoice(precision, False, "forced", gap, gap <= TOLERANCE)


def working_model(model: Any, choice: PrecisionChoice, *, layer: str | None = None) -> Any:
    """The model the member runs as under ``choice`` (``model`` itself for float32), its
    explained ``layer`` in float32."""
    return twin_for(model, choice.precision, choice.xla, layer=layer)


def model_precision(model: Any) -> str:
    """``"bfloat16"`` for a bfloat16 twin, else ``"float32"`` (read from its layers)."""
    policies = {layer.dtype_policy.name for layer in getattr(model, "layers", [])}
    return "bfloat16" if "mixed_bfloat16" in policies else "float32"


def _now() -> str:
    from dermviz.models.records import now

    return now()


def training_precision(build: Callable[[], Any], *, image_size: int, architecture: str,
                       folder: Path | None = None, batch: int = 16,
                       repeats: int = 2, measure: bool = False) -> str:
    """The precision a CPU fit trains in: ``"bfloat16"`` (Keras ``mixed_bfloat16``:
    float32 variables, loss and sigmoid) or ``"float32"``.

    ``--precision``/``DERMVIZ_PRECISION`` decides when forced. ``auto`` trains in float32
    unless ``measure``: a suite trained with ``auto`` should not depend on the CPU it was
    trained on, and the default demo's maps are checked against its evidence only as
    trained in float32 (a bfloat16 build of the same seeds gives other members: a mean
    AUC between two float32 builds', but other maps). With ``measure``, ``auto`` keeps
    bfloat16 when a bfloat16 forward pass of the architecture (``build()``, an untrained
    model: speed does not depend on the weights) at ``image_size`` is faster than
    float32's on this CPU, timed once per CPU, TensorFlow version, ``architecture`` (a
    name for what ``build`` builds) and image size, and cached. A member records the
    policy it trained under (``policy`` in ``suite.json``).
    """
    mode = requested_mode()
    if mode != "auto":
        return mode
    if not measure:
        return "float32"
    folder = cache_dir() if folder is None else Path(folder)
    key = {**{k: v for k, v in member_key(image_size=image_size, layer=None,
                                           member={}).items()
              if k not in ("member", "tolerance", "candidates")},
           "architecture": architecture, "purpose": "training"}
    path = _key_path(folder, "train", key)
    record = _read(path, key)
    if record is None:
        model = build()
        images = np.random.default_rng(0).uniform(0, 255, (2 * batch, image_size, image_size,
                                                         3)).astype(np.float32)
        timings = {p: time_forward(twin_for(model, p, False), images, batch=batch,
                                   repeats=repeats) for p in PRECISIONS}
        record = {"key": key, "timings": timings,
                  "choice": "bfloat16" if timings["bfloat16"] < timings["float32"]
                  else "float32", "measured": _now()}
        folder.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
    return record["choice"]
