"""Rebuild a dataset from the description saved with a suite."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import ENV_VAR, METADATA_FILE, load_ham10000
from dermviz.data.isic2019 import add_training_data, load_isic2019
from dermviz.data.synthetic import SyntheticConfig, make_synthetic


def open_dataset(
    description: dict[str, Any], *, ham10000_root: str | Path | None = None
) -> Dataset:
    """The dataset that :meth:`Dataset.describe` described.

    Synthetic sets are regenerated from their config; HAM10000 is reloaded from
    its root folder with the same protocol options.

    Parameters
    ----------
    description : dict
        What :meth:`Dataset.describe` returned (saved in a suite's manifest).
    ham10000_root : path, optional
        Where the HAM10000 copy lives now, if it moved since the description
        was saved. Otherwise the saved root is used, and if that folder is
        gone, the folder named by ``$DERMVIZ_HAM10000``.

    Raises
    ------
    FileNotFoundError
        The HAM10000 folder is gone (the message names the saved path and how
        to point at the new one).
    ValueError
        An unknown kind of dataset.
    """
    source = description.get("source", {})
    kind = source.get("kind")
    if kind == "synthetic":
        return make_synthetic(SyntheticConfig.from_dict(source["config"]))
    if kind == "ham10000":
        options = {
            key: description[key]
            for key in ("n_test_per_class", "test_random_state")
            if key in description
        }
        if "classes" in description:
            options["classes"] = tuple(description["classes"])
        # Suites from before the histo hold-out existed used the paper's.
        options["holdout"] = source.get("holdout", "paper")
        skip = bool(description.get("skipped_missing"))
        root = _ham10000_root(source["root"], ham10000_root)
        return load_ham10000(root, skip_missing=skip, **options)
    if kind == "isic2019":
        return load_isic2019(description["root"], skip_missing=description.get("skip_missing",
                                                                                False))
    if "+" in str(kind) and "parts" in description:
        base = open_dataset(description["parts"][0], ham10000_root=ham10000_root)
        extra_root = description["parts"][1]["root"]
        extra = load_isic2019(extra_root, exclude=base.holdout,
                              skip_missing=description["parts"][1].get("skip_missing", False))
        return add_training_data(base, extra)
    raise ValueError(f"cannot rebuild a dataset of kind {kind!r}")


def _ham10000_root(saved: str, override: str | Path | None) -> Path:
    """The HAM10000 folder to load: ``override``, the saved one, or ``$DERMVIZ_HAM10000``."""
    if override is not None:
        return Path(override).expanduser()
    if (Path(saved).expanduser() / METADATA_FILE).is_file():
        return Path(saved).expanduser()
    env = os.environ.get(ENV_VAR)
    if env and (Path(env).expanduser() / METADATA_FILE).is_file():
        return Path(env).expanduser()
    hint = f" (${ENV_VAR}={env} has no {METADATA_FILE} either)" if env else ""
    raise FileNotFoundError(
        f"the HAM10000 data set this suite was trained on is no longer at {saved} "
        f"(no {METADATA_FILE} there){hint}; if it moved, set {ENV_VAR} to the new folder "
        "(or pass its path as ham10000_root)"
    )
