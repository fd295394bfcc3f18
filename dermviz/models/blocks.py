"""Keras-free facts about dermviz's InceptionV3 models, for layers that must stay light.

Importing this module imports nothing heavy, so the CLI, the pages and the
explain registry can name blocks and defaults, and the sanity checks the paper's
randomization stages, without loading TensorFlow. Finding them in a model's
graph is :mod:`dermviz.models.graph`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The last Inception block: the paper's GradCAM target layer.
DEFAULT_TARGET_LAYER = "mixed10"
#: Inception block names, top to bottom; stable across Keras versions.
INCEPTION_BLOCKS = (
    "mixed10", "mixed9", "mixed8", "mixed7", "mixed6", "mixed5",
    "mixed4", "mixed3", "mixed2", "mixed1", "mixed0",
)
#: ``keras.applications.InceptionV3`` refuses smaller inputs.
MIN_IMAGE_SIZE = 75


@dataclass(frozen=True)
class PaperStage:
    """One of the paper's six randomization stages (docs/protocol.md §10.2).

    Attributes
    ----------
    role : str
        Stable, structural stage name used by dermviz (e.g. ``"mixed9/branch1x1/conv"``).
    paper_name : str
        The Keras 2.2.4 auto name the paper used (``"conv2d_77"``); display only.
    description : str
        Where the layer sits.
    filters : int or None
        Output channels the found conv must have (None for the head).
    """

    role: str
    paper_name: str
    description: str
    filters: int | None


#: The cascade of Young et al. (iMIMIC 2019), top-down; found in a model by
#: :func:`dermviz.models.graph.paper_stages`.
PAPER_STAGES: tuple[PaperStage, ...] = (
    PaperStage("head_dense", "dense_1", "head fully connected layer (ReLU)", None),
    PaperStage(
        "mixed10/branch_pool/conv", "conv2d_94", "mixed10, branch_pool 1x1 conv; the last conv", 192
    ),
    PaperStage(
        "mixed9/branch1x1/conv", "conv2d_77", "mixed9, branch1x1 conv; first conv of mixed9", 320
    ),
    PaperStage(
        "mixed7/branch7x7dbl/conv1", "conv2d_65", "mixed7, first 1x1 conv of branch7x7dbl", 192
    ),
    PaperStage(
        "mixed6/branch1x1/conv", "conv2d_51", "mixed6, branch1x1 conv; first conv of mixed6", 192
    ),
    PaperStage("stem/conv1", "conv2d_1", "stem, first 3x3/2 conv", 32),
)
