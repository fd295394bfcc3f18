"""``dermviz explain``: precompute a suite's saliency maps into its map cache.

Each registered method's user options become flags (``--layer``, ``--nsamples``...),
typed like their defaults and refused with any other method.
"""

from __future__ import annotations

import argparse
import inspect

from dermviz import api
from dermviz.cli.options import add_backend_arguments, add_command, open_suite, split
from dermviz.explain.base import Explainer, available_methods, get_explainer

__all__ = ["add_commands", "method_options"]

#: Namespace prefix of method options, so they never clash with other flags' names.
_OPTION_DEST = "method_option_"


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``explain``."""
    explain = add_command(sub, "explain", _explain, "precompute saliency maps for a suite")
    explain.add_argument("--suite", required=True)
    methods = ", ".join(f"{m} ({get_explainer(m).display_name})" for m in available_methods())
    explain.add_argument("--method", default="gradcam",
                         help=f"saliency method: {methods}; default gradcam")
    for name, classes in method_options().items():
        explain.add_argument(
            _flag(name), dest=_OPTION_DEST + name, metavar=name.upper(),
            type=_option_type(name, classes), default=None,
            help=f"{' or '.join(c.name for c in classes)} only: "
            + "; ".join(dict.fromkeys(c.user_options[name] for c in classes)),
        )
    explain.add_argument("--members", default=None, help="comma-separated member ids")
    explain.add_argument("--images", default=None,
                         help="comma-separated image ids (default: the whole hold-out)")
    explain.add_argument("--batch-size", type=int, default=32)
    add_backend_arguments(explain, workers_default=1,
                          workers_help="worker processes (default 1: this process)",
                          backend_help="local process pool, or Ray tasks (needs ray[default])")


def method_options() -> dict[str, list[type[Explainer]]]:
    """Every registered method's user options: parameter name -> the methods that take it."""
    options: dict[str, list[type[Explainer]]] = {}
    for method in available_methods():
        cls = get_explainer(method)
        for name in cls.user_options:
            options.setdefault(name, []).append(cls)
    return options


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_type(name: str, classes: list[type[Explainer]]) -> type:
    """The type of a method option's value: that of its default (str when None).

    Read from the constructor's signature: a canonical parameter set may leave out an
    option at its default (KernelSHAP's ``sampler``, so old cache keys hold).
    """
    default = inspect.signature(classes[0].__init__).parameters[name].default
    return str if default is None else type(default)


def _method_params(args: argparse.Namespace) -> dict:
    """The method options given, each refused unless ``--method`` takes it."""
    if args.method not in available_methods():
        raise ValueError(f"unknown method {args.method!r}; choose from {available_methods()}")
    params = {}
    for name, classes in method_options().items():
        value = getattr(args, _OPTION_DEST + name)
        if value is None:
            continue
        takers = [c.name for c in classes]
        if args.method not in takers:
            raise ValueError(f"{_flag(name)} applies to --method {' or '.join(takers)} only, "
                             f"not {args.method}")
        params[name] = value
    return params


def _explain(args: argparse.Namespace) -> None:
    params = _method_params(args)
    # --workers and --ray-address are checked by explain_suite, before any work.
    counts = api.explain_suite(
        open_suite(args), method=args.method, params=params or None,
        members=split(args.members) or None, image_ids=split(args.images) or None,
        batch_size=args.batch_size, workers=args.workers, backend=args.backend,
        ray_address=args.ray_address,
    )
    print(f"{args.method}: computed {counts['computed']}, already cached {counts['cached']}")
