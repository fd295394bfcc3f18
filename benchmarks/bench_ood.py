"""Out-of-distribution flag and calibrated similarity on a suite: the numbers of issue 24.

For a suite folder (default: a fresh smoke demo suite, built in a temporary folder) it
fits :func:`dermviz.analysis.ood.fit_suite_ood` for each score (the feature ensemble over
several layers' channel statistics, the default; Mahalanobis, k-NN and both on the
penultimate embedding) from one pass of every member over each image set, and measures,
against the hold-out's 99th percentile:

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
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.results import (  # noqa: E402
    RESULTS,
    provenance,
    suite_or_smoke,
    write_section,
)

TITLE = "Out-of-distribution flag (issue 24)"
#: Blocks whose channel statistics the layer study compares (one pass gives them all).
STUDY_LAYERS = ("mixed0", "mixed1", "mixed2", "mixed3", "mixed5", "mixed7")
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
        DEFAULT_LAYERS,
        DEFAULT_SCORE,
        SCORES,
        fit_suite_ood,
        is_unusual,
        max_softmax_probability,
        ood_scores,
        suite_features,
        suite_pool_features,
    )
    from dermviz.analysis.retrieval import (
        calibrate_neighbours,
        nearest_similarities,
        precision_at_k,
        similar_cases,
    )
    from dermviz.models.embed import EMBEDDING
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
    # one pass per member and image set gives every score's features
    blocks = tuple(dict.fromkeys([*DEFAULT_LAYERS, *STUDY_LAYERS]))
    feats = {k: suite_features(suite, x, layers=blocks, model_loader=models.get)
             for k, x in sets.items()}
    ids, pool_feats = suite_pool_features(suite, dataset=data, layers=blocks,
                                          model_loader=models.get)
    p = {k: np.mean([predict_proba(models[m], x) for m in models], axis=0)
         for k, x in sets.items()}
    inside = [k for k in sets if k in ("hold-out", "fresh")]
    outside = [k for k in ("photographs", "other") if k in sets]

    rows = ["| score | hold-out flagged | fresh flagged | photographs flagged | "
            "other dermoscopy flagged | AUROC vs photographs | AUROC vs other dermoscopy |",
            "|---|---|---|---|---|---|---|"]

    def share(flags: np.ndarray) -> str:
        return f"{flags.mean():.1%} ({int(flags.sum())}/{len(flags)})"

    names = {"layers": f"layers: Mahalanobis on {', '.join(DEFAULT_LAYERS)} channel "
                       "statistics (Lee et al.'s feature ensemble)",
             "mahalanobis": "mahalanobis (penultimate embedding)",
             "knn": "knn (penultimate embedding)",
             "both": "both (mahalanobis + knn, penultimate embedding)"}
    default_flags = {}
    for score in SCORES:
        cal = fit_suite_ood(suite, dataset=data, holdout=feats["hold-out"],
                            pool=(ids, pool_feats), score=score, model_loader=models.get)
        s = {k: ood_scores(cal, f) for k, f in feats.items()}
        if score == DEFAULT_SCORE:
            default_flags = {k: is_unusual(cal, v) for k, v in s.items()}
        flagged = [share(is_unusual(cal, s[k])) if k in s else "n/a"
                   for k in ("hold-out", "fresh", "photographs", "other")]
        label = names[score] + (" **(default)**" if score == DEFAULT_SCORE else "")
        rows.append(f"| {label} | " + " | ".join(flagged) + " | "
                    + " | ".join(aurocs(s, inside, outside)) + " |")
    msp = {k: -max_softmax_probability(v) for k, v in p.items()}
    rows.append("| MSP baseline (members' mean p) | | | | | "
                + " | ".join(aurocs(msp, inside, outside)) + " |")

    study = layer_study(feats, pool_feats, data.rows(ids)["y"].to_numpy(), inside, outside)

    emb = {k: {m: f[EMBEDDING] for m, f in v.items()} for k, v in feats.items()}
    pool = {m: f[EMBEDDING] for m, f in pool_feats.items()}
    labels = dict(zip(ids, data.rows(ids)["dx"], strict=True))
    hold_table = similar_cases(emb["hold-out"], pool, ids, k=5)
    reference = nearest_similarities(hold_table)
    prec = precision_at_k(hold_table, list(data.rows(hold_ids)["dx"]), labels, k=5)
    photo_table = similar_cases(emb["photographs"], pool, ids, k=5)
    plain = calibrate_neighbours(photo_table, reference)["closeness"]
    honest = calibrate_neighbours(
        photo_table, reference, unusual=np.flatnonzero(default_flags["photographs"]))["closeness"]

    def words(closeness) -> str:
        share_of = closeness.value_counts(normalize=True)
        return ", ".join(f"{w} {share_of.get(w, 0.0):.0%}" for w in ("very close", "close", "far"))

    kind = "demo" if suite.dataset_info.get("name") == "synthetic" else "HAM10000"
    lines = [
        *rows, "",
        f"- Score: the default is `{DEFAULT_SCORE}`; each member's distances are divided by "
        "their hold-out median, averaged over the distances and the members.",
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
        f"Photographs' top-5 neighbours by the cosine alone: {words(plain)}; as the pages "
        f"word them (every neighbour of a flagged image is far): {words(honest)}.",
        "", "Layer study: the `layers` score (Mahalanobis on `log1p` channel means and "
        "standard deviations, ratio to the hold-out median, mean over blocks and members) "
        f"on other blocks and combinations; `{EMBEDDING}` is the penultimate embedding "
        "(not log-transformed).", "", *study,
    ]
    return kind, "\n".join(lines)


def layer_study(feats: dict, pool: dict, labels: np.ndarray, inside: list[str],
                outside: list[str]) -> list[str]:
    """The flagged shares and AUROCs of ``score="layers"`` on each block of
    :data:`STUDY_LAYERS` alone, the embedding alone, and combinations."""
    from dermviz.analysis.ood import DEFAULT_LAYERS, fit_ood, is_unusual, ood_scores
    from dermviz.models.embed import EMBEDDING

    combos = [*[(b,) for b in STUDY_LAYERS], (EMBEDDING,), DEFAULT_LAYERS,
              ("mixed0", "mixed1", "mixed2"), ("mixed0", "mixed2", "mixed5"),
              ("mixed0", "mixed2", "mixed5", "mixed7"),
              ("mixed0", "mixed2", "mixed5", "mixed7", EMBEDDING), ("mixed0", "mixed2", EMBEDDING)]
    rows = ["| feature sets | hold-out flagged | fresh flagged | photographs flagged | "
            "other dermoscopy flagged | AUROC vs photographs | AUROC vs other dermoscopy |",
            "|---|---|---|---|---|---|---|"]
    for combo in dict.fromkeys(combos):
        cal = fit_ood(pool, labels, feats["hold-out"], score="layers", layers=combo)
        s = {k: ood_scores(cal, f) for k, f in feats.items()}
        flagged = [f"{is_unusual(cal, s[k]).mean():.1%}" if k in s else "n/a"
                   for k in ("hold-out", "fresh", "photographs", "other")]
        label = " + ".join(combo) + (" **(default)**" if combo == DEFAULT_LAYERS else "")
        rows.append(f"| {label} | " + " | ".join(flagged) + " | "
                    + " | ".join(aurocs(s, inside, outside)) + " |")
    return rows


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
    with suite_or_smoke(args.suite, prefix="bench-ood-") as path:
        kind, body = measure(path, n_fresh=args.fresh, n_other=args.other)
    body += "\n- " + provenance([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    print(body)
    if not args.no_write:
        write_section(f"{TITLE}: {kind}", body, path=RESULTS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
