"""Maps that show nothing: empty or constant saliency maps, and the words to show instead.

A CAM is the ReLU of a weighted sum of feature maps; when no location raises the
member's score for the class it predicts, every value is cut to zero and the map is
empty (on the demo suite a member's GradCAM is empty on up to 12.5% of the hold-out). A
constant map has no "where" either. Painted with a colour map, both become a uniform
square that looks like a map; the pages should say in words what happened instead
(:func:`degenerate_map_sentence`), and statistics over maps should skip them
(:func:`dermviz.explain.consensus.map_consensus` with ``skip_degenerate=True``).
"""

from __future__ import annotations

import numpy as np

#: Default tolerance of :func:`is_degenerate_map`, on the map's own scale (CAMs lie in
#: [0, 1]; SHAP values are differences of p, so a spread under 1e-6 changes nothing shown).
DEGENERATE_ATOL = 1e-6


def is_degenerate_map(saliency: np.ndarray, *, atol: float = DEGENERATE_ATOL) -> bool:
    """Whether a map is empty or constant: its largest and smallest values differ by at
    most ``atol``.

    Parameters
    ----------
    saliency : ndarray, (H, W)
        One map, finite.
    atol : float
        Absolute tolerance (>= 0).

    Examples
    --------
    >>> is_degenerate_map(np.zeros((4, 4)))
    True
    >>> is_degenerate_map(np.eye(4))
    False
    """
    m = np.asarray(saliency)
    if m.ndim != 2 or not m.size:
        raise ValueError(f"expected one non-empty (H, W) map, got shape {m.shape}")
    if not np.issubdtype(m.dtype, np.number) or np.issubdtype(m.dtype, np.complexfloating):
        raise ValueError(f"a map must hold real numbers, got dtype {m.dtype}")
    if not np.isfinite(m).all():
        raise ValueError("the map holds NaN or infinite values")
    if not (np.isfinite(atol) and atol >= 0):
        raise ValueError(f"atol must be a finite number >= 0, got {atol}")
    return bool(float(m.max()) - float(m.min()) <= atol)


def degenerate_map_sentence(method: str, *, signed: bool) -> str:
    """What to show in place of an empty or constant map of ``method`` (its display name).

    Parameters
    ----------
    method : str
        The method's display name, e.g. ``"GradCAM"``.
    signed : bool
        Whether the method's maps are signed (SHAP: no superpixel changed the score) or
        non-negative (CAMs: nothing raised it; the ReLU cut everything).
    """
    if signed:
        return (f"{method} found no superpixel that changes this member's score more than "
                "any other: the map is flat, so there is nothing to show.")
    return (f"{method} found no region that raises this member's score for the class it "
            "predicts: the map is flat, so there is nothing to show.")
