"""The service layer: what the notebook, the dashboard and the command line call.

Everything is also reachable from ``dermviz`` itself::

    import dermviz
    suite = dermviz.open_suite("demo")
    maps = dermviz.saliency(suite, dermviz.holdout(suite).image_id[:4], method="gradcam")
    study = dermviz.sanity_check(suite, "reproducibility")
    study.comparison_table()

A :class:`Suite` is opened once and passed as an object; the members and the data set it
loads stay with it. Maps go through the suite's map cache: computed once, read back after.
Sanity checks go through the one sanity runner and its cache. Tables are pandas
DataFrames. Importing this package imports no TensorFlow; computing a map or a check does.

One module per concept, each listing its names in ``__all__``; this file only re-exports
them: :mod:`~dermviz.api.suites`, :mod:`~dermviz.api.images`, :mod:`~dermviz.api.maps`,
:mod:`~dermviz.api.analysis`, :mod:`~dermviz.api.clinic`, :mod:`~dermviz.api.confounders`,
:mod:`~dermviz.api.evidence` (the evidence benchmark's masks and counterfactuals),
:mod:`~dermviz.api.evaluation` (the report card of explanation methods),
:mod:`~dermviz.api.probe`, :mod:`~dermviz.api.sanity`, :mod:`~dermviz.api.background`, and
:mod:`~dermviz.api.build` (building suites and their maps: what the command line calls).
"""

from dermviz.api import (
    analysis,
    background,
    build,
    clinic,
    confounders,
    evaluation,
    evidence,
    images,
    maps,
    probe,
    safety,
    sanity,
    suites,
)
from dermviz.api.analysis import *  # noqa: F403
from dermviz.api.background import *  # noqa: F403
from dermviz.api.build import *  # noqa: F403
from dermviz.api.clinic import *  # noqa: F403
from dermviz.api.confounders import *  # noqa: F403
from dermviz.api.evaluation import *  # noqa: F403
from dermviz.api.evidence import *  # noqa: F403
from dermviz.api.images import *  # noqa: F403
from dermviz.api.maps import *  # noqa: F403
from dermviz.api.probe import *  # noqa: F403
from dermviz.api.safety import *  # noqa: F403
from dermviz.api.sanity import *  # noqa: F403
from dermviz.api.suites import *  # noqa: F403

__all__ = [
    *analysis.__all__,
    *background.__all__,
    *build.__all__,
    *clinic.__all__,
    *confounders.__all__,
    *evaluation.__all__,
    *evidence.__all__,
    *images.__all__,
    *maps.__all__,
    *probe.__all__,
    *safety.__all__,
    *sanity.__all__,
    *suites.__all__,
]
