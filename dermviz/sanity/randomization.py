"""Model-parameter randomization: the layer sets and the randomized copies.

The parameter-randomization test of Adebayo et al. [1]_ re-initialises a
trained model's weights stage by stage, top-down, and asks whether the
explanation changes: a saliency method whose maps survive the destruction of
what the model learnt is not explaining the model. Young et al. [2]_ ran it on
one InceptionV3 member with six single-layer stages (docs/protocol.md §10.2); this module
provides those stages, found by their place in the graph, and whole-block stages
in the spirit of [1]_ (docs/protocol.md §14.14: one 1x1 conv touches one branch only).

Layer names
-----------
Keras auto names (``conv2d_N``) depend on how many layers were created before in
the process (``docs/stack.md`` §2), so the paper's names
(``conv2d_94``...) are never used to look layers up. :func:`paper_stages` walks
the inbound nodes of the stable ``mixedN`` concatenations to their branches and
checks each found conv's shape (filters, kernel size, strides).

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

from dermviz.models.blocks import INCEPTION_BLOCKS
from dermviz.sanity.reference import PAPER_STAGES, PaperStage

__all__ = [
    "ORDERS",
    "PAPER_STAGES",
    "StageLayers",
    "as_stages",
    "block_layers",
    "branch_layers",
    "paper_layers",
    "paper_stages",
    "randomize",
    "weighted_layers",
]

#: A stage: its display name and the layer names it randomizes.
StageLayers = tuple[str, list[str]]
#: How stages accumulate; see :func:`randomize`.
ORDERS = ("cascading", "bottom_up", "independent")
Order = Literal["cascading", "bottom_up", "independent"]


# Branch positions in the concatenations (keras.applications.InceptionV3 order).
_BRANCH_POOL = 3  # mixed9/mixed10: [branch1x1, branch3x3, branch3x3dbl, branch_pool]
_BRANCH_1X1 = 0
_BRANCH_7X7DBL = 2  # mixed4-7: [branch1x1, branch7x7, branch7x7dbl, branch_pool]
_HEAD_DENSE = "head_dense"


# --------------------------------------------------------------------------- graph walking


def _model_node(model: keras.Model, layer: Any) -> Any:
    """The inbound node of ``layer`` that belongs to ``model`` (layers may be shared)."""
    nodes = layer._inbound_nodes
    model_nodes = getattr(model, "_nodes", None)
    if model_nodes is not None and len(nodes) > 1:
        for i, node in enumerate(nodes):
            if f"{id(layer)}_ib-{i}" in model_nodes:
                return node
    if not nodes:
        raise ValueError(f"layer {layer.name!r} has no inbound node in the model graph")
    return nodes[0]


def _parents(model: keras.Model, layer: Any) -> list[Any]:
    """The layers whose outputs ``layer`` consumes, in argument order."""
    node = _model_node(model, layer)
    parents = []
    for tensor in node.input_tensors:
        op = tensor._keras_history.operation
        if op is not None:
            parents.append(op)
    return parents


def _ancestors(model: keras.Model, start: Any, *, stop: Any | None = None) -> list[Any]:
    """``start`` and every layer upstream of it, not crossing ``stop`` (excluded)."""
    seen: dict[int, Any] = {}
    stack = [start]
    while stack:
        layer = stack.pop()
        if layer is stop or id(layer) in seen:
            continue
        seen[id(layer)] = layer
        if not isinstance(layer, keras.layers.InputLayer):
            stack.extend(_parents(model, layer))
    return list(seen.values())


def _in_model_order(model: keras.Model, layers: Sequence[Any]) -> list[Any]:
    ids = {id(layer) for layer in layers}
    return [layer for layer in model.layers if id(layer) in ids]


def _block(model: keras.Model, name: str) -> Any:
    try:
        layer = model.get_layer(name)
    except ValueError:
        raise ValueError(
            f"model {model.name!r} has no layer {name!r}: not an InceptionV3 graph"
        ) from None
    if not isinstance(layer, keras.layers.Concatenate):
        raise ValueError(f"layer {name!r} is a {type(layer).__name__}, not a Concatenate")
    return layer


def _block_input(model: keras.Model, block: Any) -> Any:
    """The layer whose output feeds an Inception block (previous block or stem).

    The last branch of every block is a pooling layer on the block input (followed
    by a conv in most blocks), so walk back along it to the pooling layer.
    """
    layer = _parents(model, block)[-1]
    while not isinstance(layer, keras.layers.AveragePooling2D | keras.layers.MaxPooling2D):
        parents = _parents(model, layer)
        if len(parents) != 1:
            raise ValueError(f"unexpected graph in the last branch of {block.name!r}")
        layer = parents[0]
    return _parents(model, layer)[0]


def branch_layers(model: keras.Model, block: str, branch: int) -> list[str]:
    """Names of the layers of one branch of an Inception block, input side first.

    Parameters
    ----------
    model : keras.Model
        A flat functional InceptionV3 model.
    block : str
        Concatenation name, ``"mixed0"`` ... ``"mixed10"``.
    branch : int
        Position of the branch among the concatenation's inputs (0 = ``branch1x1``
        in most blocks, last = ``branch_pool``).

    Returns
    -------
    list of str
        The branch's layers in ``model.layers`` order (which is graph order within
        a branch), from the one reading the block input to the one feeding the
        concatenation.
    """
    concat = _block(model, block)
    inputs = _parents(model, concat)
    if not 0 <= branch < len(inputs):
        raise ValueError(f"{block!r} has {len(inputs)} branches, no branch {branch}")
    stop = _block_input(model, concat)
    return [
        layer.name for layer in _in_model_order(model, _ancestors(model, inputs[branch], stop=stop))
    ]


def _convs(model: keras.Model, names: Sequence[str]) -> list[Any]:
    return [
        model.get_layer(n) for n in names if isinstance(model.get_layer(n), keras.layers.Conv2D)
    ]


def _check_conv(layer: Any, stage: PaperStage, kernel: tuple[int, int], strides: tuple[int, int]):
    ok = (
        layer.filters == stage.filters
        and tuple(layer.kernel_size) == kernel
        and tuple(layer.strides) == strides
    )
    if not ok:
        raise ValueError(
            f"structural layer {stage.role!r} resolved to {layer.name!r} with "
            f"{layer.filters} filters, kernel {tuple(layer.kernel_size)}, strides "
            f"{tuple(layer.strides)}; expected {stage.filters}, {kernel}, {strides}"
        )


def paper_stages(model: keras.Model) -> list[StageLayers]:
    """The paper's six single-layer stages, found by structure.

    Parameters
    ----------
    model : keras.Model
        A dermviz InceptionV3 model (``build_inception`` or a loaded member).

    Returns
    -------
    list of (str, list of str)
        ``(role, [layer name])`` top-down, roles as in :data:`PAPER_STAGES`:
        the head dense layer, mixed10's branch_pool 1x1 conv (192 filters),
        mixed9's branch1x1 conv (320), the first 1x1 conv of mixed7's branch7x7dbl
        (192), mixed6's branch1x1 conv (192) and the stem's first 3x3/2 conv (32).

    Raises
    ------
    ValueError
        If the graph is not an InceptionV3 with a ``head_dense`` layer, or a found
        conv does not have the expected shape.

    References
    ----------
    .. [1] Young et al., "Deep neural network or dermatologist?", iMIMIC 2019
       (docs/protocol.md §10.2 lists the paper's layers by their Keras 2.2.4 names).
    """
    try:
        head = model.get_layer(_HEAD_DENSE)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {_HEAD_DENSE!r} layer") from None
    found = [head.name]
    specs = dict(zip([s.role for s in PAPER_STAGES], PAPER_STAGES, strict=True))
    one = (1, 1)
    for role, block, branch in (
        ("mixed10/branch_pool/conv", "mixed10", _BRANCH_POOL),
        ("mixed9/branch1x1/conv", "mixed9", _BRANCH_1X1),
        ("mixed7/branch7x7dbl/conv1", "mixed7", _BRANCH_7X7DBL),
        ("mixed6/branch1x1/conv", "mixed6", _BRANCH_1X1),
    ):
        convs = _convs(model, branch_layers(model, block, branch))
        if not convs:
            raise ValueError(f"no conv in branch {branch} of {block!r}")
        _check_conv(convs[0], specs[role], one, one)
        found.append(convs[0].name)
    stem_out = _block_input(model, _block(model, "mixed0"))
    stem_convs = [
        layer
        for layer in _in_model_order(model, _ancestors(model, stem_out))
        if isinstance(layer, keras.layers.Conv2D)
    ]
    if not stem_convs:
        raise ValueError("no conv in the stem")
    # Within the linear stem, model order is graph order: the first is the input conv.
    _check_conv(stem_convs[0], specs["stem/conv1"], (3, 3), (2, 2))
    found.append(stem_convs[0].name)
    return [(s.role, [name]) for s, name in zip(PAPER_STAGES, found, strict=True)]


def paper_layers(model: keras.Model) -> list[str]:
    """The paper's six randomized layers, top-down, as this model names them.

    See :func:`paper_stages` (same layers, with stable stage names).
    """
    return [layers[0] for _, layers in paper_stages(model)]


def weighted_layers(model: keras.Model, names: Sequence[str]) -> list[str]:
    """The names among ``names`` of layers that own weights, in model order."""
    wanted = set(names)
    return [layer.name for layer in model.layers if layer.name in wanted and layer.weights]


def block_layers(model: keras.Model) -> list[StageLayers]:
    """Whole-block stages, top-down: head, ``mixed10`` ... ``mixed0``, stem.

    Each Inception block is every layer with weights (convs and their
    BatchNormalization layers) between the previous block's output and the
    block's concatenation, all branches included; the head is every weighted
    layer after ``mixed10`` (``head_dense``, ``pred``); the stem is every weighted
    layer before ``mixed0``'s input.

    Parameters
    ----------
    model : keras.Model
        A dermviz InceptionV3 model.

    Returns
    -------
    list of (str, list of str)
        ``("head", [...]), ("mixed10", [...]), ..., ("mixed0", [...]), ("stem", [...])``.

    References
    ----------
    .. [1] Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018
       (cascading randomization, top-down, block by block).
    """
    stages: list[StageLayers] = []
    top = _block(model, INCEPTION_BLOCKS[0])
    below_top = {id(layer) for layer in _ancestors(model, top)}
    head = [layer.name for layer in model.layers if id(layer) not in below_top and layer.weights]
    stages.append(("head", head))
    for name in INCEPTION_BLOCKS:
        concat = _block(model, name)
        stop = _block_input(model, concat)
        members = _in_model_order(model, _ancestors(model, concat, stop=stop))
        stages.append((name, [layer.name for layer in members if layer.weights]))
    stem_out = _block_input(model, _block(model, INCEPTION_BLOCKS[-1]))
    stem = _in_model_order(model, _ancestors(model, stem_out))
    stages.append(("stem", [layer.name for layer in stem if layer.weights]))
    return stages


def as_stages(stages: Sequence[Any]) -> list[StageLayers]:
    """Normalise stage specifications to ``(name, [layer names])`` pairs.

    Accepts, per stage, a layer name (``"head_dense"``), a list of names
    (named by joining them with ``+``) or a ``(name, [names])`` pair as returned
    by :func:`paper_stages` and :func:`block_layers`.
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


# --------------------------------------------------------------------------- randomization


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


def _companion_batchnorms(model: keras.Model, names: Sequence[str]) -> list[str]:
    """BatchNormalization layers that directly normalise one of the named layers."""
    named = {id(model.get_layer(n)) for n in names}
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name not in names:
            if any(id(p) in named for p in _parents(model, layer)):
                out.append(layer.name)
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
        Top-down stages; see :func:`as_stages` (e.g. ``paper_stages(model)``,
        ``block_layers(model)``, ``[["head_dense"], ["conv2d_93"]]``).
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
        :func:`block_layers`) are then left as they are.
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
            names += _companion_batchnorms(work, names)
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
