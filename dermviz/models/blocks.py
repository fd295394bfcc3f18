"""Keras-free facts about dermviz's InceptionV3 models, for layers that must stay light.

Importing this module imports nothing heavy, so the CLI, the pages and the
explain registry can name blocks and defaults without loading TensorFlow.
"""

from __future__ import annotations

#: The last Inception block: the paper's GradCAM target layer.
DEFAULT_TARGET_LAYER = "mixed10"
#: Inception block names, top to bottom; stable across Keras versions.
INCEPTION_BLOCKS = (
    "mixed10", "mixed9", "mixed8", "mixed7", "mixed6", "mixed5",
    "mixed4", "mixed3", "mixed2", "mixed1", "mixed0",
)
#: ``keras.applications.InceptionV3`` refuses smaller inputs.
MIN_IMAGE_SIZE = 75
