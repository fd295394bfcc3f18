"""What every command shares: its registration, the models folder, the training data and
device options, the printed suite, and one-line errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dermviz import api
from dermviz.data.dataset import Dataset
from dermviz.data.synthetic import SyntheticConfig
from dermviz.models.precision_choice import ENV_VAR as PRECISION_ENV
from dermviz.models.precision_choice import MODES, requested_mode
from dermviz.models.suite import Suite, models_root

#: Errors a user can fix: printed as one line, exit status 2.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, FileNotFoundError, KeyError, RuntimeError, OSError,
)


def add_command(
    sub: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], None],
    help_text: str,
) -> argparse.ArgumentParser:
    """A subcommand whose parsed arguments run ``handler``."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; a user's error is one line on stderr (``--debug``: the
    traceback), an interruption says how to resume. Returns the exit status."""
    try:
        args.handler(args)
    except KeyboardInterrupt:
        print("dermviz: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if getattr(args, "debug", False):
            raise
        # A KeyError's str() is its repr: print the message itself.
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dermviz: error: {message}", file=sys.stderr)
        return 2
    return 0


def add_precision_argument(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """``--precision float32|bfloat16|auto``: the arithmetic members run and train in."""
    parser.add_argument(
        "--precision", choices=list(MODES), default=default,
        help="float32, bfloat16, or auto: the fastest that agrees with float32 on this CPU, "
        "measured at first use (default: $DERMVIZ_PRECISION, else auto)")


def apply_precision(args: argparse.Namespace) -> None:
    """Make ``--precision`` the process's (and its workers') ``DERMVIZ_PRECISION``."""
    precision = getattr(args, "precision", None)
    if precision is not None:
        os.environ[PRECISION_ENV] = precision
    requested_mode()  # a bad DERMVIZ_PRECISION fails here, in one line


def models_dir(args: argparse.Namespace) -> Path:
    """``--models-dir``, else ``$DERMVIZ_MODELS`` or ``./models``."""
    given = getattr(args, "models_dir", None)
    return Path(given) if given is not None else models_root()


def open_suite(args: argparse.Namespace) -> Suite:
    """The suite of ``--suite`` (a name under the models folder, or a folder)."""
    return api.open_suite(args.suite, root=models_dir(args))


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` and its options (``train``, ``search``)."""
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic', or a HAM10000 folder (metadata CSV + images)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="HAM10000: skip images listed in the metadata but absent")
    parser.add_argument("--synthetic-train", type=int, default=None,
                        help="synthetic data: size of the training pool")
    parser.add_argument("--synthetic-test", type=int, default=None,
                        help="synthetic data: size of the hold-out")
    parser.add_argument("--holdout", choices=["paper", "histo"], default="paper",
                        help="HAM10000: the paper's hold-out (default), or one drawn only from "
                        "histopathology-confirmed lesions (docs/confounders.md)")


def load_data(args: argparse.Namespace, *, synthetic: SyntheticConfig | None = None) -> Dataset:
    """The data set of :func:`add_data_arguments`' options (``synthetic``: the generator's
    config, default its own)."""
    return api.load_dataset(args.data, skip_missing=args.skip_missing,
                            n_train=args.synthetic_train, n_test=args.synthetic_test,
                            synthetic=synthetic, holdout=args.holdout)


def add_device_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                         *, what: str = "") -> None:
    """``--mixed-precision``, ``--xla`` and ``--deterministic`` (``train``, ``search``)."""
    parser.add_argument("--mixed-precision", choices=["auto", "on", "off"], default="auto",
                        help="float16 compute (auto: on GPUs)")
    parser.add_argument("--xla", choices=["auto", "on", "off"], default="auto",
                        help="XLA compilation (auto: Keras decides, on GPUs)")
    parser.add_argument("--deterministic", action="store_true",
                        help=f"TensorFlow op determinism{what} (slower on GPUs)")


def device(args: argparse.Namespace) -> dict[str, Any]:
    """The device options of :func:`add_device_arguments`, as training takes them."""
    return {"mixed_precision": args.mixed_precision, "xla": args.xla,
            "deterministic": args.deterministic}


def add_no_prepare(parser: argparse.ArgumentParser) -> None:
    """``--no-prepare``: a build without the clinicians' pages' data."""
    parser.add_argument(
        "--no-prepare", action="store_true",
        help="skip preparing what the clinicians' pages read (embeddings, the unusual-image "
        "check, similar cases); the pages prepare it in the background on first open, or run "
        "'dermviz prepare'")


def add_backend_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, workers_default: int | None,
    workers_help: str, backend_help: str,
) -> None:
    """``--workers``, ``--backend`` and ``--ray-address`` (``explain``, ``search``); the
    API function they are passed to checks them."""
    parser.add_argument("--workers", type=int, default=workers_default, help=workers_help)
    parser.add_argument("--backend", choices=["local", "ray"], default="local",
                        help=backend_help)
    parser.add_argument("--ray-address", "--address", dest="ray_address", default=None,
                        help="Ray cluster address (--backend ray; default: start Ray here)")


#: Hold-out metrics printed per member.
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "threshold")


def print_suite(suite: Suite, *, metrics: tuple[str, ...] = METRICS) -> None:
    """The suite's header line, one row of hold-out ``metrics`` per member, and a warning
    naming the members no better than chance on the hold-out."""
    table = suite.metrics_table()
    print(f"suite {suite.name} ({suite.path}): {suite.dataset_info['name']}, "
          f"{suite.image_size} px, {len(suite.member_ids)} member(s), "
          f"status {suite.manifest.get('status')}")
    if len(table):
        print(table[["member", *metrics]].to_string(
            index=False, float_format=lambda v: f"{v:.3f}"))
    at_chance = api.chance_warning(suite)
    if at_chance:
        print(f"warning: {at_chance}")


def split(value: str | None) -> list[str]:
    """A comma-separated option's items (none for None or blanks)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else []
