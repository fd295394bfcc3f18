"""resolve_within: user-chosen names stay under their root."""

from __future__ import annotations

import pytest

from dermviz.store import resolve_within


def test_names_under_the_root_resolve(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "inner").symlink_to(tmp_path / "a")  # a link that stays inside is fine
    assert resolve_within(tmp_path, "a") == tmp_path / "a"
    assert resolve_within(tmp_path, "a/b.npz") == tmp_path / "a" / "b.npz"
    assert resolve_within(tmp_path, "inner") == tmp_path / "inner"
    assert resolve_within(tmp_path, "not-yet") == tmp_path / "not-yet"


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "a\\..\\..\\x", "/etc/passwd",
                                  "\\\\server\\share", "", "  "])
def test_escaping_or_empty_names_are_refused(tmp_path, name):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="absolute|'\\.\\.'|empty"):
        resolve_within(tmp_path, name)


def test_symlinks_out_of_the_root_are_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").mkdir()
    (root / "out").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match="outside"):
        resolve_within(root, "out")
    with pytest.raises(ValueError, match="outside"):
        resolve_within(root, "out/file")
