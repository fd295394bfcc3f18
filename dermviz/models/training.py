"""``dermviz train``: a suite of members with fixed hyperparameters.

Training a suite is a search over one fixed point: each member is fitted once, as
trial 0 of a search would be (same split, same fit seed, same code:
:func:`dermviz.models.fit.fit_member`), in this process. The epoch with the best
validation AUC is kept, the operating threshold is chosen on validation data, and
the member is saved with its history and hold-out predictions
(:func:`dermviz.models.records.save_member`). Members are saved one by one,
``member.json`` last, so an interrupted run resumes where it stopped: completed
members are never retrained. The members share one compiled training step
(:class:`dermviz.models.fit.CompiledFits`): tracing it costs tens of seconds, the
same for every member.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from dermviz.data.dataset import Dataset
from dermviz.models.config import TrainConfig
from dermviz.models.fit import CompiledFits, SplitRows, fit_member
from dermviz.models.image_cache import ImageCache
from dermviz.models.records import finish_manifest, save_member, start_manifest
from dermviz.models.seeds import fit_seed, member_id, member_seed
from dermviz.models.suite import Suite, write_manifest
from dermviz.models.workspace import build_caches, member_splits, write_split
from dermviz.store.status import report


def train_suite(
    dataset: Dataset,
    config: TrainConfig,
    *,
    out_dir: str | Path,
    name: str | None = None,
    overwrite: bool = False,
    device: dict[str, Any] | None = None,
    progress: bool = True,
) -> Suite:
    """Train (or resume) a suite and write it to ``out_dir``.

    Parameters
    ----------
    dataset : Dataset
        Hold-out rows are only ever predicted, never trained or selected on.
    config : TrainConfig
    out_dir : path
        The suite folder (``models/<name>``).
    name : str, optional
        Suite name; defaults to the folder name.
    overwrite : bool
        Delete an existing suite first. Otherwise a suite with the same config
        resumes, and one with a different config is refused.
    device : dict, optional
        ``{"mixed_precision": "auto"|"on"|"off", "xla": "auto"|"on"|"off",
        "deterministic": bool}`` (:func:`dermviz.models.device.configure_device`).
    progress : bool
        Show progress bars.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    out = Path(out_dir)
    name = name or out.name
    if overwrite and out.exists():
        shutil.rmtree(out)
    manifest = start_manifest(out, name=name, dataset=dataset, config=config)
    seeds = [member_seed(config.seed, i) for i in range(config.n_members)]
    splits = member_splits(config, dataset.pool, seeds)
    caches = build_caches(out, dataset, splits, size=config.image_size, progress=progress,
                          masks=config.gradmask is not None)
    pool, holdout_cache = ImageCache(caches.pool), ImageCache(caches.holdout)
    pool_masks = ImageCache(caches.pool_masks) if caches.pool_masks else None
    done = {m["id"] for m in manifest["members"]}
    bar = tqdm(range(config.n_members), desc=f"suite {name}", unit="member",
               disable=not progress)
    compiled = CompiledFits()
    for index in bar:
        mid = member_id(index)
        if mid in done:
            continue
        report(force=True, phase="train", member=mid, member_index=index,
               n_members=config.n_members, member_fraction=0.0,
               detail=f"training member {index + 1} of {config.n_members} ({mid})")
        split = splits[index]
        folder = out / "members" / mid
        rows = SplitRows.from_record(write_split(folder, split, caches.row_of))
        seed = fit_seed(split.seed, 0)
        started = time.perf_counter()
        fit = fit_member(config, rows, pool, holdout_cache, seed=seed, device=device,
                         pool_masks=pool_masks, compiled=compiled,
                         progress=f"{mid} (seed {split.seed})" if progress else None)
        if fit.diverged:
            raise RuntimeError(f"member {mid} diverged (predictions are not finite); "
                               "lower the learning rate")
        entry = save_member(
            folder, model=fit.model, mid=mid, seed=split.seed, config=config,
            split_summary=split.summary(), history=fit.history, best_epoch=fit.best_epoch,
            val_y=rows.val_y, p_val=fit.p_val, holdout=dataset.holdout, p_test=fit.p_test,
            extra={"fit_seed": seed, "policy": fit.policy,
                   "steps_per_epoch": fit.steps_per_epoch},
            fit_seconds=time.perf_counter() - started,
        )
        manifest["members"].append(entry)
        write_manifest(out, manifest)
        bar.set_postfix(auc=f"{entry['holdout']['auc']:.3f}")
    finish_manifest(out, manifest)
    return Suite(out)
