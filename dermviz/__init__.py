"""dermviz: a saliency-inspection workbench for dermoscopy classifiers."""

__version__ = "0.1.0"
