"""Backups: a store copied into a Parquet folder from one snapshot, and restored from it."""

from __future__ import annotations

from pathlib import Path

from mlmigrate.engine.copy import copy
from mlmigrate.engine.journal import DONE, Journal
from mlmigrate.engine.report import Report
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import UsageError
from mlmigrate.stores import open_source
from mlmigrate.stores.backup.store import BackupStore
from mlmigrate.uris import backup_path, mask


def backup_uri(folder: str | Path) -> str:
    """The store URI of a backup folder (``backup:///abs/path``)."""
    text = str(folder)
    path = backup_path(text) if text.lower().startswith("backup://") else Path(text).expanduser()
    return f"backup://{path.resolve()}"


def backup(
    source_uri: str,
    folder: str | Path,
    *,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    verify: bool = True,
) -> Report:
    """Copy ``source_uri`` into a new backup folder, reading a database from one transaction.

    An interrupted backup resumes like a copy. Raises :class:`UsageError` when the source
    is missing or holds no MLflow store (a backup of nothing would look valid), or when the
    folder already holds another finished backup.
    """
    target = backup_uri(folder)
    store = BackupStore(target)
    try:
        if store.finished:
            journal = Journal(state_dir)
            try:
                previous = journal.latest(source_uri, target)
            finally:
                journal.close()
            if previous and previous["state"] == DONE:
                report = Report(source_uri, target, migration_id=previous["migration_id"])
                report.status = "up-to-date"
                report.message = f"{store.root} already holds the finished backup of {mask(source_uri)}"
                return report
            raise UsageError(f"{store.root} already holds a finished backup; choose a new folder")
        open_source(source_uri).close()  # a missing or empty source is refused: no empty safety net
    finally:
        store.close()
    return copy(source_uri, target, state_dir=state_dir, listener=listener, verify=verify)


def restore(
    folder: str | Path,
    destination_uri: str,
    *,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    workers: int | None = None,
    verify: bool = True,
) -> Report:
    """Check every file of a finished backup against its manifest, then copy it into
    ``destination_uri``. A damaged backup is refused before anything is written."""
    source = backup_uri(folder)
    store = BackupStore(source)
    try:
        if not store.finished:
            raise UsageError(f"{store.root} holds no finished backup (no manifest.json)")
        listener(Event("message", {"text": f"checking {len(store.manifest['tables'])} backup files"}))
        store.check_integrity()
    finally:
        store.close()
    return copy(
        source, destination_uri, state_dir=state_dir, listener=listener, workers=workers, verify=verify
    )
