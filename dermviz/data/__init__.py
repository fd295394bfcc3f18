"""Data sets: HAM10000 (real) and a synthetic dermoscopy generator (built-in demo)."""

from dermviz.data.dataset import CLASS_NAMES, LABELS, Dataset, ImageSource

__all__ = ["CLASS_NAMES", "LABELS", "Dataset", "ImageSource"]
