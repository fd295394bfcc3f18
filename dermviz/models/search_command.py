"""``dermviz search``: a suite whose members come out of hyperparameter searches.

Wiring (in :mod:`dermviz.cli`)::

    from dermviz.models.search_command import add_search_arguments, run_search
    add_search_arguments(_command(sub, "search", run_search,
                                  "train a suite by hyperparameter search (Optuna)"))

Also runs on its own: ``python -m dermviz.models.search_command --name NAME ...``.

Examples::

    dermviz search --profile smoke --name search-smoke          # seconds per trial
    dermviz search --config suite.toml --data <HAM10000 folder> --name paper
    dermviz search --config suite.toml --name paper --backend ray --address auto
    dermviz search --profile paper --write-config suite.toml     # a config to edit

Kill it at any moment (Ctrl-C, SIGKILL, a crashed machine) and run the same command
again: finished trials and members are kept, the rest is run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import load_ham10000
from dermviz.data.synthetic import SyntheticConfig, make_synthetic
from dermviz.models.backends import make_backend
from dermviz.models.search_config import (
    OBJECTIVES,
    PROFILES,
    PRUNERS,
    SAMPLERS,
    SearchConfig,
    SearchProfile,
)
from dermviz.models.suite import models_root

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def add_search_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--name", help="suite name (folder under the models dir)")
    parser.add_argument("--config", type=Path,
                        help="suite config file (.toml/.yaml/.json: [train] and [search])")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="a ready-made config (default: 'default' when no --config)")
    parser.add_argument("--write-config", type=Path, metavar="PATH",
                        help="write the resolved config to PATH (.yaml or .json) and exit")
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic', or a HAM10000 folder (metadata CSV + images)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="HAM10000: skip images listed in the metadata but absent")
    parser.add_argument("--synthetic-train", type=int, default=None)
    parser.add_argument("--synthetic-test", type=int, default=None)
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the suite and its studies first")
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
    r.add_argument("--backend", choices=["local", "ray"], default="local")
    r.add_argument("--address", default=None, help="Ray cluster address (ray backend)")
    r.add_argument("--workers", type=int, default=None,
                   help="trials at once (local: default 1 or one per GPU; ray: a cap)")
    r.add_argument("--gpus", default="auto", help="'auto', 'none' or GPU ids '0,1'")
    r.add_argument("--mixed-precision", choices=["auto", "on", "off"], default="auto")
    r.add_argument("--xla", choices=["auto", "on", "off"], default="auto")
    r.add_argument("--deterministic", action="store_true",
                   help="TensorFlow op determinism in every trial (slower on GPUs)")
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
    if config.train.weights != "none":
        from dermviz.models.inception import resolve_weights  # imports keras: only here

        resolve_weights(config.train.weights)
    # The search driver imports Optuna and scikit-learn (~1.5 s): `dermviz --help` and
    # `dermviz info`, which build this parser, must not pay for them.
    from dermviz.models.search import search_suite, summary_frame

    dataset = _load_data(args, profile)
    backend = make_backend(args.backend, workers=args.workers, address=args.address,
                           gpus=args.gpus)
    out = _models_dir(args) / args.name
    progress = not args.no_progress
    if progress:
        print(f"search {args.name}: {config.n_members} member(s) x {config.n_trials} trial(s), "
              f"sampler {config.sampler}, objective {config.objective}, backend "
              f"{args.backend}; suite folder {out}", flush=True)
    suite = search_suite(
        dataset, config, out_dir=out, storage=args.storage, backend=backend,
        device={"mixed_precision": args.mixed_precision, "xla": args.xla,
                "deterministic": args.deterministic},
        overwrite=args.overwrite, progress=progress,
    )
    table = suite.metrics_table()
    print(f"suite {suite.name} ({suite.path}): {len(suite.member_ids)} member(s), "
          f"status {suite.manifest.get('status')}")
    if len(table):
        cols = ["member", "auc", "accuracy", "sensitivity", "specificity", "brier", "threshold"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        summary = summary_frame(suite.manifest["members"])
        print("\nsuite (hold-out; variance and sd across members, ddof=1):")
        print(summary[["metric", "mean", "variance", "sd", "paper_mean",
                       "reproduction_mean"]].to_string(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))


def _models_dir(args: argparse.Namespace) -> Path:
    given = getattr(args, "models_dir", None)
    return Path(given) if given is not None else models_root()


def _load_data(args: argparse.Namespace, profile: SearchProfile | None) -> Dataset:
    if args.data == "synthetic":
        base = profile.data if profile is not None and profile.data is not None else (
            SyntheticConfig())
        sizes = {"n_train": args.synthetic_train, "n_test": args.synthetic_test}
        return make_synthetic(base, **{k: v for k, v in sizes.items() if v is not None})
    return load_ham10000(args.data, skip_missing=args.skip_missing)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (until ``dermviz search`` is wired into the CLI)."""
    parser = argparse.ArgumentParser(prog="dermviz search", description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--debug", action="store_true")
    add_search_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_search(args)
    except KeyboardInterrupt:
        print("dermviz: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, KeyError, RuntimeError, OSError) as exc:
        if args.debug:
            raise
        print(f"dermviz: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
