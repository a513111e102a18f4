"""What the artifact phase has seen and copied, kept beside the migration journal.

Three tables in the journal's SQLite file: the artifact locations each committed
unit references, the prefixes already copied (with their totals), and each object
written (size, content hash and the destination's tag), so a resumed copy skips
what is already there without hashing it again.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmigrate.exceptions import JournalError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifact_refs (
    migration_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    uri TEXT NOT NULL,
    PRIMARY KEY (migration_id, kind, uri)
);
CREATE TABLE IF NOT EXISTS artifact_prefixes (
    migration_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    kind TEXT NOT NULL,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (migration_id, uri)
);
CREATE TABLE IF NOT EXISTS artifact_objects (
    migration_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (migration_id, destination)
);
"""


@dataclass(frozen=True)
class ObjectRecord:
    """An object the copy wrote (or found identical) at ``destination``."""

    destination: str
    size: int
    sha256: str
    tag: str


class Ledger:
    """Read and write the artifact tables; safe to share between threads.

    Object records are buffered and written in batches (and on :meth:`flush`): one lost
    on a crash only costs hashing that object again on resume.
    """

    def __init__(self, journal_path: Path, migration_id: str):
        self.migration_id = migration_id
        try:
            self._connection = sqlite3.connect(
                journal_path, check_same_thread=False, timeout=30, isolation_level=None
            )
            self._connection.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the artifact ledger in {journal_path}: {exc}") from exc
        self._lock = threading.Lock()  # the connection
        self._pending_lock = threading.Lock()  # the buffer, so writers never wait for a commit
        self._pending: list[ObjectRecord] = []
        self._flushed = time.monotonic()

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._lock:
            self._connection.execute("BEGIN")
            self._connection.executemany(sql, rows)
            self._connection.execute("COMMIT")

    def add_references(self, references: list[tuple[str, str]]) -> None:
        """Remember the ``(kind, uri)`` locations a unit references (before it is marked done)."""
        if references:
            self._write(
                "INSERT OR IGNORE INTO artifact_refs VALUES (?, ?, ?)",
                [(self.migration_id, kind, uri) for kind, uri in references],
            )

    def references(self) -> list[tuple[str, str]]:
        """Every ``(kind, uri)`` recorded for this migration."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT kind, uri FROM artifact_refs WHERE migration_id = ? ORDER BY uri, kind",
                (self.migration_id,),
            ).fetchall()
        return [(kind, uri) for kind, uri in rows]

    def prefix_done(self, uri: str, kind: str, objects: int, size: int) -> None:
        """Record a prefix whose every object is at the destination."""
        self.flush()
        self._write(
            "INSERT OR REPLACE INTO artifact_prefixes VALUES (?, ?, ?, ?, ?, ?)",
            [(self.migration_id, uri, kind, objects, size, time.time())],
        )

    def done_prefixes(self) -> dict[str, tuple[int, int]]:
        """Prefixes copied earlier: uri -> (objects, bytes)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT uri, objects, bytes FROM artifact_prefixes WHERE migration_id = ?",
                (self.migration_id,),
            ).fetchall()
        return {uri: (objects, size) for uri, objects, size in rows}

    def record(self, record: ObjectRecord) -> None:
        """Remember an object written (or found identical) at the destination."""
        with self._pending_lock:
            self._pending.append(record)
            due = len(self._pending) >= 1024 or time.monotonic() - self._flushed > 2.0
        if due:
            self.flush()

    def flush(self) -> None:
        """Write buffered object records."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
            self._flushed = time.monotonic()
        if pending:
            self._write(
                "INSERT OR REPLACE INTO artifact_objects VALUES (?, ?, ?, ?, ?)",
                [(self.migration_id, r.destination, r.size, r.sha256, r.tag) for r in pending],
            )

    def objects_under(self, destination_prefix: str) -> dict[str, ObjectRecord]:
        """Object records at or below a destination prefix."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT destination, size, sha256, tag FROM artifact_objects WHERE migration_id = ? "
                "AND (destination = ? OR substr(destination, 1, ?) = ?)",
                (
                    self.migration_id,
                    destination_prefix,
                    len(destination_prefix) + 1,
                    destination_prefix + "/",
                ),
            ).fetchall()
        return {row[0]: ObjectRecord(*row) for row in rows}

    def close(self) -> None:
        """Flush and close."""
        self.flush()
        self._connection.close()
