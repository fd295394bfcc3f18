"""Benchmark: memory of a searched suite and throughput of the trial training loop.

(a) memory: a 5-member x 3-trial search at smoke size (75 px, 48 synthetic images,
    1 epoch; graph mode unless --eager), every trial in its own process. Reports each
    trial's peak RSS (VmHWM of the trial process) in the order they ran, the last
    against the first, and the driver's own peak RSS. The space is restricted to Adam
    (--optimizers): an SGD trial holds one optimizer slot per weight instead of Adam's
    two, ~200 MB less for InceptionV3, which would blur the growth being checked.
(b) throughput: images/s of the trial's training loop (uint8 cache on disk ->
    tf.data generator -> float32, sample weights, seeded flips) against a plain
    ``model.fit`` on in-memory float32 arrays: same compiled model, same images,
    same batch size, in one process. After one warm-up epoch each (graph building),
    the two alternate epoch by epoch for --rounds rounds (ABBA order, so a drift in
    the shared machine's load hits both alike); each round gives one paired ratio
    (training time only, timed by a callback) and the median ratio is reported.

Writes the "Search: memory and throughput" section of benchmarks/RESULTS.md.

    python benchmarks/bench_training.py [--members 5 --trials 3] [--eager]
        [--images 256 --size 75 --batch 32 --rounds 8] [--skip-memory|--skip-throughput]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import provenance, write_section  # noqa: E402


def memory_part(args: argparse.Namespace, out: Path) -> tuple[str, dict]:
    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.backends import LocalBackend
    from dermviz.models.search import search_suite
    from dermviz.models.search_config import PROFILES

    profile = PROFILES["smoke"]
    config = profile.config.replace(
        n_trials=args.trials, train={"n_members": args.members, "run_eagerly": args.eager},
        space={"optimizers": args.optimizers.split(",")})
    rss_before = _rss_mb()
    start = time.perf_counter()
    suite = search_suite(make_synthetic(profile.data), config, out_dir=out / "mem",
                         backend=LocalBackend(1, gpus=[]), overwrite=True)
    wall = time.perf_counter() - start
    rows = []
    for result_path in sorted(suite.path.glob("members/*/trials/*/result.json")):
        r = json.loads(result_path.read_text())
        if r.get("status") != "complete":
            continue
        rows.append({"member": r["member"], "trial": r["number"], "peak": r["peak_rss_mb"],
                     "seconds": r["seconds"], "mtime": result_path.stat().st_mtime,
                     "optimizer": r["params"]["optimizer"],
                     "dense": r["params"]["dense_units"]})
    rows.sort(key=lambda r: r["mtime"])
    peaks = [r["peak"] for r in rows]
    first, last = peaks[0], peaks[-1]
    driver_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ratio = last / first
    lines = [
        f"### (a) Peak memory per trial: {args.members} members x {args.trials} trials, "
        f"smoke size ({'eager' if args.eager else 'graph'} mode, optimizers "
        f"{args.optimizers})",
        "",
        "| # | member | trial | optimizer, dense units | trial peak RSS (MB) | trial wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    for k, r in enumerate(rows):
        lines.append(f"| {k + 1} | {r['member']} | {r['trial']} | {r['optimizer']}, "
                     f"{r['dense']} | {r['peak']:.0f} | {r['seconds']:.0f} |")
    verdict = "within" if abs(ratio - 1) <= 0.10 else "NOT within"
    lines += [
        "",
        f"- First trial {first:.0f} MB, last trial {last:.0f} MB: last / first = "
        f"**{ratio:.3f}** ({verdict} 10%); min {min(peaks):.0f}, max {max(peaks):.0f} MB "
        f"over {len(peaks)} trials.",
        f"- This process (the search driver: Optuna, the GP sampler, the image cache; no "
        f"model is built in it) had RSS {rss_before:.0f} MB before the search and "
        f"{_rss_mb():.0f} MB after it; peak {driver_peak:.0f} MB"
        + (" (part (b) ran first in this process and built a model)" if not
           args.skip_throughput else "") + ".",
        f"- Search wall time {wall / 60:.1f} min ({wall / max(len(rows), 1):.0f} s per trial: "
        "process start, TensorFlow import and graph building dominate at this size).",
    ]
    return "\n".join(lines), {"first": first, "last": last, "ratio": ratio}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _EpochTimer:
    def __new__(cls):  # a keras Callback built lazily (keras imported inside)
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.times: list[float] = []
                self._t = 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self._t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._t)

        return Timer()


def throughput_part(args: argparse.Namespace, out: Path) -> tuple[str, dict]:
    import keras

    from dermviz.data.synthetic import make_synthetic
    from dermviz.models.config import TrainConfig
    from dermviz.models.fit import build_member, make_optimizer
    from dermviz.models.image_cache import ImageCache, build_cache
    from dermviz.models.pipeline import make_train_dataset

    data = make_synthetic(n_train=args.images, n_test=16, seed=0)
    ids = data.pool["image_id"].tolist()
    cache = ImageCache(build_cache(data, ids, out / "tp", "pool", size=args.size))
    y = data.pool["y"].to_numpy().astype(np.float32)
    x_float = data.load_images(ids, size=args.size).astype(np.float32)  # the plain way
    config = TrainConfig(image_size=args.size, learning_rate=1e-3, dropout=0.5,
                         optimizer="adam", dense_units=128, epochs=2, bn_momentum=0.9)
    keras.utils.set_random_seed(0)
    model = build_member(config, seed=0)
    model.compile(optimizer=make_optimizer(config), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc"),
                           keras.metrics.BinaryAccuracy(name="accuracy")])
    rows = np.arange(len(ids))
    weights = np.ones(len(ids), np.float32)
    ours_ds = make_train_dataset(cache, rows, y, batch_size=args.batch, seed=0,
                                 weights=weights, flips=True)

    def plain(epochs: int) -> list[float]:
        t = _EpochTimer()
        model.fit(x_float, y, batch_size=args.batch, epochs=epochs, shuffle=True, verbose=0,
                  callbacks=[t])
        return t.times

    def ours(epochs: int) -> list[float]:
        t = _EpochTimer()
        model.fit(ours_ds, epochs=epochs, shuffle=False, verbose=0, callbacks=[t])
        return t.times

    warm = {"plain": plain(1)[0], "ours": ours(1)[0]}
    times: dict[str, list[float]] = {"plain": [], "ours": []}
    paired = []
    for k in range(args.rounds):
        order = ("plain", "ours") if k % 2 == 0 else ("ours", "plain")
        got = {name: (plain if name == "plain" else ours)(1)[0] for name in order}
        for name in times:
            times[name].append(got[name])
        paired.append(got["plain"] / got["ours"])  # = ours images/s over plain images/s
    n = len(ids)
    med = {k: statistics.median(v) for k, v in times.items()}
    ips = {k: n / v for k, v in med.items()}
    best = {k: n / min(v) for k, v in times.items()}
    ratio = statistics.median(paired)
    verdict = "within" if ratio >= 0.90 else "NOT within"
    lines = [
        f"### (b) Training throughput: trial loop vs plain `model.fit`, {args.size} px, "
        f"{n} images, batch {args.batch}",
        "",
        "| loop | median epoch (s) | images/s (median epoch) | images/s (best epoch) | "
        "first epoch incl. graph build (s) |",
        "|---|---|---|---|---|",
        f"| plain `model.fit(x_float32, y)` | {med['plain']:.2f} | {ips['plain']:.1f} | "
        f"{best['plain']:.1f} | {warm['plain']:.1f} |",
        f"| dermviz trial loop (uint8 cache -> tf.data) | {med['ours']:.2f} | "
        f"{ips['ours']:.1f} | {best['ours']:.1f} | {warm['ours']:.1f} |",
        "",
        f"- Trial loop / plain images/s = **{ratio:.3f}** ({verdict} 10%): median of "
        f"{len(paired)} paired ratios (one epoch of each loop per round, ABBA order; "
        f"range {min(paired):.3f}-{max(paired):.3f}); best epochs give "
        f"{best['ours'] / best['plain']:.3f}. Same compiled model (InceptionV3, Adam, "
        "dense 128), float32 on the CPU.",
        f"- Memory: the plain loop holds the float32 set ({x_float.nbytes / 2**20:.0f} MB "
        f"here, {6017 * 224 * 224 * 3 * 4 / 2**30:.1f} GB for HAM10000 at 224 px); the "
        "trial loop holds one batch.",
        "- The trial loop also applies seeded random flips and per-sample weights "
        "(the plain loop does neither).",
    ]
    return "\n".join(lines), {"plain": ips["plain"], "ours": ips["ours"], "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--eager", action="store_true", help="eager trials (faster at smoke size)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=75)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--optimizers", default="adam", help="memory part: 'adam', 'sgd,adam'")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="dermviz-bench-training-"))
    parts = []
    if not args.skip_throughput:
        text, numbers = throughput_part(args, out)
        print(text, flush=True)
        print(numbers, flush=True)
        parts.append(text)
    if not args.skip_memory:
        text, numbers = memory_part(args, out)
        print(text, flush=True)
        print(numbers, flush=True)
        parts.append(text)
    import keras
    import optuna

    header = (
        f"{provenance()} keras {keras.__version__}, optuna {optuna.__version__}. Absolute "
        "times vary with the machine's load and CPU kind; the ratios are what the benchmark "
        "checks."
    )
    if not args.no_write and parts:
        write_section("Search: memory and throughput", header + "\n\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
