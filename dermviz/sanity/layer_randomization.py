"""Model-parameter randomization: randomized copies of a model, stage by stage.

The parameter-randomization test of Adebayo et al. [1]_ re-initialises a
trained model's weights stage by stage, top-down, and asks whether the
explanation changes: a saliency method whose maps survive the destruction of
what the model learnt is not explaining the model. Young et al. [2]_ ran it on
one InceptionV3 member with six single-layer stages (docs/protocol.md §10.2).
The stages themselves are found in the graph by :mod:`dermviz.models.graph`
(:func:`~dermviz.models.graph.paper_stages`,
:func:`~dermviz.models.graph.block_layers`); this module re-initialises them.

Randomization
-------------
:func:`randomize` never touches the model it is given (nor any file): it works on
a clone. For each chosen layer the **kernel** is re-drawn from the layer's own
``kernel_initializer`` (``he_normal`` for the head, ``glorot_uniform`` for the
convs, as in the paper), seeded per layer from ``seed`` and the layer's position
in ``model.layers``, so a layer gets the same draw in every order (cascading,
bottom-up, independent). By default biases and BatchNormalization parameters and moving statistics
are kept, as in the paper; ``reset_bias`` / ``reset_batchnorm`` reset them to
their initializers instead (zeros for biases and beta and the moving mean, ones
for gamma and the moving variance), which is closer to a full re-initialisation.

References
----------
.. [1] Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for
   Saliency Maps", NeurIPS 2018.
.. [2] Young, Booth, Simpson, Dutton and Shrapnel, "Deep neural network or
   dermatologist?", iMIMIC 2019, arXiv:1908.06612.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import keras
import numpy as np

from dermviz.models.graph import StageLayers, companion_batchnorms

__all__ = ["ORDERS", "as_stages", "randomize"]

#: How stages accumulate; see :func:`randomize`.
ORDERS = ("cascading", "bottom_up", "independent")
Order = Literal["cascading", "bottom_up", "independent"]


def as_stages(stages: Sequence[Any]) -> list[StageLayers]:
    """Normalise stage specifications to ``(name, [layer names])`` pairs.

    Accepts, per stage, a layer name (``"head_dense"``), a list of names
    (named by joining them with ``+``) or a ``(name, [names])`` pair as returned
    by :func:`~dermviz.models.graph.paper_stages` and
    :func:`~dermviz.models.graph.block_layers`.
    """
    out: list[StageLayers] = []
    for stage in stages:
        if isinstance(stage, str):
            out.append((stage, [stage]))
        elif (
            isinstance(stage, tuple)
            and len(stage) == 2
            and isinstance(stage[0], str)
            and not isinstance(stage[1], str)
        ):
            out.append((stage[0], list(stage[1])))
        else:
            names = list(stage)
            if not names or not all(isinstance(n, str) for n in names):
                raise ValueError(f"a stage must be a layer name or a list of names, got {stage!r}")
            out.append(("+".join(names), names))
    return out


def _layer_seed(seed: int, index: int, slot: int) -> int:
    return int(np.random.SeedSequence([seed, index, slot]).generate_state(1)[0] % (2**31 - 1))


def _draw(initializer: Any, variable: Any, seed: int) -> np.ndarray:
    """A fresh value for ``variable`` from a seeded copy of ``initializer``."""
    config = initializer.get_config()
    if "seed" in config:
        config["seed"] = seed
    fresh = type(initializer).from_config(config)
    value = fresh(tuple(variable.shape), dtype=variable.dtype)
    return np.asarray(keras.ops.convert_to_numpy(value))


def _resets(layer: Any, *, reset_bias: bool, reset_batchnorm: bool) -> list[tuple[int, Any, Any]]:
    """``(slot, variable, initializer)`` triples to re-draw for one layer."""
    out = []
    if getattr(layer, "kernel", None) is not None and hasattr(layer, "kernel_initializer"):
        out.append((0, layer.kernel, layer.kernel_initializer))
    if (
        reset_bias
        and getattr(layer, "bias", None) is not None
        and hasattr(layer, "bias_initializer")
    ):
        out.append((1, layer.bias, layer.bias_initializer))
    if reset_batchnorm and isinstance(layer, keras.layers.BatchNormalization):
        for slot, attr in enumerate(("gamma", "beta", "moving_mean", "moving_variance"), start=2):
            var = getattr(layer, attr, None)
            if var is not None:
                out.append((slot, var, getattr(layer, f"{attr}_initializer")))
    return out


def _copy_model(model: keras.Model) -> keras.Model:
    """A structurally identical model with its own copies of the weights."""
    clone = keras.models.clone_model(model)
    for src in model.layers:
        if src.weights:
            clone.get_layer(src.name).set_weights(src.get_weights())
    return clone


def randomize(
    model: keras.Model,
    stages: Sequence[Any],
    *,
    order: Order = "cascading",
    seed: int = 0,
    reset_bias: bool = False,
    reset_batchnorm: bool = False,
    copy: bool = True,
) -> Iterator[tuple[str, keras.Model]]:
    """Yield a randomized copy of ``model`` per stage.

    Parameters
    ----------
    model : keras.Model
        The trained model. Never modified (the work is done on a clone); a model
        loaded from a member file leaves the file untouched.
    stages : sequence
        Top-down stages; see :func:`as_stages` (e.g. ``paper_stages(model)`` or
        ``block_layers(model)`` from :mod:`dermviz.models.graph`,
        ``[["head_dense"], ["conv2d_93"]]``).
    order : {"cascading", "bottom_up", "independent"}
        ``"cascading"``: stage k has stages 1..k randomized (Adebayo et al.'s
        cascading randomization, top-down, and what the paper did by never
        reloading its model); ``"bottom_up"``: the same accumulation from the
        input side, the last stage first (Binder et al. [2]_ and Hedstroem et al.
        [3]_ show that top-down order biases the test: the randomized top layers
        already scramble the output); ``"independent"``: stage k has only stage k
        randomized, the rest keeps the trained weights.
    seed : int
        Base seed. Each variable's draw is seeded from ``(seed, layer position in
        model.layers, variable slot)``, so it is the same in both orders.
    reset_bias : bool
        Also reset biases of the stage's layers to their ``bias_initializer``
        (default False: kept, as in the paper). InceptionV3's convs have no bias;
        the head's Dense layers do.
    reset_batchnorm : bool
        Also reset BatchNormalization gamma, beta and moving statistics to their
        initializers, for BatchNormalization layers listed in the stage and those
        fed directly by a listed layer (a conv's own normalisation). Default False:
        kept, as in the paper; BatchNormalization layers listed in a stage (as in
        :func:`~dermviz.models.graph.block_layers`) are then left as they are.
    copy : bool
        True (default): every yielded model is an independent copy that stays
        valid. False: the same working clone is yielded each time, updated in
        place, valid only until the next iteration (saves a clone per stage; what
        the studies use).

    Yields
    ------
    (str, keras.Model)
        Stage name and the randomized model, in randomization order (the
        stages reversed for ``"bottom_up"``).

    Raises
    ------
    ValueError
        For an unknown order, an unknown layer, or a stage that would change no
        weight (e.g. only BatchNormalization layers with ``reset_batchnorm=False``).

    References
    ----------
    .. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018.
    .. [2] Binder et al., "Shortcomings of Top-Down Randomization-Based Sanity
       Checks for Evaluations of Deep Neural Network Explanations", CVPR 2023.
    .. [3] Hedstroem et al., "Sanity Checks Revisited: An Exploration to Repair
       the Model Parameter Randomisation Test", XAI in Action workshop, NeurIPS
       2023, arXiv:2401.06465.
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    plan = as_stages(stages)
    if order == "bottom_up":
        plan = plan[::-1]
    index = {layer.name: k for k, layer in enumerate(model.layers)}
    for name, layers in plan:
        for layer_name in layers:
            if layer_name not in index:
                raise ValueError(f"stage {name!r}: model has no layer {layer_name!r}")
    return _randomize(
        model,
        plan,
        index,
        order=order,
        seed=seed,
        reset_bias=reset_bias,
        reset_batchnorm=reset_batchnorm,
        copy=copy,
    )


def _randomize(
    model: keras.Model,
    plan: list[StageLayers],
    index: dict[str, int],
    *,
    order: str,
    seed: int,
    reset_bias: bool,
    reset_batchnorm: bool,
    copy: bool,
) -> Iterator[tuple[str, keras.Model]]:
    work = _copy_model(model)
    previous: list[tuple[Any, np.ndarray]] = []  # (variable, trained value) to restore
    for name, layers in plan:
        names = list(layers)
        if reset_batchnorm:
            names += companion_batchnorms(work, names)
        targets = [
            (index[n], slot, var, init)
            for n in names
            for slot, var, init in _resets(
                work.get_layer(n), reset_bias=reset_bias, reset_batchnorm=reset_batchnorm
            )
        ]
        if not targets:
            raise ValueError(f"stage {name!r} changes no weight (layers {layers})")
        if order == "independent":
            for var, value in previous:
                var.assign(value)
            previous = [(var, np.array(var.numpy())) for _, _, var, _ in targets]
        for layer_index, slot, var, init in targets:
            var.assign(_draw(init, var, _layer_seed(seed, layer_index, slot)))
        yield name, (_copy_model(work) if copy else work)
