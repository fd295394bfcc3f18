"""``dermviz demo | probe | train | import | prepare | info``: build suites, and list them."""

from __future__ import annotations

import argparse
from pathlib import Path

from dermviz import api
from dermviz.cli.options import (
    add_command,
    add_data_arguments,
    add_device_arguments,
    add_no_prepare,
    device,
    load_data,
    models_dir,
    open_suite,
    print_suite,
)
from dermviz.data.synthetic import ARTEFACT_NAMES
from dermviz.models.adapter import PREPROCESSING
from dermviz.models.config import LR_SCHEDULES, TrainConfig
from dermviz.models.profiles import PROBE_ARTEFACT, PROBE_SIZES

__all__ = ["add_commands", "probe_name"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``demo``, ``probe``, ``train`` and ``info``."""
    demo = add_command(sub, "demo", _demo, "build the demo suite on synthetic data")
    demo.add_argument("--profile", choices=["smoke", "default"], default="default")
    demo.add_argument("--name", default=None, help="suite name (default: demo or demo-smoke)")
    demo.add_argument("--overwrite", action="store_true", help="rebuild from scratch")
    demo.add_argument("--no-explain", action="store_true", help="skip GradCAM precomputation")
    add_no_prepare(demo)
    demo.add_argument("--status-file", type=Path, default=None,
                      help="write live progress to this JSON file (the dashboard's builds)")

    probe = add_command(sub, "probe", _probe, "build a spurious-correlation probe suite (an "
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
    add_no_prepare(probe)

    train = add_command(sub, "train", _train, "train a suite on HAM10000 or synthetic data")
    train.add_argument("--config", type=Path, help="TOML/JSON file of training options")
    add_data_arguments(train)
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
    add_device_arguments(train)
    add_no_prepare(train)

    imp = add_command(sub, "import", _import, "build a suite from Keras classifiers trained "
                      "elsewhere ('bring your own model'; see README)")
    imp.add_argument("name", help="suite name (folder under the models dir)")
    add_data_arguments(imp)
    imp.add_argument("--model", dest="models", action="append", type=Path, required=True,
                     metavar="FILE", help=".keras or .h5 file; repeat for several members")
    imp.add_argument("--preprocessing", choices=list(PREPROCESSING), default=None,
                     help="what the model's inputs were, for a model without its own "
                     "rescaling layer: raw [0, 255], unit [0, 1], tf [-1, 1], caffe or torch "
                     "(ImageNet normalisations)")
    imp.add_argument("--melanoma-class", type=int, default=None, metavar="K",
                     help="the melanoma output unit (needed for more than two outputs; "
                     "default 1 for a two-class softmax)")
    imp.add_argument("--versus-class", type=int, default=None, metavar="J",
                     help="softmax: the negative class (default: every other class)")
    imp.add_argument("--layer", default=None,
                     help="GradCAM's feature layer (default: the last 4-D output after a "
                     "convolution)")
    imp.add_argument("--stage-every", type=int, default=None, metavar="K",
                     help="randomization stages of every K weighted layers (default: the "
                     "model's named blocks, else at most 8 stages)")
    imp.add_argument("--trust-model-code", action="store_true",
                     help="load with Keras' safe mode off: Lambda layers run their Python "
                     "code (only for files you trust)")
    imp.add_argument("--overwrite", action="store_true", help="replace a suite of that name")
    add_no_prepare(imp)

    prepare = add_command(sub, "prepare", _prepare, "prepare what the clinicians' pages "
                          "read for a suite built before they did (embeddings, the "
                          "out-of-distribution calibration, similar cases, thumbnails)")
    prepare.add_argument("suite", help="suite name (folder under the models dir)")
    prepare.add_argument("--status-file", type=Path, default=None,
                         help="write live progress to this JSON file (the dashboard's jobs)")

    info = add_command(sub, "info", _info, "list suites and their hold-out metrics, and "
                       "the arithmetic each member runs in on this CPU")
    info.add_argument("--suite", default=None, help="show one suite's members")
    info.add_argument("--measure", action="store_true",
                      help="with --suite: measure the precision choice of members not "
                      "measured yet (and a forced precision's disagreement) now")


def _demo(args: argparse.Namespace) -> None:
    name = args.name or ("demo" if args.profile == "default" else f"demo-{args.profile}")
    print_suite(api.build_demo(
        profile=args.profile, out_dir=models_dir(args) / name, overwrite=args.overwrite,
        explain=not args.no_explain, prepare=not args.no_prepare, status_file=args.status_file,
    ))


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
    print_suite(api.build_probe(
        size=args.size, correlated=not args.control, gradmask=args.gradmask,
        artefact=args.artefact, out_dir=models_dir(args) / name, overwrite=args.overwrite,
        explain=not args.no_explain, prepare=not args.no_prepare,
    ))


def _train(args: argparse.Namespace) -> None:
    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    flags = {
        "image_size": args.image_size, "n_members": args.members, "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "dense_units": args.dense_units, "dropout": args.dropout, "seed": args.seed,
        "max_train": args.max_train, "recipe": args.recipe, "weights": args.weights,
        "gradcam_layer": args.gradcam_layer, "lr_schedule": args.lr_schedule,
    }
    config = config.replace(**{k: v for k, v in flags.items() if v is not None})
    api.check_weights(config.weights)  # fail before loading any data
    print_suite(api.train_suite(
        load_data(args), config, out_dir=models_dir(args) / args.name,
        overwrite=args.overwrite, device=device(args), prepare=not args.no_prepare,
    ))


def _import(args: argparse.Namespace) -> None:
    print_suite(api.import_suite(
        load_data(args), args.models, out_dir=models_dir(args) / args.name, name=args.name,
        preprocessing=args.preprocessing, melanoma_class=args.melanoma_class,
        versus_class=args.versus_class, layer=args.layer, stage_every=args.stage_every,
        trusted=args.trust_model_code, overwrite=args.overwrite, prepare=not args.no_prepare,
    ))


def _prepare(args: argparse.Namespace) -> None:
    suite = api.open_suite(args.suite, root=models_dir(args))
    if api.prepare_suite(suite, status_file=args.status_file):
        print(f"prepared {suite.path / 'safety'}")
    else:
        print(f"suite {suite.name!r}: its data cannot calibrate the out-of-distribution score")


def _info(args: argparse.Namespace) -> None:
    print(precision_line())
    if args.suite:
        suite = open_suite(args)
        print_suite(suite)
        for mid in suite.member_ids:
            choice = suite.precision_choice(mid, measure=args.measure)
            print(f"  {mid} runs in {choice.describe()}")
        return
    root = models_dir(args)
    suites = api.list_suites(root)
    if not suites:
        print(f"no suites under {root}; build one with 'dermviz demo'")
        return
    for suite in suites:
        table = suite.metrics_table()
        auc = f"{table['auc'].mean():.3f}" if len(table) else "-"
        print(f"{suite.name:24s} {suite.dataset_info['name']:10s} "
              f"{len(suite.member_ids)} member(s)  mean hold-out AUC {auc}  "
              f"[{suite.manifest.get('status')}]")


def precision_line(cpuinfo: str | None = None) -> str:
    """What ``dermviz info`` says first: the precision asked for, and this CPU's bfloat16."""
    from dermviz.models.precision import native_bfloat16
    from dermviz.models.precision_choice import ENV_VAR, requested_mode

    flags = native_bfloat16(cpuinfo)
    cpu = ("bfloat16 native (" + ", ".join(flags) + ")" if flags
           else "bfloat16 emulated (slow): auto keeps float32")
    return (f"precision: {requested_mode()} (--precision or ${ENV_VAR}); this CPU: {cpu}. "
            "Each member's choice: dermviz info --suite NAME")
