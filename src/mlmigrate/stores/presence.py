"""Whether a local store is there, checked without creating anything: a source must exist and
hold an MLflow store, a new SQLite destination needs its folder. Light (standard library
only), so that the registry can name these checks for each kind."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mlmigrate.exceptions import UsageError
from mlmigrate.uris import local_path, mask, sqlite_path

#: the names in a FileStore folder that make it one (besides numbered experiment folders)
FILESTORE_MARKERS = (".trash", "models")


def _holds_filestore(folder: Path) -> bool:
    try:
        names = [entry.name for entry in folder.iterdir() if entry.is_dir()]
    except OSError as exc:
        raise UsageError(f"cannot list the folder {folder}: {exc.strerror}") from exc
    return any((name.isascii() and name.isdigit()) or name in FILESTORE_MARKERS for name in names)


def check_filestore_source(uri: str) -> None:
    """Refuse a FileStore to be read that is missing, not a folder, or holds no MLflow store."""
    path = local_path(uri).expanduser()
    if not path.exists():
        raise UsageError(f"no such folder: {path}")
    if not path.is_dir():
        raise UsageError(f"{path} is not a folder, so not an MLflow FileStore")
    if (path / "mlruns").is_dir():
        path = path / "mlruns"
    if not _holds_filestore(path):
        raise UsageError(
            f"{path} holds no MLflow store: no experiment folders (numbered, with meta.yaml), "
            f"no models/ and no mlruns/ folder (to copy it as a plain tree of files, write tree://{path})"
        )


def _sqlite_tables(path: Path) -> set[str]:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the SQLite database {path}: {exc}") from exc
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{path} is not a SQLite database ({exc})") from exc
    finally:
        connection.close()
    return {str(name) for (name,) in rows}


def check_sqlite_source(uri: str) -> None:
    """Refuse a SQLite source whose file is missing, empty or holds no MLflow tables (without
    creating it, as opening it would)."""
    path = sqlite_path(uri).expanduser()
    if not path.exists():
        raise UsageError(f"no such SQLite database: {path} (from {mask(uri)})")
    if not path.is_file():
        raise UsageError(f"{path} is not a SQLite database file")
    if path.stat().st_size == 0:
        raise UsageError(f"{path} is empty (0 bytes): it holds no MLflow store")
    if "experiments" not in _sqlite_tables(path):
        raise UsageError(f"{path} holds no MLflow store (it has no experiments table)")


def check_sqlite_destination(uri: str) -> None:
    """Refuse a new SQLite database in a folder that does not exist (a mistyped path)."""
    folder = sqlite_path(uri).expanduser().parent
    if not folder.is_dir():
        raise UsageError(
            f"the folder {folder} of {mask(uri)} does not exist; check the path "
            f"(sqlite:///relative.db, sqlite:////absolute.db), or create it first: mkdir -p '{folder}'"
        )
