"""Saliency methods behind one registry: ``get_explainer("gradcam")(model, ...)``."""

from dermviz.explain.base import (
    Explainer,
    SaliencyMaps,
    available_methods,
    get_explainer,
    register,
)
from dermviz.explain.gradcam import GradCAM
from dermviz.explain.kernelshap import KernelSHAP

__all__ = [
    "Explainer",
    "GradCAM",
    "KernelSHAP",
    "SaliencyMaps",
    "available_methods",
    "get_explainer",
    "register",
]
