"""Where layers sit in a dermviz InceptionV3 graph: branches, blocks, the paper's layers.

The stage sets a parameter-randomization test needs (docs/protocol.md §10.2,
§14.14), found by their place in the graph: :func:`paper_stages`, the six
single layers Young et al. [1]_ randomized, and :func:`block_layers`, whole
Inception blocks in the spirit of Adebayo et al. [2]_ (one 1x1 conv touches one
branch only). :func:`branch_layers` names one branch of a block and
:func:`companion_batchnorms` the BatchNormalization layers that normalise given
layers.

Layer names
-----------
Keras auto names (``conv2d_N``) depend on how many layers were created before in
the process (``docs/stack.md`` §2), so the paper's names
(``conv2d_94``...) are never used to look layers up. :func:`paper_stages` walks
the inbound nodes of the stable ``mixedN`` concatenations to their branches and
checks each found conv's shape (filters, kernel size, strides) against
:data:`~dermviz.models.blocks.PAPER_STAGES`.

References
----------
.. [1] Young, Booth, Simpson, Dutton and Shrapnel, "Deep neural network or
   dermatologist?", iMIMIC 2019, arXiv:1908.06612.
.. [2] Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity Checks for
   Saliency Maps", NeurIPS 2018.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import keras

from dermviz.models.blocks import INCEPTION_BLOCKS, PAPER_STAGES, PaperStage

__all__ = [
    "StageLayers",
    "block_layers",
    "feature_layer",
    "feature_layers",
    "is_inception",
    "kernel_layers",
    "layer_groups",
    "named_blocks",
    "rescales_inside",
    "branch_layers",
    "companion_batchnorms",
    "paper_layers",
    "paper_stages",
    "weighted_layers",
]

#: A stage: its display name and the layer names it randomizes.
StageLayers = tuple[str, list[str]]

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

    A model that is not an InceptionV3 (an imported one) gets :func:`layer_groups`
    instead, with the every-k rule its adapter recorded (``model.dermviz_adapter``).

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
    if not is_inception(model):
        adapter = getattr(model, "dermviz_adapter", None)
        return layer_groups(model, every=getattr(adapter, "stage_every", None))
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


def companion_batchnorms(model: keras.Model, names: Sequence[str]) -> list[str]:
    """BatchNormalization layers that directly normalise one of the named layers.

    Parameters
    ----------
    model : keras.Model
        A functional model.
    names : sequence of str
        Layer names (e.g. a stage's convs).

    Returns
    -------
    list of str
        In model order: every BatchNormalization layer, not itself named, whose
        input is the output of a named layer (a conv's own normalisation).
    """
    named = {id(model.get_layer(n)) for n in names}
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name not in names:
            if any(id(p) in named for p in _parents(model, layer)):
                out.append(layer.name)
    return out


# --------------------------------------------------------------------------- any model

#: Block name prefixes of Keras' applications: EfficientNet ``block1a_``, MobileNetV2
#: ``block_1_``, VGG ``block1_``.
_BLOCK_PREFIX = re.compile(r"^(block_?\d+[a-z]?)_")
_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)


def flat_layers(model: keras.Model) -> list[Any]:
    """The model's layers in order, nested models replaced by their own layers."""
    out: list[Any] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(flat_layers(layer))
        else:
            out.append(layer)
    return out


def is_inception(model: keras.Model) -> bool:
    """Whether the graph has InceptionV3's eleven ``mixedN`` concatenations."""
    names = {layer.name: layer for layer in model.layers}
    return all(isinstance(names.get(b), keras.layers.Concatenate) for b in INCEPTION_BLOCKS)


def rescales_inside(model: keras.Model) -> str | None:
    """The name of the model's own input scaling layer (``Rescaling`` or ``Normalization``
    before the first layer with weights), or None."""
    for layer in flat_layers(model):
        if isinstance(layer, keras.layers.Rescaling | keras.layers.Normalization):
            return layer.name
        if layer.weights:
            return None
    return None


#: Activations whose outputs are never negative.
_NONNEGATIVE = ("relu", "relu6", "sigmoid", "softplus", "hard_sigmoid")


def _nonnegative(layer: Any) -> bool:
    """Whether a layer's output is never negative: a ReLU, or a non-negative activation."""
    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope) == 0.0 and float(layer.threshold) >= 0.0
    act = layer.get_config().get("activation") if hasattr(layer, "get_config") else None
    return isinstance(act, str) and act in _NONNEGATIVE


def feature_layers(model: keras.Model, *, nonnegative: bool = False) -> list[str]:
    """The layers with a 4-D output that come after a convolution, in model order: the
    candidate feature layers of a CAM; ``nonnegative``: only those whose output is never
    negative (a ReLU's: what channel statistics of activations expect)."""
    found, seen_conv = [], False
    for layer in model.layers:
        if isinstance(layer, _CONVS):
            seen_conv = True
        if nonnegative and not _nonnegative(layer):
            continue
        if seen_conv and not isinstance(layer, keras.layers.InputLayer):
            try:
                rank = len(layer.output.shape)
            except (AttributeError, ValueError):
                continue
            if rank == 4:
                found.append(layer.name)
    return found


def feature_layer(model: keras.Model) -> str | None:
    """GradCAM's default feature layer: the last of :func:`feature_layers` (``mixed10`` in
    InceptionV3, ``out_relu`` in MobileNetV2, ``top_activation`` in EfficientNet); None where
    no convolution feeds a 4-D output."""
    found = feature_layers(model)
    return found[-1] if found else None


def kernel_layers(model: keras.Model) -> list[str]:
    """The names of the layers with a kernel (what a randomization re-draws), in order."""
    return [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]


def named_blocks(model: keras.Model) -> dict[str, list[str]]:
    """Weighted layers grouped by block name prefix (``block1a``, ``block_3``), in model
    order; empty unless there are at least two blocks."""
    blocks: dict[str, list[str]] = {}
    for layer in model.layers:
        match = _BLOCK_PREFIX.match(layer.name)
        if match and layer.weights:
            blocks.setdefault(match.group(1), []).append(layer.name)
    return blocks if len(blocks) >= 2 else {}


def layer_groups(model: keras.Model, *, every: int | None = None) -> list[StageLayers]:
    """Randomization stages of any model, top-down, in graph order.

    Where the layers are named by block (:func:`named_blocks`) and ``every`` is None:
    ``head`` (the weighted layers after the last block), the blocks from the last to the
    first, ``stem`` (those before the first block). Otherwise every ``every`` layers
    with a kernel (:func:`kernel_layers`) make one stage, named by its first and last
    layer.

    Parameters
    ----------
    model : keras.Model
        A flat functional model.
    every : int, optional
        Layers with a kernel per stage (default: blocks where there are any, else 1).

    Returns
    -------
    list of (str, list of str)
    """
    if every is not None and (isinstance(every, bool) or int(every) < 1):
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    blocks = named_blocks(model) if every is None else {}
    if blocks:
        in_block = {name for names in blocks.values() for name in names}
        order = [layer.name for layer in model.layers if layer.weights]
        first = min(order.index(names[0]) for names in blocks.values())
        last = max(order.index(names[-1]) for names in blocks.values())
        stem = [n for n in order[:first] if n not in in_block]
        head = [n for n in order[last + 1:] if n not in in_block]
        stages: list[StageLayers] = [("head", head)] if head else []
        stages += [(prefix, names) for prefix, names in reversed(blocks.items())]
        return stages + ([("stem", stem)] if stem else [])
    names = kernel_layers(model)
    if not names:
        raise ValueError(f"model {model.name!r} has no layer with a kernel to randomize")
    k = int(every or 1)
    groups = [names[i : i + k] for i in range(0, len(names), k)]
    return [(g[0] if len(g) == 1 else f"{g[0]}..{g[-1]}", g) for g in reversed(groups)]
