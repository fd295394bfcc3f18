"""The shortcut probe: does a member read the lesion, or an artefact that came with the
label? Tables of accuracy with and without the artefact and of where the saliency sits."""

from __future__ import annotations

from typing import Any

from dermviz.analysis import probe
from dermviz.api.maps import method_defaults
from dermviz.api.suites import suite_dataset
from dermviz.models import profiles
from dermviz.models.suite import Suite

__all__ = ["probe_layers", "probe_tables"]


def probe_layers(suite: Suite, *, method: str = "gradcam") -> list[str]:
    """The layers the probe maps: the suite's own, then the probe's finer one (one entry
    when they are the same). The last is always the finer grid. An imported model: its
    GradCAM layer (none where it has no feature layer)."""
    adapter = suite.adapter(suite.member_ids[0]) if suite.member_ids else None
    if adapter is not None and not adapter.native:  # an imported model: its own layer only
        return [adapter.layer] if adapter.layer else []
    own = method_defaults(suite, method)["layer"]
    return list(dict.fromkeys([own, profiles.PROBE_FINE_LAYER]))


def probe_tables(suite: Suite, *, method: str = "gradcam",
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The probe's tables (:mod:`dermviz.analysis.probe`).

    Returns
    -------
    dict
        ``artefacts`` (the data set's artefact names; empty without synthetic artefacts),
        ``accuracy`` (per member and subset), ``shares`` (per member and image) and
        ``summary`` (per member), from ``method``'s maps with ``params`` (default: the
        suite's). Maps missing from the store are computed and stored first.
    """
    dataset = suite_dataset(suite)
    shares = probe.probe_table(suite, method=method, params=params, dataset=dataset)
    return {"artefacts": probe.suite_artefacts(dataset),
            "accuracy": probe.accuracy_by_artefact(suite, dataset=dataset),
            "shares": shares, "summary": probe.probe_summary(shares)}
