"""Benchmark: the default demo, end to end, and how well its GradCAM maps find the lesion.

Builds the demo suite from scratch (timed), then, for the hold-out images every member
classifies correctly, compares the share of GradCAM mass inside the lesion mask with the
mask's share of the image (chance) and with a centred Gaussian (no model at all).
Appends a section to benchmarks/RESULTS.md.

    python benchmarks/bench_demo.py [--profile default|smoke] [--out /tmp/bench-models]
        [--set epochs=4 --set n_train=480 ...] [--no-write]

``--set KEY=VALUE`` tries a variant of the profile: a training option
(:class:`dermviz.models.config.TrainConfig`), a data option
(:class:`dermviz.data.synthetic.SyntheticConfig`) or ``xla`` (auto, on, off); the
section's title names the variant.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import provenance, write_section  # noqa: E402
from dermviz.models.profiles import TrainProfile  # noqa: E402


def variant(profile: TrainProfile, settings: list[str]) -> tuple[TrainProfile, dict]:
    """``profile`` with ``KEY=VALUE`` settings applied to its training or data options."""
    import json
    from dataclasses import fields, replace

    train, data, changes = {}, {}, {}
    data_fields = {f.name for f in fields(profile.data)}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key == "xla":
            profile = replace(profile, xla=str(value))
        elif key in profile.train.to_dict():
            train[key] = value
        elif key in data_fields:
            data[key] = value
        else:
            raise SystemExit(f"--set {key}: not a training or data option")
        changes[key] = value
    return replace(profile, train=profile.train.replace(**train),
                   data=replace(profile.data, **data)), changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=["default", "smoke"])
    parser.add_argument("--out", type=Path, default=None, help="models dir (default: temp)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a training or data option of a variant of the profile")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    from dermviz.analysis.localization import centre_prior, mask_share, mass_in_mask
    from dermviz.analysis.verdicts import verdicts
    from dermviz.demo import PROFILES, run_demo
    from dermviz.explain.cache import MapCache
    from dermviz.explain.precompute import default_params

    cfg, changes = variant(PROFILES[args.profile], args.set)
    label = args.profile + "".join(f", {k}={v}" for k, v in changes.items())
    out = args.out or Path(tempfile.mkdtemp(prefix="dermviz-bench-"))
    start = time.perf_counter()
    suite = run_demo(profile=cfg, out_dir=out / f"demo-{args.profile}", overwrite=True)
    wall = time.perf_counter() - start

    metrics = suite.metrics_table()
    table = verdicts(suite)
    right_everywhere = table.groupby("image_id")["correct"].all()
    ids = right_everywhere[right_everywhere].index.tolist()
    dataset = suite.dataset()
    masks = dataset.load_masks(ids, size=suite.image_size)
    params = default_params(suite, "gradcam")
    rows = []
    cache = MapCache.of(suite)
    for member in suite.member_ids:
        maps = np.stack([cache.get(member, i, "gradcam", params).maps[0] for i in ids])
        rows.append(np.nanmean(mass_in_mask(maps, masks)))
    chance = float(mask_share(masks).mean())
    prior = centre_prior((suite.image_size, suite.image_size))
    prior_score = float(np.nanmean(mass_in_mask(np.broadcast_to(prior, masks.shape), masks)))
    gradcam_score = float(np.mean(rows))

    lines = [
        provenance(),
        "",
        f"- Profile `{label}`: {cfg.train.n_members} members, "
        f"{cfg.train.image_size} px, {cfg.data.n_train} training / {cfg.data.n_test} hold-out "
        f"synthetic images, {cfg.train.epochs} epochs ({cfg.train.lr_schedule} learning "
        f"rate), XLA {cfg.xla}, GradCAM on `{params['layer']}`.",
        f"- Wall time, data + training + GradCAM for the hold-out: **{wall:.0f} s "
        f"({wall / 60:.1f} min)**.",
        "- Training per member (the first one traces and compiles the step the others "
        "share): " + ", ".join(
            f"{suite.member(m)['fit_seconds']:.0f} s" for m in suite.member_ids) + ".",
        "- Hold-out accuracy per member: "
        + ", ".join(f"{a:.3f}" for a in metrics["accuracy"])
        + f" (mean **{metrics['accuracy'].mean():.3f}**); AUC "
        + ", ".join(f"{a:.3f}" for a in metrics["auc"])
        + f" (mean {metrics['auc'].mean():.3f}).",
        "",
        f"GradCAM mass inside the lesion mask, {len(ids)} hold-out images that every member "
        "classifies correctly:",
        "",
        "| map | share of mass inside the lesion |",
        "|---|---|",
        *[
            f"| GradCAM, member {m} | {v:.3f} |"
            for m, v in zip(suite.member_ids, rows, strict=True)
        ],
        f"| GradCAM, mean over members | **{gradcam_score:.3f}** |",
        f"| chance (mask's share of the image) | {chance:.3f} |",
        f"| centred Gaussian, no model (sigma = 0.25 x side) | {prior_score:.3f} |",
        "",
        f"GradCAM / chance = {gradcam_score / chance:.2f}x. The centred Gaussian is the "
        "harder reference: lesions (synthetic and HAM10000 alike) sit near the centre, so a "
        "map that ignores the image already scores well; any localization claim should be "
        "read against it.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(f"Demo suite ({label} profile): time, accuracy, GradCAM "
                      "localization", text)
    print(f"python {platform.python_version()}", file=sys.stderr)


if __name__ == "__main__":
    main()
