"""The Optuna storage of a search: URL, connection, display, study names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DB_FILE = "search.db"
#: The environment variable through which the storage URL reaches a trial (it may
#: hold credentials, so it is never written into the spec file).
STORAGE_ENV = "DERMVIZ_SEARCH_STORAGE"


def open_storage(url: str) -> Any:
    """An Optuna RDB storage with generous lock timeouts (SQLite is shared by the
    driver and, with pruning, the trial processes)."""
    import optuna  # imported on use: the dashboard reads searches without it

    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 120}}
    else:
        kwargs = {"pool_pre_ping": True}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def default_storage_url(suite_dir: Path) -> str:
    """SQLite ``search.db`` in the suite folder."""
    return f"sqlite:///{(Path(suite_dir) / DB_FILE).resolve()}"


def display_storage(url: str, suite_dir: Path) -> str:
    """The storage as recorded in suite.json: relative for the default SQLite file,
    password hidden otherwise."""
    if url == default_storage_url(suite_dir):
        return f"sqlite:///<suite>/{DB_FILE}"
    try:
        from sqlalchemy.engine import make_url  # comes with optuna; imported on use

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a parseable URL; record nothing secret
        return "<unparseable storage URL>"


def study_name(suite_name: str, mid: str) -> str:
    """The Optuna study of one member."""
    return f"dermviz:{suite_name}:{mid}"
