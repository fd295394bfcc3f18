"""Loading a classifier trained elsewhere: ``.keras`` in safe mode, or ``.h5``.

A ``.keras`` file is loaded with Keras' safe mode on, which refuses a ``Lambda`` layer
(arbitrary Python code); the refusal names the flag for files the user trusts. A legacy
``.h5`` file has no safe mode, so its stored configuration is read first and a
``Lambda`` layer refused the same way. A file that is missing, damaged or not a model
gets one sentence too (:class:`ModelFileError`).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["MODEL_SUFFIXES", "TRUST_FLAG", "ModelFileError", "load_model_file", "load_trusted"]

#: The files ``dermviz import`` reads.
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
#: How a user says a file's code may run.
TRUST_FLAG = "--trust-model-code (trusted=True in the API)"


class ModelFileError(ValueError):
    """A model file that cannot be imported; the message is one sentence that says why."""


def load_model_file(path: str | Path, *, trusted: bool = False) -> Any:
    """The Keras model in ``path``, uncompiled.

    Parameters
    ----------
    path : path
        A ``.keras`` archive or a legacy ``.h5``/``.hdf5`` file.
    trusted : bool
        Load with Keras' safe mode off: a ``Lambda`` layer's Python code then runs.
        Only for files whose origin you trust.

    Raises
    ------
    ModelFileError
        Missing, of another kind, damaged, or holding a ``Lambda`` layer while
        ``trusted`` is False.
    """
    import keras  # heavy: only loading a model pays for TensorFlow

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} not found")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelFileError(f"model file {path} is not a Keras model file "
                             f"({', '.join(MODEL_SUFFIXES)})")
    if path.suffix.lower() == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelFileError(f"model file {path} is damaged (not a complete .keras "
                                 f"archive; {path.stat().st_size} bytes)")
    elif not trusted and "Lambda" in _h5_layer_classes(path):
        raise ModelFileError(_lambda_refusal(path))
    try:
        if trusted:
            return load_trusted(path)
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types (ValueError, OSError, TypeError...)
        if "Lambda" in str(exc) and "safe_mode" in str(exc):
            raise ModelFileError(_lambda_refusal(path)) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(f"model file {path} cannot be loaded ({type(exc).__name__}: "
                             f"{first})") from exc


def load_trusted(path: str | Path) -> Any:
    """Load a model file with Keras' safe mode **off**: its ``Lambda`` code runs.

    dermviz's one unsafe load (tests/test_security.py allows it here only): reached only
    when the user says the file is trusted (``--trust-model-code``, ``trusted=True``, then
    recorded in the member's adapter).
    """
    import keras  # heavy: only loading a model pays for TensorFlow

    return keras.models.load_model(path, compile=False, safe_mode=False)


def _lambda_refusal(path: Path) -> str:
    return (f"model file {path} holds a Lambda layer (Python code, which Keras' safe mode "
            f"refuses to run); if you trust its origin, import it with {TRUST_FLAG}")


def _h5_layer_classes(path: Path) -> set[str]:
    """Every ``class_name`` in a legacy ``.h5`` file's stored model configuration."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as exc:
        raise ModelFileError(f"model file {path} is damaged (not an HDF5 file: {exc})") from exc
    if raw is None:
        raise ModelFileError(f"model file {path} holds weights only, no model "
                             "(save the whole model with model.save)")
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str):
                found.add(node["class_name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found
