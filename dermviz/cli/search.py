"""``dermviz search``: a suite whose members come out of hyperparameter searches.

Examples::

    dermviz search --profile smoke --name search-smoke          # seconds per trial
    dermviz search --config suite.toml --data <HAM10000 folder> --name paper
    dermviz search --config suite.toml --name paper --backend ray --ray-address auto
    dermviz search --profile paper --write-config suite.toml     # a config to edit

Kill it at any moment (Ctrl-C, SIGKILL, a crashed machine) and run the same command
again: finished trials and members are kept, the rest is run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dermviz import api
from dermviz.cli.options import (
    add_backend_arguments,
    add_command,
    add_data_arguments,
    add_device_arguments,
    add_no_prepare,
    device,
    load_data,
    models_dir,
    print_suite,
)
from dermviz.models.search_config import (
    OBJECTIVES,
    PROFILES,
    PRUNERS,
    SAMPLERS,
    SearchConfig,
    SearchProfile,
)

__all__ = ["add_commands", "add_search_arguments", "resolve_config", "run_search"]


def add_commands(sub: argparse._SubParsersAction) -> None:
    """``search``."""
    add_search_arguments(add_command(
        sub, "search", run_search, "train a suite by hyperparameter search (Optuna)"))


def add_search_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``dermviz search``."""
    parser.add_argument("--name", help="suite name (folder under the models dir)")
    parser.add_argument("--config", type=Path,
                        help="suite config file (.toml/.yaml/.json: [train] and [search])")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="a ready-made config (default: 'default' when no --config)")
    parser.add_argument("--write-config", type=Path, metavar="PATH",
                        help="write the resolved config to PATH (.yaml or .json) and exit")
    add_data_arguments(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the suite and its studies first")
    add_no_prepare(parser)
    g = parser.add_argument_group("search (override the config file)")
    g.add_argument("--members", type=int, default=None)
    g.add_argument("--trials", type=int, default=None, help="trials per member")
    g.add_argument("--startup-trials", type=int, default=None, help="random trials first")
    g.add_argument("--seed", type=int, default=None, help="suite seed (member seeds derive)")
    g.add_argument("--image-size", type=int, default=None)
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--sampler", choices=SAMPLERS, default=None)
    g.add_argument("--objective", choices=OBJECTIVES, default=None)
    g.add_argument("--pruner", choices=PRUNERS, default=None)
    r = parser.add_argument_group("where trials run")
    r.add_argument("--storage", default=None,
                   help="Optuna storage URL (default: sqlite file search.db in the suite)")
    add_backend_arguments(r, workers_default=None,
                          workers_help="trials at once (local: default 1 or one per GPU; "
                          "ray: a cap)", backend_help="local trial processes, or Ray tasks")
    r.add_argument("--gpus", default="auto", help="'auto', 'none' or GPU ids '0,1'")
    add_device_arguments(r, what=" in every trial")
    r.add_argument("--no-progress", action="store_true")
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[SearchConfig, SearchProfile | None]:
    """The suite config from ``--config``/``--profile`` and the override flags."""
    profile = PROFILES[args.profile] if args.profile else None
    if args.config is not None:
        config = SearchConfig.from_file(args.config)
    else:
        profile = profile or PROFILES["default"]
        config = profile.config
    train = {k: v for k, v in {
        "n_members": args.members, "seed": args.seed, "image_size": args.image_size,
        "batch_size": args.batch_size,
    }.items() if v is not None}
    search = {k: v for k, v in {
        "n_trials": args.trials, "n_startup_trials": args.startup_trials,
        "sampler": args.sampler, "objective": args.objective, "pruner": args.pruner,
    }.items() if v is not None}
    if train or search:
        if "n_members" in train and config.seeds is not None:
            search["seeds"] = None
        config = config.replace(train=train, **search)
    return config, profile


def run_search(args: argparse.Namespace) -> None:
    """``dermviz search``: write the resolved config, or search the suite and print it."""
    config, profile = resolve_config(args)
    if args.write_config is not None:
        path = args.write_config
        if path.suffix == ".json":
            path.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        else:
            path.write_text(config.to_yaml())
        print(f"wrote {path}")
        return
    if not args.name:
        raise ValueError("--name is required (the suite's folder under the models dir)")
    api.check_weights(config.train.weights)  # fail before loading any data
    dataset = load_data(args, synthetic=profile.data if profile is not None else None)
    out = models_dir(args) / args.name
    progress = not args.no_progress
    if progress:
        print(f"search {args.name}: {config.n_members} member(s) x {config.n_trials} trial(s), "
              f"sampler {config.sampler}, objective {config.objective}, backend "
              f"{args.backend}; suite folder {out}", flush=True)
    suite = api.search_suite(
        dataset, config, out_dir=out, storage=args.storage, backend=args.backend,
        workers=args.workers, ray_address=args.ray_address, gpus=args.gpus,
        device=device(args), overwrite=args.overwrite, prepare=not args.no_prepare,
        progress=progress,
    )
    print_suite(suite, metrics=("auc", "accuracy", "sensitivity", "specificity", "brier",
                                "threshold"))
    if suite.member_ids:
        print("\nsuite (hold-out; variance and sd across members, ddof=1):")
        print(api.search_summary(suite)[["metric", "mean", "variance", "sd", "paper_mean",
                                         "reproduction_mean"]].to_string(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))
