"""Generic persistence: atomic writes and a keyed store of named arrays.

Nothing here knows dermviz's domain types; the layers above give the arrays
their meaning (e.g. :mod:`dermviz.explain.cache` for saliency maps).
"""

from dermviz.store.arrays import ArrayRecord, ArrayStore, DamagedFileWarning, params_key
from dermviz.store.atomic import read_json, write_atomic, write_json
from dermviz.store.paths import resolve_within

__all__ = ["ArrayRecord", "ArrayStore", "DamagedFileWarning", "params_key", "read_json",
           "resolve_within", "write_atomic", "write_json"]
