"""Command line: ``dermviz demo | probe | train | import | info | explain | search | sanity |
evaluate | confounders``.

One module per command group, each a thin caller of :mod:`dermviz.api`:
:mod:`~dermviz.cli.suite` (demo, probe, train, import, prepare, info), :mod:`~dermviz.cli.explain`,
:mod:`~dermviz.cli.sanity`, :mod:`~dermviz.cli.evaluate`, :mod:`~dermviz.cli.search` and
:mod:`~dermviz.cli.confounders`; what they share is
:mod:`~dermviz.cli.options`.

Errors a user can fix are printed as one line (``dermviz: error: ...``) with
exit status 2; ``--debug`` shows the traceback instead. ``dermviz --help`` and
``dermviz info`` import no TensorFlow: the commands that train import their
engine when they run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from dermviz.cli import confounders, evaluate, explain, sanity, search, suite
from dermviz.cli.options import add_precision_argument, apply_precision, run
from dermviz.cli.suite import probe_name

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__all__ = ["build_parser", "main", "probe_name"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dermviz`` with ``argv`` (default: the process's); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    apply_precision(args)
    return run(args)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="dermviz", description="Saliency-inspection workbench for dermoscopy classifiers."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--models-dir", type=Path, default=None,
        help="where suites live (default: $DERMVIZ_MODELS or ./models)",
    )
    add_precision_argument(parser, default=None)
    sub = parser.add_subparsers(title="commands")
    suite.add_commands(sub)
    explain.add_commands(sub)
    search.add_commands(sub)
    sanity.add_commands(sub)
    evaluate.add_commands(sub)
    confounders.add_commands(sub)
    for command in sub.choices.values():  # also after the command: dermviz train --precision
        add_precision_argument(command, default=argparse.SUPPRESS)
    return parser
