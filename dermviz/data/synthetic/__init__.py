"""Seeded synthetic dermoscopy images: the built-in demo data set.

No real data is available on a fresh machine, so the workbench ships a generator
that draws dermoscopy-like images with the same :class:`~dermviz.data.dataset.Dataset`
interface as the HAM10000 loader. Every image is a pure function of a few numbers
stored in its table row (``seed``, ``dx``, ``difficulty`` and the artefact flags),
so the table is tiny and pixels are rendered on demand (about 3 ms per image).

A lesion is drawn naevus-like or melanoma-like through one latent number, its
*atypia*; the ``difficulty`` sets how often that number ignores the label (0: the
classes are trivially separable, 1: indistinguishable). Optional spurious artefacts
(ink, ruler) appear with per-class, per-split rates, and their exact pixels are known.

The opt-in *evidence mode* (``SyntheticConfig(evidence=True)``) draws every lesion alike
and puts the class in local structures (melanoma-specific ones from the 7-point
checklist, or benign look-alikes) whose pixel masks are known, and renders any image
again without them (its counterfactual): docs/evidence-benchmark.md.

Modules
-------
``config``
    :class:`SyntheticConfig` and :class:`ArtefactSpec`: the schema and its checks.
``renderer``
    :func:`render_lesion`: one image and its lesion mask (what is drawn, the atypia,
    and how a new structure is added).
``assembly``
    :func:`make_synthetic`: splits, labels, artefact flags and seeds (determinism).
``artefacts``
    :func:`artefact_masks`, :func:`load_artefact_masks`: the artefacts' pixels.
``structures``
    The evidence mode's structures: names, families, how each is drawn.
``evidence``
    :func:`load_evidence_masks`, :func:`load_counterfactuals`: by image id, at model size.
``drawing``
    The primitives the renderer draws with (noise fields, blending).
"""

from dermviz.data.synthetic.artefacts import artefact_masks, load_artefact_masks
from dermviz.data.synthetic.assembly import SyntheticSource, make_synthetic
from dermviz.data.synthetic.config import (
    ARTEFACT_NAMES,
    ArtefactSpec,
    ArtefactSpecs,
    SyntheticConfig,
)
from dermviz.data.synthetic.evidence import EVIDENCE, load_counterfactuals, load_evidence_masks
from dermviz.data.synthetic.renderer import (
    evidence_structures,
    lesion_atypia,
    render_counterfactual,
    render_evidence,
    render_lesion,
)
from dermviz.data.synthetic.structures import MEL_STRUCTURES, NV_STRUCTURES, STRUCTURE_NAMES

__all__ = [
    "ARTEFACT_NAMES",
    "EVIDENCE",
    "MEL_STRUCTURES",
    "NV_STRUCTURES",
    "STRUCTURE_NAMES",
    "ArtefactSpec",
    "ArtefactSpecs",
    "SyntheticConfig",
    "SyntheticSource",
    "artefact_masks",
    "evidence_structures",
    "lesion_atypia",
    "load_artefact_masks",
    "load_counterfactuals",
    "load_evidence_masks",
    "make_synthetic",
    "render_counterfactual",
    "render_evidence",
    "render_lesion",
]
