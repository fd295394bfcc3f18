"""Run any sanity check on a suite, cached: :func:`run`, :func:`list_studies`.

One cache layout for every check: ``<suite>/sanity/<kind>-<key>/`` (see
:mod:`dermviz.sanity.storage`), ``key`` being the spec's hash
(:meth:`~dermviz.sanity.base.SanitySpec.key`). A check that keeps its work in progress
does so in the folder's ``partial/`` (:attr:`~dermviz.sanity.base.Loaders.scratch`), so an
interrupted run resumes. Running the same spec twice, or
opening a study in the dashboard, costs no recomputation. Listing and loading
need no Keras.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dermviz.sanity.base import Loaders, Progress, SanitySpec, get_check
from dermviz.sanity.storage import (
    META,
    StudyDamagedError,
    find_damage,
    load_study,
    read_meta,
    save_study,
)
from dermviz.store import DamagedFileWarning

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence

    from dermviz.models.suite import Suite

__all__ = ["StudyInfo", "cached_study", "list_studies", "run", "study_folder"]

SANITY_DIR = "sanity"
#: Inside a study's folder: the work in progress a check keeps to resume from
#: (:attr:`~dermviz.sanity.base.Loaders.scratch`), removed once the study is saved.
SCRATCH_DIR = "partial"


def _suite_path(suite: Suite | str | Path) -> Path:
    return Path(getattr(suite, "path", suite))


def study_folder(suite: Suite | str | Path, spec: SanitySpec) -> Path:
    """Where ``spec``'s study is cached: ``<suite>/sanity/<kind>-<key>``.

    ``suite`` is a :class:`~dermviz.models.suite.Suite` or its folder.
    """
    return _suite_path(suite) / SANITY_DIR / spec.folder_name()


def cached_study(suite: Suite | str | Path, spec: SanitySpec) -> Any | None:
    """The saved result of ``spec``, or None when it was not computed yet.

    A damaged saved study warns (:class:`~dermviz.store.DamagedFileWarning`,
    naming the file) and counts as not computed, so :func:`run` redoes it.
    """
    folder = study_folder(suite, spec)
    if not (folder / META).is_file():
        return None
    try:
        result = load_study(folder)
    except StudyDamagedError as exc:
        warnings.warn(f"{exc}; recomputing it", DamagedFileWarning, stacklevel=2)
        return None
    return result if result.spec is not None and result.spec.key() == spec.key() else None


def run(
    suite: Suite,
    spec: SanitySpec,
    *,
    progress: Progress = True,
    force: bool = False,
    dataset: Any | None = None,
    load_model: Callable[[str], Any] | None = None,
) -> Any:
    """The result of ``spec`` on ``suite``: read from the cache, or computed and saved.

    Parameters
    ----------
    suite : Suite
    spec : SanitySpec
        Any registered check's spec (:func:`dermviz.sanity.base.register_check`).
    progress : bool or callable
        True: a tqdm bar; a callable gets ``(done, total, step name)`` after each
        step (e.g. a dashboard progress bar); False: silent.
    force : bool
        Recompute (and overwrite) even when the study is cached.
    dataset : Dataset, optional
        The suite's data set (default ``suite.dataset()``, only on a cache miss).
    load_model : callable, optional
        ``load_model(member_id) -> keras.Model`` (default ``suite.load_model``; the
        dashboard passes its cached loader); only called on a cache miss.

    Returns
    -------
    RandomizationResult or ComparisonResult
        The check's result type; ``result.spec == spec``.
    """
    check = get_check(spec.kind)
    if not isinstance(spec, check.spec_type):
        raise TypeError(f"{type(spec).__name__} is not the spec type of {spec.kind!r}")
    if not force:
        cached = cached_study(suite, spec)
        if cached is not None:
            return cached
    folder = study_folder(suite, spec)
    scratch = folder / SCRATCH_DIR
    if force:
        shutil.rmtree(scratch, ignore_errors=True)
    ds = dataset if dataset is not None else suite.dataset()
    loaders = Loaders(
        model=load_model if load_model is not None else suite.load_model,
        images=lambda ids: ds.load_images(ids, size=suite.image_size),
        scratch=scratch,
    )
    result = check.compute(spec, loaders, progress=progress)
    save_study(result, folder)
    shutil.rmtree(scratch, ignore_errors=True)
    return result


@dataclass(frozen=True)
class StudyInfo:
    """A saved study, as listed (read from its ``study.json`` only).

    Attributes
    ----------
    folder : Path
    kind : str
        The check (``"randomization"``, ``"reproducibility"``, ``"cross_model"``).
    method : str
    members : tuple of str
        The members it explains (the randomized one, or the compared ones).
    n_images : int
    created : str
        ISO time of saving.
    spec : SanitySpec or None
        None for a result saved without one.
    legacy : bool
        Saved in the format before typed specs (read, but never a cache hit).
    outdated : bool
        Saved by older code: its spec's key today (which holds the code revisions its
        scores depend on, :meth:`~dermviz.sanity.base.SanitySpec.revisions`) is not the
        one it was saved under, so it is never a cache hit, and its scores may differ
        from what the same study gives now.
    damaged : str or None
        Why the study cannot be read (listed only with ``include_damaged``);
        None when it looks whole.
    """

    folder: Path
    kind: str
    method: str
    members: tuple[str, ...]
    n_images: int
    created: str
    spec: SanitySpec | None
    legacy: bool = False
    outdated: bool = False
    damaged: str | None = None

    @property
    def member(self) -> str:
        """The (first, reference) member, or ``"?"``."""
        return self.members[0] if self.members else "?"

    @property
    def label(self) -> str:
        """One line for pickers: method, member, images, design, time."""
        detail = self.spec.describe() if self.spec is not None else "?"
        when = self.created[:16].replace("T", " ")
        return f"{self.method} · {self.member} · {self.n_images} images · {detail} ({when})"


def list_studies(
    suite: Suite | str | Path, kinds: Sequence[str] | None = None, *,
    include_damaged: bool = False, include_outdated: bool = False,
) -> list[StudyInfo]:
    """The complete studies saved under ``<suite>/sanity``, newest first.

    Parameters
    ----------
    suite : Suite or path
        The suite or its folder.
    kinds : sequence of str, optional
        Only these checks; default all.
    include_damaged : bool
        Also list studies whose files are damaged (:func:`dermviz.sanity.storage.find_damage`),
        with the reason in :attr:`StudyInfo.damaged` (kind ``"?"`` when even
        ``study.json`` is unreadable; such studies are listed whatever ``kinds``).
        By default they are left out.
    include_outdated : bool
        Also list studies saved by code whose scores have since changed
        (:attr:`StudyInfo.outdated`). By default they are left out.

    Folders that are incomplete (no ``study.json``) or of an unknown format are skipped.
    """
    root = _suite_path(suite) / SANITY_DIR
    out = []
    for meta_path in sorted(root.glob(f"*/{META}")) if root.is_dir() else []:
        folder = meta_path.parent
        try:
            meta = read_meta(folder)
        except StudyDamagedError as exc:  # study.json itself: kind unknown
            if include_damaged:
                out.append(StudyInfo(folder=folder, kind="?", method="?", members=(),
                                     n_images=0, created="", spec=None, damaged=str(exc)))
            continue
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if kinds is not None and meta["kind"] not in kinds:
            continue
        reason = find_damage(folder)
        if reason is not None and not include_damaged:
            continue
        spec = meta["spec"]
        legacy = meta.get("format") == 1
        outdated = spec is not None and not legacy and spec.folder_name() != folder.name
        if outdated and not include_outdated:
            continue
        out.append(StudyInfo(
            folder=folder,
            kind=meta["kind"],
            method=meta.get("method", "?"),
            members=tuple(spec.members) if spec is not None else (),
            n_images=len(meta.get("image_ids", [])),
            created=meta.get("created", ""),
            spec=spec,
            legacy=legacy,
            outdated=outdated,
            damaged=reason,
        ))
    return sorted(out, key=lambda s: s.created, reverse=True)
