"""Reduced-precision twins of a trained model, and whether this CPU runs bfloat16 natively.

A member is saved as a plain float32 model. :func:`precision_twin` rebuilds the same graph
with every layer but the output computing in bfloat16 (Keras's ``mixed_bfloat16`` policy:
float32 variables, bfloat16 activations), shares the trained weights, and keeps the output
layer in float32 so that p(melanoma) comes back in float32. Whether a twin may stand in
for the model is a measurement, not an assumption: ``benchmarks/bench_precision.py``
compares its p(melanoma) and speed with the float32 model's on a suite's hold-out.

References
----------
.. [1] Kalamkar et al., "A Study of BFLOAT16 for Deep Learning Training", arXiv:1905.12322
   (2019): bfloat16 keeps float32's exponent range with an 8-bit mantissa.
"""

from __future__ import annotations

from typing import Any

from dermviz.models.records import cpu_info

PRECISIONS = ("float32", "bfloat16")
#: Parts of a model a bfloat16 twin may keep in float32 (:func:`float32_parts`).
PARTS = ("batchnorm", "stem", "head")
#: /proc/cpuinfo flags of native bfloat16 arithmetic (AVX-512 BF16, Intel AMX).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bfloat16(cpuinfo: str | None = None) -> list[str]:
    """The bfloat16 flags this CPU has (empty: bfloat16 is emulated, and slow).

    Parameters
    ----------
    cpuinfo : str, optional
        Text in the format of ``/proc/cpuinfo``; read from there by default
        (:func:`dermviz.models.records.cpu_info`).
    """
    flags = cpu_info(cpuinfo).flags or frozenset()
    return [f for f in BF16_FLAGS if f in flags]


def float32_parts(model: Any, parts: tuple[str, ...] | list[str]) -> set[str]:
    """Names of ``model``'s layers that belong to the named ``parts``.

    Parameters
    ----------
    model : keras.Model
        A functional model.
    parts : sequence of {"batchnorm", "stem", "head"}
        ``"batchnorm"``: every BatchNormalization layer. ``"stem"``: the layers before the
        first Concatenate (InceptionV3's convolutional stem, before ``mixed0``). ``"head"``:
        the layers after the last one with a spatial (4-D) output (global pooling and the
        dense head).

    Raises
    ------
    ValueError
        For an unknown part.
    """
    import keras

    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; known: {list(PARTS)}")
    layers = model.layers
    names: set[str] = set()
    if "batchnorm" in parts:
        names |= {la.name for la in layers if isinstance(la, keras.layers.BatchNormalization)}
    if "stem" in parts:
        for layer in layers:
            if isinstance(layer, keras.layers.Concatenate):
                break
            names.add(layer.name)
    if "head" in parts:
        spatial = [k for k, la in enumerate(layers) if len(_output_shape(la)) == 4]
        last = spatial[-1] if spatial else -1
        names |= {la.name for la in layers[last + 1:]}
    return names


def _output_shape(layer: Any) -> tuple:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer used more than once, or never called
        return ()


def precision_twin(model: Any, precision: str = "bfloat16", *,
                   keep_float32: tuple[str, ...] = (),
                   float32_layers: tuple[str, ...] = ()) -> Any:
    """``model`` rebuilt to compute in ``precision``, with the same weights.

    Parameters
    ----------
    model : keras.Model
        A functional float32 model (a dermviz member, or any functional Keras model).
    precision : {"float32", "bfloat16"}
        ``"float32"`` returns ``model`` itself. ``"bfloat16"``: every layer but the last
        takes the ``mixed_bfloat16`` policy; the last one stays float32, so the output is
        float32.
    keep_float32 : tuple of {"batchnorm", "stem", "head"}
        Parts of the model that stay float32 in a bfloat16 twin (:func:`float32_parts`).
    float32_layers : tuple of str
        Layers, by name, that stay float32: an explained layer, so that saliency methods
        read its activations and gradients in float32 (a concatenation: no cost).

    Returns
    -------
    keras.Model
        A new model (never ``model`` modified) for ``"bfloat16"``.

    Raises
    ------
    ValueError
        For an unknown precision or part, or a model that is not float32.
    """
    import keras  # heavy: only when a twin is made

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    policies = sorted({layer.dtype_policy.name for layer in model.layers} - {"float32"})
    if policies:
        raise ValueError(f"expected a float32 model, got layers with the {policies} policy")
    for name in float32_layers:
        model.get_layer(name)  # ValueError naming a layer the model lacks
    kept = (float32_parts(model, tuple(keep_float32)) | {model.layers[-1].name}
            | set(float32_layers))
    if precision == "float32":
        return model

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        if layer.name not in kept and "dtype" in config:
            config["dtype"] = "mixed_bfloat16"
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone_layer)
    twin.set_weights(model.get_weights())
    return twin


def with_float32_layers(model: Any, names: tuple[str, ...] | list[str]) -> Any:
    """``model`` (a bfloat16 twin) with the layers ``names`` computing in float32; the
    model itself where they already do.

    Saliency methods read an explained layer's activations and gradients; in float32 they
    meet float32 scores inside tf-keras-vis (GradCAM++, ScoreCAM fail on bfloat16 ones).

    Raises
    ------
    ValueError
        A layer the model lacks.
    """
    import keras

    todo = {name for name in names if model.get_layer(name).compute_dtype != "float32"}
    if not todo:
        return model

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        if layer.name in todo:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    twin = keras.models.clone_model(model, clone_function=clone_layer)
    twin.set_weights(model.get_weights())
    return twin
