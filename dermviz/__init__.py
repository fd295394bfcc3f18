"""dermviz: a saliency-inspection workbench for dermoscopy classifiers.

The notebook API (:mod:`dermviz.api`) is available from here: ``dermviz.open_suite``,
``dermviz.explain``, ``dermviz.sanity_check``, ``dermviz.evaluate``,
``dermviz.statistics``... It is loaded on
first use, so ``import dermviz`` stays light (no TensorFlow until a model is needed).
"""

from typing import Any

from dermviz._version import __version__

_API = ("available_methods", "chance_sentence", "evaluate", "holdout", "lesions", "list_suites",
        "localization", "method_defaults", "open_suite", "predictions", "saliency",
        "sanity_check", "statistics")

__all__ = ["__version__", *_API]
# (The maps function is `saliency`, not `explain`: `dermviz.explain` is the subpackage.)


def __getattr__(name: str) -> Any:
    if name in _API:
        from dermviz import api  # deferred: `import dermviz` must not pay for the stack

        return getattr(api, name)
    raise AttributeError(f"module 'dermviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
