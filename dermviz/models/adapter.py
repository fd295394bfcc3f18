"""The model adapter: any Keras image classifier seen through dermviz's model contract.

Everything past a suite's loader (the explainers, the sanity checks, the metrics, the
pages) sees one contract, the one dermviz's own members were built to
(:mod:`dermviz.models.inception`): a flat functional model whose input is a batch of
RGB images with values in [0, 255] and whose last layer, named ``pred``, is a sigmoid
of one melanoma logit. A :class:`ModelAdapter` says how an imported model meets it,
and :func:`adapt` builds the adapted model:

- **input**: the square size (read from the model) and the preprocessing between
  dermviz's pixels and the model's (:data:`PREPROCESSING_TEXT`;
  a model that rescales inside is detected, otherwise it must be declared);
- **output**: one sigmoid unit, a two-class softmax, an N-class softmax (melanoma
  column ``K``, against the rest or one class ``J``), or one-vs-rest sigmoids;
  probabilities or logits, read from the last layer's activation. The gradient
  methods explain the melanoma-vs-rest logit
  (:class:`~dermviz.models.adapter_layers.MelanomaLogit`), and
  ``p(melanoma) = sigmoid(logit)``: the model's own ``p_K`` against the rest,
  ``p_K / (p_K + p_J)`` against one class;
- **layers**: GradCAM's default feature layer (the last 4-D output after a
  convolution, :func:`dermviz.models.graph.feature_layer`) and how the randomization
  checks group layers into stages (:func:`dermviz.models.graph.layer_groups`).

A dermviz member is the adapter's simplest case: :data:`DERMVIZ_ADAPTER`, under which
:func:`adapt` returns the model itself; a manifest without an adapter entry means it.
The adapter is stored with each member in the suite's manifest (:meth:`ModelAdapter.to_dict`).

The adapted model is rebuilt flat, layer by layer, from the imported one (nested
backbones are unpacked, so every layer is visible to GradCAM and to the
randomization checks), with the model's weights copied: the imported model itself is
left as it was. Keras is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dermviz.models.blocks import DEFAULT_TARGET_LAYER

__all__ = [
    "ADAPTER_KEY",
    "DERMVIZ_ADAPTER",
    "LAYER_SETS_OF",
    "PREPROCESSING",
    "PREPROCESSING_TEXT",
    "ModelAdapter",
    "ModelRefusedError",
    "adapt",
    "adapter_of",
    "detect_adapter",
    "feature_tensor",
    "logit_tensor",
]

#: The key of a member's adapter in ``suite.json`` and ``member.json``.
ADAPTER_KEY = "adapter"
#: Declared preprocessing choices (``"own"`` is detected, not declared).
PREPROCESSING = ("raw", "unit", "tf", "caffe", "torch")
#: What each preprocessing does to dermviz's pixels in [0, 255]
#: (:class:`dermviz.models.adapter_layers.InputPreprocessing` does it).
PREPROCESSING_TEXT = {
    "own": "none: the model rescales inside (its own Rescaling or Normalization layer)",
    "raw": "none: the model takes pixels in [0, 255]",
    "unit": "divide by 255: [0, 1]",
    "tf": "divide by 127.5, subtract 1: [-1, 1] (Keras' 'tf' mode: MobileNet, Inception)",
    "caffe": "RGB to BGR, subtract the ImageNet mean per channel (Keras' 'caffe' mode: VGG, "
             "ResNet50)",
    "torch": "divide by 255, subtract the ImageNet mean and divide by its standard deviation "
             "per channel (Keras' 'torch' mode, torchvision's normalisation)",
}
#: The randomization layer sets each stage rule offers.
LAYER_SETS_OF = {"paper": ("paper", "blocks"), "blocks": ("blocks",), "every": ("blocks",)}
#: Names the adapter gives its own layers.
_INPUT, _PREPROCESS, _LOGIT, _PRED = "image", "dermviz_preprocessing", "melanoma_logit", "pred"
#: Imported models smaller than this are refused: too few pixels for a dermoscopic
#: structure, and most backbones' strides leave no grid.
MIN_IMPORT_SIZE = 32
#: Every-k-th grouping aims at this many randomization stages at most.
_MAX_STAGES = 8


class ModelRefusedError(ValueError):
    """An imported model dermviz cannot use; the message is one sentence that says why."""


@dataclass(frozen=True, kw_only=True)
class ModelAdapter:
    """How a member meets dermviz's model contract (see the module's docstring).

    Attributes
    ----------
    kind : {"dermviz", "keras"}
        ``"dermviz"``: a member in the contract already (:func:`adapt` returns it);
        ``"keras"``: an imported model, adapted.
    preprocessing : str
        ``"own"`` (the model rescales inside: it takes [0, 255]) or one of
        :data:`PREPROCESSING`.
    output : {"sigmoid", "softmax"}
        The activation the class scores were trained under.
    outputs_logits : bool
        The last layer has no activation: the model outputs logits.
    n_classes : int
        Output units.
    melanoma_class : int
        The melanoma unit ``K``.
    versus_class : int, optional
        Softmax: the negative class ``J``; None: the rest.
    layer : str, optional
        GradCAM's default feature layer; None where no 4-D feature layer follows a
        convolution (only the gradient-free methods apply).
    stages : {"paper", "blocks", "every"}
        How the randomization checks group layers: InceptionV3's paper stages and
        blocks, blocks by name prefix, or every ``stage_every``-th weighted layer.
    stage_every : int, optional
        ``stages="every"``: layers per stage.
    stage_names : tuple of str, optional
        An imported model's randomization stages, top-down (layer set ``"blocks"``),
        so pages can list them without loading the model.
    image_size : int, optional
        The model's square input side (None for dermviz members: the suite's).
    trusted : bool
        The file was loaded with Keras' safe mode off (it holds Python code).
    source : str, optional
        The file the model was imported from.
    """

    kind: str = "dermviz"
    preprocessing: str = "own"
    output: str = "sigmoid"
    outputs_logits: bool = False
    n_classes: int = 1
    melanoma_class: int = 0
    versus_class: int | None = None
    layer: str | None = DEFAULT_TARGET_LAYER
    stages: str = "paper"
    stage_every: int | None = None
    stage_names: tuple[str, ...] | None = None
    image_size: int | None = None
    trusted: bool = False
    source: str | None = None

    def __post_init__(self) -> None:
        if self.stage_names is not None:
            object.__setattr__(self, "stage_names", tuple(self.stage_names))
        if self.kind not in ("dermviz", "keras"):
            raise ValueError(f"adapter kind must be 'dermviz' or 'keras', got {self.kind!r}")
        if self.preprocessing not in ("own", *PREPROCESSING):
            raise ValueError(f"preprocessing must be one of {['own', *PREPROCESSING]}, "
                             f"got {self.preprocessing!r}")
        if self.output not in ("sigmoid", "softmax"):
            raise ValueError(f"output must be 'sigmoid' or 'softmax', got {self.output!r}")
        if self.stages not in LAYER_SETS_OF:
            raise ValueError(f"stages must be one of {list(LAYER_SETS_OF)}, got {self.stages!r}")
        if not 0 <= self.melanoma_class < self.n_classes:
            raise ValueError(f"melanoma_class must be in [0, {self.n_classes}), "
                             f"got {self.melanoma_class}")
        if self.versus_class is not None and (
                self.output != "softmax" or not 0 <= self.versus_class < self.n_classes
                or self.versus_class == self.melanoma_class):
            raise ValueError("versus_class must be another softmax class, got "
                             f"{self.versus_class}")

    @property
    def native(self) -> bool:
        """A dermviz member: the model meets the contract as it is."""
        return self.kind == "dermviz"

    @property
    def layer_sets(self) -> tuple[str, ...]:
        """The randomization layer sets this model has (``"paper"`` only for InceptionV3)."""
        return LAYER_SETS_OF[self.stages]

    def score_description(self) -> str:
        """What the gradient methods explain, in words."""
        if self.output == "sigmoid":
            unit = ("one sigmoid unit" if self.n_classes == 1
                    else f"sigmoid unit {self.melanoma_class} of {self.n_classes}")
            return f"the melanoma logit z (before the sigmoid) of {unit}"
        k = self.melanoma_class
        if self.versus_class is not None:
            return (f"the melanoma-vs-class-{self.versus_class} logit log p_{k} - "
                    f"log p_{self.versus_class} of a {self.n_classes}-class softmax "
                    f"(melanoma = class {k})")
        return (f"the melanoma-vs-rest logit log p_mel - log(1 - p_mel) of a "
                f"{self.n_classes}-class softmax (melanoma = class {k})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (lists, not tuples): what the manifest stores."""
        data = asdict(self)
        if data["stage_names"] is not None:
            data["stage_names"] = list(data["stage_names"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelAdapter:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown adapter field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


#: A dermviz InceptionV3 member: the adapter's simplest case.
DERMVIZ_ADAPTER = ModelAdapter()


def adapter_of(entry: dict[str, Any] | None, *, default_layer: str | None = None
               ) -> ModelAdapter:
    """The adapter recorded in a manifest's member entry; none recorded: a dermviz member
    (:data:`DERMVIZ_ADAPTER`, with ``default_layer`` where given)."""
    data = (entry or {}).get(ADAPTER_KEY)
    if data is None:
        return (DERMVIZ_ADAPTER if default_layer is None
                else replace(DERMVIZ_ADAPTER, layer=default_layer))
    return ModelAdapter.from_dict(data)


# --------------------------------------------------------------------------- detection


def _graph(model: Any) -> Any:
    """The functional graph of a model (a Sequential's inner one)."""
    import keras

    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ModelRefusedError(f"model {model.name!r} is a Sequential model that was "
                                    "never built on an input shape, so its input is unknown")
        return graph
    if not hasattr(model, "_run_through_graph"):
        raise ModelRefusedError(f"model {model.name!r} is a subclassed Keras model; only "
                                "functional and Sequential models have a graph to explain")
    return model


def _output_op(graph: Any) -> Any:
    """The op that gives the model's output, inside nested models."""
    import keras

    op = graph.outputs[0]._keras_history.operation
    while isinstance(op, keras.Model):
        op = _graph(op).outputs[0]._keras_history.operation
    return op


def _activation(op: Any) -> str | None:
    """The last op's activation name: ``"sigmoid"``, ``"softmax"``, ``"linear"``, or None
    where it cannot be read."""
    import keras

    if isinstance(op, keras.layers.Softmax):
        return "softmax"
    config = op.get_config() if hasattr(op, "get_config") else {}
    act = config.get("activation")
    if isinstance(act, str):
        return act
    return None


def detect_adapter(
    model: Any,
    *,
    preprocessing: str | None = None,
    melanoma_class: int | None = None,
    versus_class: int | None = None,
    layer: str | None = None,
    stage_every: int | None = None,
    trusted: bool = False,
    source: str | None = None,
) -> ModelAdapter:
    """The adapter of an imported Keras model: detected where it can be, else as declared.

    Parameters
    ----------
    model : keras.Model
        A functional or Sequential Keras model of one RGB image (channels last).
    preprocessing : str, optional
        One of :data:`PREPROCESSING`. Needed unless the model rescales inside (a
        ``Rescaling`` or ``Normalization`` layer before its first weighted layer: then
        ``"own"``, and a declared value is refused as contradicting it).
    melanoma_class : int, optional
        The melanoma unit. Needed for more than two outputs; default 1 for a two-class
        softmax (the second unit), 0 for one unit.
    versus_class : int, optional
        Softmax: the negative class (default: every class but melanoma).
    layer : str, optional
        GradCAM's feature layer (default: the last 4-D output after a convolution).
    stage_every : int, optional
        Group the randomization stages as every ``stage_every``-th weighted layer,
        even where the model has named blocks.
    trusted, source
        Recorded: the file was loaded with safe mode off; where it came from.

    Raises
    ------
    ModelRefusedError
        One sentence: an input that is not one square RGB image, an output that is not
        a classifier's, a size under the minimum, a missing declaration.
    """
    from dermviz.models import graph as graphs

    graph = _graph(model)
    name = model.name
    if len(graph.inputs) != 1:
        raise ModelRefusedError(f"model {name!r} takes {len(graph.inputs)} inputs; dermviz "
                                "explains classifiers of one RGB image")
    shape = tuple(graph.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ModelRefusedError(f"model {name!r} takes inputs of shape {shape}, not RGB "
                                "images (batch, height, width, 3)")
    if shape[1] is None or shape[2] is None or shape[1] != shape[2]:
        raise ModelRefusedError(f"model {name!r} takes images of {shape[1]}x{shape[2]} "
                                "pixels; dermviz needs a fixed, square input size")
    size = int(shape[1])
    if size < MIN_IMPORT_SIZE:
        raise ModelRefusedError(f"model {name!r} takes {size}x{size} images, under the "
                                f"minimum of {MIN_IMPORT_SIZE} pixels")
    if len(graph.outputs) != 1 or len(graph.outputs[0].shape) != 2:
        shapes = [tuple(o.shape) for o in graph.outputs]
        raise ModelRefusedError(f"model {name!r} outputs {shapes}, not one vector of class "
                                "scores per image: it is not a classifier")
    n_classes = int(graph.outputs[0].shape[-1])
    op = _output_op(graph)
    act = _activation(op)
    if act not in ("sigmoid", "softmax", "linear"):
        raise ModelRefusedError(f"model {name!r} ends in {type(op).__name__} "
                                f"{getattr(op, 'name', '')!r} with activation {act!r}; dermviz "
                                "reads sigmoid, softmax or linear (logit) outputs")
    if act == "softmax" and n_classes == 1:
        raise ModelRefusedError(f"model {name!r} has one softmax unit, which is always 1: "
                                "it is not a classifier")
    form = "sigmoid" if act == "sigmoid" or (act == "linear" and n_classes == 1) else "softmax"
    if melanoma_class is None:
        if n_classes > 2 or (n_classes == 2 and form == "sigmoid"):
            raise ModelRefusedError(f"model {name!r} has {n_classes} {form} outputs; say "
                                    "which is melanoma with --melanoma-class K "
                                    "(melanoma_class=K)")
        melanoma_class = 0 if n_classes == 1 else 1
    if not 0 <= melanoma_class < n_classes:
        raise ModelRefusedError(f"--melanoma-class {melanoma_class} is not one of model "
                                f"{name!r}'s {n_classes} outputs")
    if versus_class is not None and (form != "softmax" or not 0 <= versus_class < n_classes
                                     or versus_class == melanoma_class):
        raise ModelRefusedError(f"--versus-class {versus_class} must be another of model "
                                f"{name!r}'s {n_classes} softmax classes")
    own = graphs.rescales_inside(graph)
    if own and preprocessing is not None:
        raise ModelRefusedError(f"model {name!r} has its own rescaling layer ({own!r}) and "
                                f"takes pixels in [0, 255]; drop --preprocessing "
                                f"{preprocessing}")
    if not own:
        if preprocessing is None:
            raise ModelRefusedError(
                f"model {name!r} has no rescaling layer of its own; say what its inputs "
                f"were with --preprocessing {{{','.join(PREPROCESSING)}}}")
        if preprocessing not in PREPROCESSING:
            raise ModelRefusedError(f"unknown --preprocessing {preprocessing!r}; choose from "
                                    f"{list(PREPROCESSING)}")
    if stage_every is not None and (isinstance(stage_every, bool) or int(stage_every) < 1):
        raise ModelRefusedError(f"--stage-every must be an integer >= 1, got {stage_every!r}")
    provisional = ModelAdapter(
        kind="keras", preprocessing="own" if own else str(preprocessing), output=form,
        outputs_logits=act == "linear", n_classes=n_classes,
        melanoma_class=int(melanoma_class),
        versus_class=None if versus_class is None else int(versus_class), layer=None,
        stages="every", stage_every=1, image_size=size, trusted=bool(trusted), source=source,
    )
    # Layers are looked up in the adapted graph: flat, as every explainer will see it.
    flat = adapt(model, provisional)
    found = graphs.feature_layer(flat)
    if layer is not None:
        try:
            chosen = flat.get_layer(layer)
        except ValueError:
            raise ModelRefusedError(f"model {name!r} has no layer {layer!r} (--layer)") from None
        if len(chosen.output.shape) != 4:
            raise ModelRefusedError(f"layer {layer!r} of model {name!r} outputs "
                                    f"{tuple(chosen.output.shape)}, not a 4-D feature map")
        found = layer
    if found is not None:
        grid = tuple(flat.get_layer(found).output.shape[1:3])
        if any(g is not None and g < 1 for g in grid):
            raise ModelRefusedError(f"model {name!r} at {size}x{size} pixels leaves layer "
                                    f"{found!r} no grid: its input is under the minimum for "
                                    "its layers")
    if graphs.is_inception(flat):
        stages = "paper"
    elif stage_every is None and graphs.named_blocks(flat):
        stages = "blocks"
    else:
        stages = "every"
    if stages == "every" and stage_every is None:
        stage_every = max(1, math.ceil(len(graphs.kernel_layers(flat)) / _MAX_STAGES))
    every = int(stage_every) if stages == "every" else None
    names = (None if stages == "paper"
             else tuple(n for n, _ in graphs.layer_groups(flat, every=every)))
    return replace(provisional, layer=found, stages=stages, stage_every=every,
                   stage_names=names)


# --------------------------------------------------------------------------- adaptation


def adapt(model: Any, adapter: ModelAdapter) -> Any:
    """The model in dermviz's contract: input ``image`` in [0, 255], output ``pred``.

    A dermviz member (:attr:`ModelAdapter.native`) is returned as it is. An imported
    model is rebuilt flat: an input ``image``, the preprocessing layer, every layer of
    the model (nested models unpacked; the last one without its activation), the
    melanoma logit and a sigmoid ``pred``; the weights are copied, the imported model
    is left unchanged. The adapter rides along as ``adapted.dermviz_adapter``.

    Raises
    ------
    ModelRefusedError
        The model's layer names clash with the adapter's own.
    """
    if adapter.native:
        return model
    import keras

    from dermviz.models.adapter_layers import InputPreprocessing, MelanomaLogit

    graph = _graph(model)
    own_names = {_INPUT, _PREPROCESS, _LOGIT, _PRED}
    clones: list[tuple[Any, Any]] = []
    head = _output_op(graph)

    def rebuild(sub: Any, inputs: list[Any]) -> Any:
        def operation_fn(op: Any) -> Any:
            if isinstance(op, keras.Model):
                inner = _graph(op)
                return lambda *args, **kwargs: rebuild(inner, list(args[:1]))
            if not isinstance(op, keras.layers.Layer):
                return op  # a stateless keras.ops operation
            is_head = op is head
            if is_head and isinstance(op, keras.layers.Activation | keras.layers.Softmax):
                return lambda x, *args, **kwargs: x  # the scores before the activation
            config = op.get_config()
            if is_head and "activation" in config:
                config["activation"] = "linear"
            if op.name in own_names:
                if not is_head:
                    raise ModelRefusedError(
                        f"model {model.name!r} has a layer named {op.name!r}, a name the "
                        "adapter gives its own layers; rename it before importing")
                config["name"] = f"{op.name}_scores"
            if isinstance(op, keras.layers.Lambda):  # a trusted file's code, not re-read
                clone = keras.layers.Lambda(op.function, arguments=op.arguments,
                                            name=config["name"])
            else:
                clone = type(op).from_config(config)
            clones.append((op, clone))
            return clone

        return sub._run_through_graph(inputs, operation_fn=operation_fn)

    size = adapter.image_size or int(graph.inputs[0].shape[1])
    image = keras.Input((size, size, 3), name=_INPUT)
    pixels = InputPreprocessing(adapter.preprocessing, name=_PREPROCESS)(image)
    scores = rebuild(graph, [pixels])
    if isinstance(scores, list | tuple):
        scores = scores[0]
    logit = MelanomaLogit(adapter.output, adapter.melanoma_class, adapter.versus_class,
                          name=_LOGIT)(scores)
    pred = keras.layers.Activation("sigmoid", name=_PRED, dtype="float32")(logit)
    adapted = keras.Model(image, pred, name=f"{model.name}_adapted")
    for source, clone in clones:
        if source.weights:
            clone.set_weights(source.get_weights())
    adapted.dermviz_adapter = adapter
    return adapted


def logit_tensor(model: Any) -> Any:
    """The melanoma logit of a model in dermviz's contract, as a symbolic tensor.

    A dermviz member: its ``pred`` Dense layer's input times its kernel plus its bias (what
    tf-keras-vis's ``ReplaceToLinear`` gives on a clone); an adapted model: the input of
    its sigmoid ``pred``.

    Raises
    ------
    ValueError
        The model's last layer is neither.
    """
    import keras

    head = model.layers[-1]
    if getattr(head, "activation", None) is not keras.activations.sigmoid:
        raise ValueError(f"the model's last layer must be a sigmoid Dense or Activation, got "
                         f"{head.name!r}")
    if isinstance(head, keras.layers.Activation):
        return head.input
    return keras.ops.matmul(head.input, head.kernel) + head.bias


def feature_tensor(model: Any) -> Any:
    """The penultimate features of a model in dermviz's contract (what embeddings read).

    A dermviz member: the input of ``pred``. An adapted model: the input of the layer that
    gives the class scores where it is a Dense layer, else the class scores.
    """
    import keras

    try:
        logit = model.get_layer(_LOGIT)
    except ValueError:
        return model.get_layer(_PRED).input
    scores_op = logit.input._keras_history.operation
    if isinstance(scores_op, keras.layers.Dense):
        return scores_op.input
    return logit.input
