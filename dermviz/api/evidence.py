"""The evidence benchmark in the dashboard: a hold-out image's evidence mask, the image
without its evidence and the members' verdicts on both.

Only evidence-mode synthetic suites have evidence (``make_synthetic(evidence=True)``,
docs/evidence-benchmark.md): there the class is carried by a few local structures whose
pixels are known, so a map can be checked against them. Every function here answers
None (or False) for any other suite, so a page can ask without knowing the suite's kind.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dermviz.analysis.evidence import evidence_mass_by_stage
from dermviz.analysis.lesion_localization import localization_by_image, stored_maps
from dermviz.api.suites import suite_dataset
from dermviz.data.synthetic import EVIDENCE, load_counterfactuals, load_evidence_masks
from dermviz.data.synthetic.assembly import SyntheticSource
from dermviz.data.synthetic.structures import STRUCTURE_NAMES
from dermviz.explain.base import get_explainer
from dermviz.models.suite import Suite

__all__ = [
    "EVIDENCE",
    "EVIDENCE_REGION",
    "drop_sentence",
    "evidence_counterfactual",
    "evidence_by_stage",
    "evidence_localization",
    "evidence_masks",
    "has_evidence",
]

#: The region name of the evidence columns of :func:`evidence_localization`
#: (``<method>_evidence_mass``, ``..._misses``; ``evidence_share`` is chance).
EVIDENCE_REGION = "evidence"


def has_evidence(suite: Suite) -> bool:
    """Whether the suite's hold-out images carry evidence masks (an evidence-mode
    synthetic data set)."""
    dataset = suite_dataset(suite)
    source = dataset.source
    if not isinstance(source, SyntheticSource):
        return False
    holdout = dataset.holdout
    if "evidence" in holdout.columns:
        return bool(holdout["evidence"].astype(bool).all()) and len(holdout) > 0
    return bool(source.config.evidence)


def evidence_masks(suite: Suite, image_id: str) -> dict[str, np.ndarray] | None:
    """One image's evidence at the suite's size, or None where it has none.

    Returns
    -------
    dict of str to ndarray of bool (size, size), or None
        ``"evidence"`` (the union of the structures), then each structure the image
        carries, by name (:data:`dermviz.data.synthetic.structures.STRUCTURE_NAMES`).
    """
    if not has_evidence(suite):
        return None
    masks = load_evidence_masks(suite_dataset(suite), [image_id], size=suite.image_size)
    drawn = {name: masks[name][0] for name in STRUCTURE_NAMES if masks[name][0].any()}
    return {EVIDENCE: masks[EVIDENCE][0], **drawn}


def evidence_counterfactual(suite: Suite, image_id: str) -> dict[str, Any] | None:
    """One image without its evidence, and every member's verdict on both; None for a
    suite without evidence.

    The counterfactual is the same scene rendered again without its structures (same
    lesion, hairs, artefacts and noise), so the drop in p(melanoma) is what the evidence
    was worth to each member.

    Returns
    -------
    dict or None
        ``image`` and ``without_evidence`` (uint8 ``(size, size, 3)``), ``table`` (one
        row per member: ``member``, ``threshold``, ``p_image``, ``p_without``, ``drop``,
        ``call_image``, ``call_without``) and ``sentence`` (the drop in words).
    """
    if not has_evidence(suite):
        return None
    from dermviz.models.predict import predict_proba  # loads TensorFlow

    dataset = suite_dataset(suite)
    image = dataset.load_images([image_id], size=suite.image_size)
    without = load_counterfactuals(dataset, [image_id], size=suite.image_size)
    pair = np.concatenate([image, without])
    rows = []
    for member in suite.member_ids:
        p_image, p_without = (float(v) for v in predict_proba(suite.model(member), pair))
        threshold = suite.threshold(member)
        rows.append({
            "member": member, "threshold": threshold, "p_image": p_image,
            "p_without": p_without, "drop": p_image - p_without,
            "call_image": "melanoma" if p_image >= threshold else "naevus",
            "call_without": "melanoma" if p_without >= threshold else "naevus",
        })
    table = pd.DataFrame(rows)
    return {"image": image[0], "without_evidence": without[0], "table": table,
            "sentence": drop_sentence(table)}


def drop_sentence(table: pd.DataFrame) -> str:
    """What removing the evidence did to the members' p(melanoma), in words."""
    if table.empty:
        return "No member to ask."
    mean = float(table["drop"].mean())
    flipped = table[(table["call_image"] == "melanoma") & (table["call_without"] == "naevus")]
    n = len(table)
    text = (f"Removing the evidence moves the members' mean p(melanoma) by {-mean:+.3f} "
            f"(from {table['p_image'].mean():.3f} to {table['p_without'].mean():.3f}).")
    if len(flipped):
        text += (f" {len(flipped)} of {n} member(s) change a melanoma call to naevus: "
                 "their call rested on the evidence.")
    elif abs(mean) < 0.05:
        text += (" Under 0.05: the members' verdicts do not rest on the evidence, so their "
                 "maps cannot be expected to point at it.")
    return text


def evidence_localization(suite: Suite, *, method: str = "gradcam") -> pd.DataFrame | None:
    """Per hold-out image, the members' **stored** ``method`` maps scored against the
    evidence mask (nothing is computed); None for a suite without evidence.

    Returns
    -------
    DataFrame or None
        ``image_id``, ``evidence_share`` (chance) and ``<method>_evidence_mass``,
        ``_pointing``, ``_maps`` and ``_misses`` (the mean mass no more than chance, or the peak
        off the evidence for most members;
        :func:`~dermviz.analysis.lesion_localization.localization_by_image`).
    """
    if not has_evidence(suite):
        return None
    dataset = suite_dataset(suite)
    ids = [str(i) for i in dataset.holdout["image_id"]]
    masks = load_evidence_masks(dataset, ids, size=suite.image_size)[EVIDENCE]
    maps = stored_maps(suite, ids, method=method)
    return localization_by_image(maps, dict(zip(ids, masks, strict=True)), method=method,
                                 signed=get_explainer(method).signed, region=EVIDENCE_REGION)


def evidence_by_stage(suite: Suite, result: Any) -> pd.DataFrame | None:
    """Sanity meets truth: a randomization study's maps, stage by stage, scored against
    the evidence of its images (:func:`dermviz.analysis.evidence.evidence_mass_by_stage`);
    None for a suite without evidence.

    ``result`` is a layer-randomization study of ``suite`` (``kind`` ``"randomization"``
    or ``"smprt"``, :func:`dermviz.api.sanity_check`): the trained model's maps should
    put more than chance on the evidence its verdict rests on, and the randomized
    model's no more than chance.
    """
    if not has_evidence(suite):
        return None
    masks = load_evidence_masks(suite_dataset(suite), list(result.image_ids),
                                size=suite.image_size)[EVIDENCE]
    return evidence_mass_by_stage(result.maps, masks, stage_names=result.stage_names,
                                  signed=result.signed)
