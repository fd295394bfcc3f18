"""Out-of-distribution flag and calibrated similarity on a suite: the numbers of issue 24.

For a suite folder (default: a fresh smoke demo suite, built in a temporary folder) it
fits :func:`dermviz.analysis.ood.fit_suite_ood` for each score (Mahalanobis, k-NN, both)
and measures, against the hold-out's 99th percentile:

* the share flagged of the hold-out itself (the calibration set) and of **fresh**
  in-distribution images (synthetic suites: the same generator, another seed; the
  honest false-alarm rate);
* the share flagged of natural photographs from ``skimage.data`` (seven RGB images and
  four corner crops of each, at the suite's size);
* the share flagged of **dermoscopy from the other source**: real HAM10000 hold-out
  photographs against a synthetic suite (when a HAM10000 copy is found), synthetic
  demo lesions against a HAM10000 suite;
* AUROC of each score, in-distribution (hold-out + fresh) vs photographs and vs the other
  source, beside the maximum softmax probability baseline (on the members' mean p);

and, for retrieval, the hold-out's top-1 cosine similarity (median, 5th percentile),
precision@5 of the same diagnosis beside chance, and the closeness words of the
photographs' nearest neighbours.

Writes the "Out-of-distribution flag (issue 24)" section of benchmarks/RESULTS.md, one per
kind of suite (``: demo`` for a synthetic suite, ``: HAM10000`` for a real one).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import RESULTS, provenance, write_section  # noqa: E402

TITLE = "Out-of-distribution flag (issue 24)"
PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
               "hubble_deep_field", "retina")


def photographs(size: int) -> np.ndarray:
    """skimage.data's RGB photographs and four corner crops (60%) of each, resized."""
    import skimage.data

    from dermviz.data.images import resize_image

    out = []
    for name in PHOTOGRAPHS:
        img = getattr(skimage.data, name)()[..., :3]
        h, w = img.shape[:2]
        ch, cw = int(0.6 * h), int(0.6 * w)
        crops = [img, img[:ch, :cw], img[:ch, -cw:], img[-ch:, :cw], img[-ch:, -cw:]]
        out += [resize_image(np.ascontiguousarray(c), size) for c in crops]
    return np.stack(out)


def fresh_images(suite, n: int) -> np.ndarray | None:
    """In-distribution images the suite never saw: its synthetic generator, another seed."""
    from dermviz.data.synthetic import make_synthetic

    info = suite.dataset_info
    if info.get("name") != "synthetic":
        return None
    params = dict(info["source"]["config"])
    params.update(n_train=2, n_test=n, seed=int(params.get("seed", 0)) + 1000)
    data = make_synthetic(**params)
    return data.load_images(list(data.holdout["image_id"]), size=suite.image_size)


def other_source(suite, n: int) -> tuple[str, np.ndarray] | None:
    """Dermoscopy from the other source at the suite's size: HAM10000 hold-out photographs
    for a synthetic suite (None when no copy is found), synthetic lesions for a real one."""
    size = suite.image_size
    if suite.dataset_info.get("name") == "synthetic":
        from dermviz.data.ham10000 import find_ham10000, load_ham10000

        root = find_ham10000()
        if root is None:
            return None
        ham = load_ham10000(root)
        ids = list(ham.holdout["image_id"])[:n]
        return f"HAM10000 hold-out photographs ({len(ids)})", ham.load_images(ids, size=size)
    from dermviz.data.synthetic import make_synthetic

    data = make_synthetic(n_train=2, n_test=n, seed=2024)
    ids = list(data.holdout["image_id"])
    return (f"synthetic demo lesions ({len(ids)}, default generator)",
            data.load_images(ids, size=size))


def measure(suite_path: Path, *, n_fresh: int, n_other: int) -> tuple[str, str]:
    from dermviz.analysis.ood import (
        SCORES,
        fit_suite_ood,
        is_unusual,
        max_softmax_probability,
        ood_scores,
        suite_embeddings,
    )
    from dermviz.analysis.retrieval import (
        calibrate_neighbours,
        nearest_similarities,
        precision_at_k,
        similar_cases,
    )
    from dermviz.models.embed import pool_embeddings
    from dermviz.models.predict import predict_proba
    from dermviz.models.suite import Suite

    suite = Suite(suite_path)
    data = suite.dataset()
    models = {m: suite.load_model(m) for m in suite.member_ids}
    size = suite.image_size
    hold_ids = [str(i) for i in data.holdout["image_id"]]
    sets = {"hold-out": data.load_images(hold_ids, size=size), "photographs": photographs(size)}
    fresh = fresh_images(suite, n_fresh)
    if fresh is not None:
        sets["fresh"] = fresh
    other = other_source(suite, n_other)
    if other is not None:
        sets["other"] = other[1]
    emb = {k: suite_embeddings(suite, x, model_loader=models.get) for k, x in sets.items()}
    p = {k: np.mean([predict_proba(models[m], x) for m in models], axis=0)
         for k, x in sets.items()}
    inside = [k for k in sets if k in ("hold-out", "fresh")]
    outside = [k for k in ("photographs", "other") if k in sets]

    rows = ["| score | hold-out flagged | fresh flagged | photographs flagged | "
            "other dermoscopy flagged | AUROC vs photographs | AUROC vs other dermoscopy |",
            "|---|---|---|---|---|---|---|"]

    def share(flags: np.ndarray) -> str:
        return f"{flags.mean():.1%} ({int(flags.sum())}/{len(flags)})"

    for score in SCORES:
        cal = fit_suite_ood(suite, dataset=data, holdout=emb["hold-out"], score=score,
                            model_loader=models.get)
        s = {k: ood_scores(cal, e) for k, e in emb.items()}
        flagged = [share(is_unusual(cal, s[k])) if k in s else "n/a"
                   for k in ("hold-out", "fresh", "photographs", "other")]
        rows.append(f"| {score} | " + " | ".join(flagged) + " | "
                    + " | ".join(aurocs(s, inside, outside)) + " |")
    msp = {k: -max_softmax_probability(v) for k, v in p.items()}
    rows.append("| MSP baseline (members' mean p) | | | | | "
                + " | ".join(aurocs(msp, inside, outside)) + " |")

    pool, ids = {}, None
    for m, model in models.items():
        ids, pool[m] = pool_embeddings(suite, m, dataset=data, model=model)
    labels = dict(zip(ids, data.rows(ids)["dx"], strict=True))
    hold_table = similar_cases(emb["hold-out"], pool, ids, k=5)
    reference = nearest_similarities(hold_table)
    prec = precision_at_k(hold_table, list(data.rows(hold_ids)["dx"]), labels, k=5)
    photo = calibrate_neighbours(similar_cases(emb["photographs"], pool, ids, k=5), reference)
    words = photo["closeness"].value_counts(normalize=True)
    kind = "demo" if suite.dataset_info.get("name") == "synthetic" else "HAM10000"
    lines = [
        *rows, "",
        f"- Other dermoscopy: {other[0] if other else 'none (no HAM10000 copy found)'}.",
        f"- Suite `{suite.name}`: {len(models)} members, {size} px, pool {len(ids)}, hold-out "
        f"{len(hold_ids)}; "
        + (f"fresh = {n_fresh} new images of the suite's synthetic generator (another seed); "
           if fresh is not None else "no fresh images (a real data set has no generator); ")
        + f"photographs = {len(PHOTOGRAPHS)} `skimage.data` images x 5 crops. "
        "Flag: beyond the hold-out's 99th percentile (`method='higher'`). AUROC: hold-out"
        + (" + fresh" if fresh is not None else "") + " vs each out-of-distribution set.",
        f"- Retrieval: hold-out top-1 cosine (centred, mean of members) median "
        f"{np.median(reference):.3f}, 5th percentile {np.percentile(reference, 5):.3f}; "
        f"precision@5 (same diagnosis) {prec['precision']:.2f} vs chance {prec['chance']:.2f}. "
        "Photographs' top-5 neighbours: "
        + ", ".join(f"{w} {words.get(w, 0.0):.0%}" for w in ("very close", "close", "far"))
        + ".",
    ]
    return kind, "\n".join(lines)


def aurocs(scores: dict[str, np.ndarray], inside: list[str], outside: list[str]) -> list[str]:
    """AUROC of in-distribution vs photographs, and vs the other source ("n/a" if absent)."""
    from dermviz.analysis.ood import ood_auroc

    ref = np.concatenate([scores[k] for k in inside])
    return [f"{ood_auroc(ref, scores[k]):.3f}" if k in scores else "n/a"
            for k in ("photographs", "other")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, help="a suite folder (default: build smoke)")
    parser.add_argument("--fresh", type=int, default=64, help="fresh in-distribution images")
    parser.add_argument("--other", type=int, default=200,
                        help="images of the other dermoscopy source")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ood-") as tmp:
        path = args.suite
        if path is None:
            from dermviz.demo import run_demo

            path = Path(tmp) / "demo-smoke"
            run_demo(profile="smoke", out_dir=path, progress=False)
        kind, body = measure(path, n_fresh=args.fresh, n_other=args.other)
    body += "\n- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    print(body)
    if not args.no_write:
        write_section(f"{TITLE}: {kind}", body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
