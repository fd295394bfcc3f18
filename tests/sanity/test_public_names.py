"""The package's public names: one list, each resolved lazily from its home module."""

from __future__ import annotations

import importlib

import pytest

import dermviz.sanity as sanity


def test_every_public_name_resolves_from_its_home_module():
    assert len(sanity.__all__) == len(set(sanity.__all__))
    for name in sanity.__all__:
        home = importlib.import_module(sanity._HOME[name])
        assert getattr(sanity, name) is getattr(home, name), name
    assert set(sanity.__all__) <= set(dir(sanity))
    namespace: dict[str, object] = {}
    exec("from dermviz.sanity import *", namespace)
    assert set(sanity.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_check'"):
        sanity.no_such_check  # noqa: B018
