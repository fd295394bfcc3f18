"""Command line: ``dermviz demo | probe | train | explain | info | search | sanity``.

Errors a user can fix are printed as one line (``dermviz: error: ...``) with
exit status 2; ``--debug`` shows the traceback instead. ``dermviz --help`` and
``dermviz info`` import no TensorFlow: the commands that train import their
engine when they run.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import load_ham10000
from dermviz.data.synthetic import ARTEFACT_NAMES, make_synthetic
from dermviz.demo import run_demo, run_probe
from dermviz.explain import precompute
from dermviz.explain.base import Explainer, available_methods, get_explainer
from dermviz.models.config import LR_SCHEDULES, TrainConfig
from dermviz.models.inception import resolve_weights
from dermviz.models.profiles import PROBE_ARTEFACT, PROBE_SIZES
from dermviz.models.search_command import add_search_arguments, run_search
from dermviz.models.suite import Suite, list_suites, models_root
from dermviz.sanity.command import add_sanity_arguments, run_sanity
from dermviz.store.status import StatusFile, set_status_sink

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, FileNotFoundError, KeyError, RuntimeError, OSError,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        args.handler(args)
    except KeyboardInterrupt:
        print("dermviz: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"dermviz: error: {message}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dermviz", description="Saliency-inspection workbench for dermoscopy classifiers."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--models-dir", type=Path, default=None,
        help="where suites live (default: $DERMVIZ_MODELS or ./models)",
    )
    sub = parser.add_subparsers(title="commands")

    demo = _command(sub, "demo", _demo, "build the demo suite on synthetic data")
    demo.add_argument("--profile", choices=["smoke", "default"], default="default")
    demo.add_argument("--name", default=None, help="suite name (default: demo or demo-smoke)")
    demo.add_argument("--overwrite", action="store_true", help="rebuild from scratch")
    demo.add_argument("--no-explain", action="store_true", help="skip GradCAM precomputation")
    demo.add_argument("--status-file", type=Path, default=None,
                      help="write live progress to this JSON file (the dashboard's builds)")

    probe = _command(sub, "probe", _probe, "build a spurious-correlation probe suite (an "
                     "artefact on every training melanoma; see docs/probe.md)")
    probe.add_argument("--size", choices=list(PROBE_SIZES), default="default",
                       help="smoke: seconds (tests); default: the demo's size (minutes)")
    probe.add_argument("--control", action="store_true",
                       help="the control: the artefact on half of each training class (no "
                       "correlation)")
    probe.add_argument("--artefact", choices=list(ARTEFACT_NAMES), default=PROBE_ARTEFACT,
                       help="the spurious artefact: an ink mark near the lesion (default) or a "
                       "ruler along one edge")
    probe.add_argument("--gradmask", type=float, default=None, metavar="LAMBDA",
                       help="train with GradMask at this weight (default: plain training)")
    probe.add_argument("--name", default=None,
                       help="suite name (default: "
                       "probe[-ruler][-control][-gradmask<LAMBDA>][-smoke])")
    probe.add_argument("--overwrite", action="store_true", help="rebuild from scratch")
    probe.add_argument("--no-explain", action="store_true", help="skip GradCAM precomputation")

    train = _command(sub, "train", _train, "train a suite on HAM10000 or synthetic data")
    train.add_argument("--config", type=Path, help="TOML/JSON file of training options")
    train.add_argument(
        "--data", default="synthetic",
        help="'synthetic', or a HAM10000 folder (metadata CSV + images)",
    )
    train.add_argument("--skip-missing", action="store_true",
                       help="HAM10000: skip images listed in the metadata but absent")
    train.add_argument("--name", required=True, help="suite name (folder under the models dir)")
    train.add_argument("--overwrite", action="store_true")
    for flag, kind in [
        ("image-size", int), ("members", int), ("epochs", int), ("batch-size", int),
        ("learning-rate", float), ("dense-units", int), ("dropout", float), ("seed", int),
        ("max-train", int), ("recipe", str), ("weights", str), ("gradcam-layer", str),
    ]:
        train.add_argument(f"--{flag}", type=kind, default=None)
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=None,
                       help="learning rate over the epochs (overrides the config)")
    train.add_argument("--synthetic-train", type=int, default=None,
                       help="synthetic data: size of the training pool")
    train.add_argument("--synthetic-test", type=int, default=None,
                       help="synthetic data: size of the hold-out")
    train.add_argument("--mixed-precision", choices=["auto", "on", "off"], default="auto",
                       help="float16 compute (auto: on GPUs)")
    train.add_argument("--xla", choices=["auto", "on", "off"], default="auto",
                       help="XLA compilation (auto: Keras decides, on GPUs)")
    train.add_argument("--deterministic", action="store_true",
                       help="TensorFlow op determinism (slower on GPUs)")

    explain = _command(sub, "explain", _explain, "precompute saliency maps for a suite")
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
    explain.add_argument("--workers", type=int, default=1,
                         help="worker processes (default 1: this process)")
    explain.add_argument("--backend", choices=["local", "ray"], default="local",
                         help="local process pool, or Ray tasks (needs ray[default])")
    explain.add_argument("--ray-address", default=None,
                         help="Ray cluster address (--backend ray; default: start Ray here)")

    _command(sub, "info", _info, "list suites and their hold-out metrics").add_argument(
        "--suite", default=None, help="show one suite's members"
    )

    add_search_arguments(
        _command(sub, "search", run_search, "train a suite by hyperparameter search (Optuna)")
    )

    add_sanity_arguments(
        _command(sub, "sanity", run_sanity, "run sanity-check studies on a suite")
    )
    return parser


def _command(
    sub: argparse._SubParsersAction, name: str, handler: Callable, help_text: str
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.set_defaults(handler=handler)
    return p


def _models_dir(args: argparse.Namespace) -> Path:
    return args.models_dir if args.models_dir is not None else models_root()


def _demo(args: argparse.Namespace) -> None:

    name = args.name or ("demo" if args.profile == "default" else f"demo-{args.profile}")
    status = StatusFile(args.status_file) if args.status_file else None
    set_status_sink(status)
    try:
        suite = run_demo(
            profile=args.profile, out_dir=_models_dir(args) / name, overwrite=args.overwrite,
            explain=not args.no_explain,
        )
    except BaseException as exc:
        if status is not None:
            status.finish(error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        set_status_sink(None)
    if status is not None:
        status.finish()
    _print_suite(suite)


def probe_name(*, size: str, control: bool, gradmask: float | None,
               artefact: str = PROBE_ARTEFACT) -> str:
    """The default suite name of ``dermviz probe``."""
    return ("probe" + ("" if artefact == PROBE_ARTEFACT else f"-{artefact}")
            + ("-control" if control else "")
            + (f"-gradmask{gradmask:g}" if gradmask is not None else "")
            + ("-smoke" if size == "smoke" else ""))


def _probe(args: argparse.Namespace) -> None:
    name = args.name or probe_name(size=args.size, control=args.control, gradmask=args.gradmask,
                                   artefact=args.artefact)
    suite = run_probe(size=args.size, correlated=not args.control, gradmask=args.gradmask,
                      artefact=args.artefact,
                      out_dir=_models_dir(args) / name, overwrite=args.overwrite,
                      explain=not args.no_explain)
    _print_suite(suite)


def _train(args: argparse.Namespace) -> None:
    # The training engine imports scikit-learn and TensorFlow: only `train` pays for them.
    from dermviz.models.training import train_suite

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    flags = {
        "image_size": args.image_size, "n_members": args.members, "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "dense_units": args.dense_units, "dropout": args.dropout, "seed": args.seed,
        "max_train": args.max_train, "recipe": args.recipe, "weights": args.weights,
        "gradcam_layer": args.gradcam_layer, "lr_schedule": args.lr_schedule,
    }
    config = config.replace(**{k: v for k, v in flags.items() if v is not None})
    if config.weights != "none":
        resolve_weights(config.weights)  # fail before loading any data
    dataset = _load_data(args)
    suite = train_suite(
        dataset, config, out_dir=_models_dir(args) / args.name, overwrite=args.overwrite,
        device={"mixed_precision": args.mixed_precision, "xla": args.xla,
                "deterministic": args.deterministic},
    )
    _print_suite(suite)


def _load_data(args: argparse.Namespace) -> Dataset:
    if args.data == "synthetic":
        sizes = {"n_train": args.synthetic_train, "n_test": args.synthetic_test}
        return make_synthetic(**{k: v for k, v in sizes.items() if v is not None})
    return load_ham10000(args.data, skip_missing=args.skip_missing)


#: Namespace prefix of method options, so they never clash with other flags' names.
_OPTION_DEST = "method_option_"


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


def _explain(args: argparse.Namespace) -> None:
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
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.ray_address and args.backend != "ray":
        raise ValueError("--ray-address needs --backend ray")
    suite = Suite.open(args.suite, root=_models_dir(args))
    counts = precompute.explain_suite(
        suite, method=args.method, params=params or None,
        members=args.members.split(",") if args.members else None,
        image_ids=args.images.split(",") if args.images else None,
        batch_size=args.batch_size, workers=args.workers, backend=args.backend,
        ray_address=args.ray_address,
    )
    print(f"{args.method}: computed {counts['computed']}, already cached {counts['cached']}")


def _info(args: argparse.Namespace) -> None:
    root = _models_dir(args)
    if args.suite:
        _print_suite(Suite.open(args.suite, root=root))
        return
    suites = list_suites(root)
    if not suites:
        print(f"no suites under {root}; build one with 'dermviz demo'")
        return
    for suite in suites:
        table = suite.metrics_table()
        auc = f"{table['auc'].mean():.3f}" if len(table) else "-"
        print(f"{suite.name:24s} {suite.dataset_info['name']:10s} "
              f"{len(suite.member_ids)} member(s)  mean hold-out AUC {auc}  "
              f"[{suite.manifest.get('status')}]")


def _print_suite(suite: Suite) -> None:
    table = suite.metrics_table()
    print(f"suite {suite.name} ({suite.path}): {suite.dataset_info['name']}, "
          f"{suite.image_size} px, status {suite.manifest.get('status')}")
    if len(table):
        cols = ["member", "auc", "accuracy", "sensitivity", "specificity", "threshold"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    sys.exit(main())
