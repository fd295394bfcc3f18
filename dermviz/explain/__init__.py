"""Saliency methods behind one registry: ``get_explainer("gradcam")(model, ...)``.

Importing this package (listing methods, reading their metadata, reading cached
maps) imports no TensorFlow: method modules import it when they compute.
"""

from dermviz.explain.base import (
    Explainer,
    available_methods,
    get_explainer,
    make_explainer,
    register,
)
from dermviz.explain.cache import MapCache
from dermviz.explain.cams import GradCAMPlusPlus, LayerCAM, ScoreCAM
from dermviz.explain.gradcam import GradCAM
from dermviz.explain.kernelshap import KernelSHAP
from dermviz.explain.maps import SaliencyMaps

__all__ = [
    "Explainer",
    "GradCAM",
    "GradCAMPlusPlus",
    "KernelSHAP",
    "LayerCAM",
    "MapCache",
    "SaliencyMaps",
    "ScoreCAM",
    "available_methods",
    "get_explainer",
    "make_explainer",
    "register",
]
