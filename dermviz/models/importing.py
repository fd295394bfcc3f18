"""``dermviz import``: a suite of classifiers trained elsewhere.

Each model file is loaded safely (:func:`dermviz.models.external.load_model_file`), its
adapter detected or declared (:func:`dermviz.models.adapter.detect_adapter`), and the
adapted model evaluated as a trained member is: p(melanoma) on a validation split of the
data set's pool (the split a trained member of the same suite seed would get), the
operating threshold chosen there by the suite's rule (Youden's J,
:func:`dermviz.models.metrics.choose_threshold`), and the hold-out predictions and
metrics at that threshold. Members are written by the same writer as trained ones
(:func:`dermviz.models.records.save_member`), with their adapter in ``member.json`` and
in the manifest, so every page, command and API call reads an imported suite as it
reads a trained one.

The member's ``model.keras`` is the imported model as it was (a ``.keras`` file is
copied byte for byte; an ``.h5`` file is saved as ``.keras``); the adapter is applied
when the suite loads it (:meth:`dermviz.models.suite.Suite.load_model`).

The validation images may be ones the imported model was trained on: its threshold is
then optimistic, which the manifest's ``imported`` block says.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dermviz.data.dataset import Dataset
from dermviz.models.adapter import ModelAdapter, ModelRefusedError, adapt, detect_adapter
from dermviz.models.config import TrainConfig
from dermviz.models.external import load_model_file
from dermviz.models.predict import predict_proba
from dermviz.models.records import finish_manifest, now, save_member, start_manifest
from dermviz.models.seeds import member_id, member_seed
from dermviz.models.suite import MANIFEST, Suite, write_manifest
from dermviz.models.workspace import member_splits
from dermviz.store.status import report

__all__ = ["import_suite"]

#: What the manifest says about an imported suite's thresholds.
THRESHOLD_NOTE = ("thresholds chosen on a validation split of this data set's pool, which the "
                  "imported models may have been trained on")


def import_suite(
    dataset: Dataset,
    model_files: Sequence[str | Path],
    *,
    out_dir: str | Path,
    name: str | None = None,
    preprocessing: str | None = None,
    melanoma_class: int | None = None,
    versus_class: int | None = None,
    layer: str | None = None,
    stage_every: int | None = None,
    trusted: bool = False,
    overwrite: bool = False,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
) -> Suite:
    """Build a suite in ``out_dir`` from Keras classifiers trained elsewhere.

    Parameters
    ----------
    dataset : Dataset
        The data set the members are evaluated on (hold-out) and thresholded on (a
        validation split of its pool).
    model_files : sequence of path
        ``.keras`` or ``.h5`` files, one member each, in member order. They must share
        their input size and GradCAM layer (import different architectures as separate
        suites, and compare the suites).
    out_dir : path
        The suite folder (``models/<name>``).
    name : str, optional
        Suite name; defaults to the folder name.
    preprocessing, melanoma_class, versus_class, layer, stage_every
        The adapter's declarations, the same for every member
        (:func:`dermviz.models.adapter.detect_adapter`).
    trusted : bool
        Load files with Keras' safe mode off (``Lambda`` layers run their code).
    overwrite : bool
        Replace a suite already at ``out_dir``; otherwise one there is refused.
    seed : int
        The suite seed: it draws each member's validation split.
    batch_size : int
        Images per forward pass.
    progress : bool
        Show a progress bar per member.

    Returns
    -------
    Suite

    Raises
    ------
    ModelRefusedError, ModelFileError
        A file that cannot be imported (one sentence says why).
    ValueError
        No files, a suite already there, members that differ in size or layer.
    """
    files = [Path(f) for f in model_files]
    if not files:
        raise ValueError("give at least one model file to import")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = Path(out_dir)
    name = name or out.name
    if (out / MANIFEST).is_file() and not overwrite:
        raise ValueError(f"a suite already exists at {out}; use another name or --overwrite")
    loaded = []
    for path in files:
        model = load_model_file(path, trusted=trusted)
        adapter = detect_adapter(
            model, preprocessing=preprocessing, melanoma_class=melanoma_class,
            versus_class=versus_class, layer=layer, stage_every=stage_every, trusted=trusted,
            source=path.name,
        )
        loaded.append((path, model, adapter))
    _check_members_agree([a for _, _, a in loaded], files)
    first = loaded[0][2]
    config = TrainConfig(image_size=int(first.image_size), n_members=len(files), seed=seed,
                         epochs=1, gradcam_layer=first.layer)
    if overwrite and out.exists():
        shutil.rmtree(out)
    manifest = start_manifest(out, name=name, dataset=dataset, config=config)
    manifest["imported"] = {"files": [str(p) for p in files], "thresholds": THRESHOLD_NOTE,
                            "imported": now()}
    write_manifest(out, manifest)
    seeds = [member_seed(seed, i) for i in range(len(files))]
    splits = member_splits(config, dataset.pool, seeds)
    holdout = dataset.holdout
    for index, (path, model, adapter) in enumerate(loaded):
        mid = member_id(index)
        report(force=True, phase="import", member=mid, member_index=index,
               n_members=len(files), detail=f"evaluating {path.name} ({mid})")
        split = splits[index]
        adapted = adapt(model, adapter)
        val_ids = split.val["image_id"].tolist()
        test_ids = holdout["image_id"].tolist()
        bar = tqdm(total=len(val_ids) + len(test_ids), desc=f"{mid} ({path.name})",
                   unit="image", disable=not progress)
        p_val = _predict(adapted, dataset, val_ids, size=config.image_size,
                         batch_size=batch_size, bar=bar)
        p_test = _predict(adapted, dataset, test_ids, size=config.image_size,
                          batch_size=batch_size, bar=bar)
        bar.close()
        folder = out / "members" / mid
        with _as_keras_file(path, model) as keras_file:
            entry = save_member(
                folder, model=keras_file, mid=mid, seed=split.seed, config=config,
                split_summary=split.summary(), history={}, best_epoch=0,
                val_y=split.val["y"].to_numpy(), p_val=p_val, holdout=holdout, p_test=p_test,
                extra={"adapter": adapter.to_dict(), "imported_from": str(path)},
            )
        manifest["members"].append(entry)
        write_manifest(out, manifest)
    finish_manifest(out, manifest)
    return Suite(out)


def _check_members_agree(adapters: list[ModelAdapter], files: list[Path]) -> None:
    """One suite, one input size and one GradCAM layer (the pages' defaults are a suite's)."""
    for key in ("image_size", "layer"):
        values = {getattr(a, key) for a in adapters}
        if len(values) > 1:
            shown = ", ".join(f"{f.name}: {getattr(a, key)}" for f, a in
                              zip(files, adapters, strict=True))
            raise ModelRefusedError(
                f"the models differ in {key.replace('_', ' ')} ({shown}); import them as "
                "separate suites and compare the suites")


def _predict(model: Any, dataset: Dataset, ids: list[str], *, size: int, batch_size: int,
             bar: Any) -> np.ndarray:
    """p(melanoma) of the adapted model on ``ids``, batch by batch."""
    out = np.empty(len(ids), dtype=np.float32)
    pos = 0
    for chunk, images in dataset.iter_batches(ids, size=size, batch_size=batch_size):
        out[pos : pos + len(chunk)] = predict_proba(model, images, batch_size=batch_size)
        pos += len(chunk)
        bar.update(len(chunk))
    if not np.isfinite(out).all():
        raise ModelRefusedError("the model's predictions are not finite on this data set")
    return out


@contextmanager
def _as_keras_file(path: Path, model: Any) -> Iterator[Path]:
    """The imported file itself when it is a ``.keras`` archive, else the loaded model
    saved as ``.keras`` in a temporary folder (removed afterwards)."""
    if path.suffix.lower() == ".keras":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="dermviz-import-") as tmp:
        converted = Path(tmp) / "model.keras"
        model.save(converted)
        yield converted
