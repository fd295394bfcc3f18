"""Confine user-chosen names to a root folder."""

from __future__ import annotations

from pathlib import Path, PurePath


def resolve_within(root: str | Path, name: str | Path) -> Path:
    """The path ``root/name``, refused if it would leave ``root``.

    For names that come from a user (a picker, a query parameter, a text box,
    a command-line option meant as a name): ``..`` parts, absolute paths and
    symlinks whose target lies outside ``root`` are refused.

    Parameters
    ----------
    root : path
        The folder that must contain the result (it need not exist yet).
    name : str or path
        A relative path under ``root``, e.g. a suite's folder name.

    Returns
    -------
    Path
        ``root / name`` (not resolved: symlinks inside ``root`` are kept).

    Raises
    ------
    ValueError
        ``name`` is empty, absolute, contains ``..``, or resolves (through a
        symlink) outside ``root``.
    """
    text = str(name)
    if not text or not text.strip():
        raise ValueError("the name is empty")
    part = PurePath(text)
    if part.is_absolute() or text.startswith(("/", "\\")) or part.drive:
        raise ValueError(f"{text!r} is an absolute path; give a name under {root}")
    if ".." in part.parts or ".." in text.replace("\\", "/").split("/"):
        raise ValueError(f"{text!r} contains '..'; give a name under {root}")
    candidate = Path(root) / part
    real_root = Path(root).resolve()
    if not candidate.resolve().is_relative_to(real_root):
        raise ValueError(f"{text!r} leads outside {root} (through a symbolic link)")
    return candidate
