"""Rebuild a dataset from the description saved with a suite."""

from __future__ import annotations

from typing import Any

from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import load_ham10000
from dermviz.data.isic2019 import add_training_data, load_isic2019
from dermviz.data.synthetic import SyntheticConfig, make_synthetic


def open_dataset(description: dict[str, Any]) -> Dataset:
    """The dataset that :meth:`Dataset.describe` described.

    Synthetic sets are regenerated from their config; HAM10000 is reloaded from
    its root folder with the same protocol options.
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
        skip = bool(description.get("skipped_missing"))
        return load_ham10000(source["root"], skip_missing=skip, **options)
    if kind == "isic2019":
        return load_isic2019(description["root"], skip_missing=description.get("skip_missing",
                                                                                False))
    if "+" in str(kind) and "parts" in description:
        base = open_dataset(description["parts"][0])
        extra_root = description["parts"][1]["root"]
        extra = load_isic2019(extra_root, exclude=base.holdout,
                              skip_missing=description["parts"][1].get("skip_missing", False))
        return add_training_data(base, extra)
    raise ValueError(f"cannot rebuild a dataset of kind {kind!r}")
