"""Persistence: atomic writes and the saliency-map cache."""

from dermviz.store.atomic import read_json, write_atomic, write_json
from dermviz.store.maps import MapStore, params_key

__all__ = ["MapStore", "params_key", "read_json", "write_atomic", "write_json"]
