"""Rebuild a dataset from the description saved with a suite."""

from __future__ import annotations

from typing import Any

from dermviz.data.dataset import Dataset
from dermviz.data.ham10000 import load_ham10000
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
    raise ValueError(f"cannot rebuild a dataset of kind {kind!r}")
