"""Device switches of a fit: GPU memory growth, threads, mixed precision, XLA,
op determinism.

On a GPU, mixed precision (float16 compute, float32 output and saved weights) and
XLA are used by default (``auto``); ``on``/``off`` force them. Saved models are
always plain float32 models (:func:`dermviz.models.fit.export_float32`).
``deterministic`` switches on TensorFlow's op determinism (for the whole process:
slower on GPUs; it cannot be switched off again).
"""

from __future__ import annotations

from typing import Any

SWITCHES = ("auto", "on", "off")


def configure_device(device: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``{"mixed_precision", "xla", "threads", "deterministic"}``; returns what
    was set.

    Memory growth is switched on for every GPU. ``threads`` (None: TensorFlow's
    default) can only be set before TensorFlow first runs an op.
    """
    import keras  # heavy: imported only when a fit starts
    import tensorflow as tf

    device = dict(device or {})
    for key in ("mixed_precision", "xla"):
        if device.get(key, "auto") not in SWITCHES:
            raise ValueError(f"device {key} must be one of {list(SWITCHES)}, "
                             f"got {device[key]!r}")
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised
            pass
    threads = device.get("threads")
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, int(threads))))
    deterministic = bool(device.get("deterministic", False))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    mixed = device.get("mixed_precision", "auto")
    use_mixed = mixed == "on" or (mixed == "auto" and bool(gpus))
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    jit: Any = {"on": True, "off": False}.get(device.get("xla", "auto"), "auto")  # auto: GPUs
    return {
        "gpus": [g.name for g in gpus], "mixed_precision": use_mixed, "jit_compile": jit,
        "threads": threads, "deterministic": deterministic,
    }
