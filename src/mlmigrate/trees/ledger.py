"""What a tree copy did to each destination key, beside the artifact ledger's object records:
keys it created, keys that were there before (and may have been overwritten), keys ``--delete-extra`` removed.

Each key is recorded *before* it is written or deleted (created ones once, from the first
listing of the destination), so a rollback after a crash at any moment knows exactly which
objects the copy brought, and which it could not give back.
"""

from __future__ import annotations

from pathlib import Path

from mlmigrate.artifacts.ledger import Ledger

CREATED, PRESENT, DELETED = "created", "present", "deleted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tree_keys (
    migration_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (migration_id, destination)
);
"""


class TreeLedger(Ledger):
    """The artifact ledger of one tree migration, with the destination keys it touches."""

    def __init__(self, journal_path: Path, migration_id: str):
        super().__init__(journal_path, migration_id)
        with self._lock:
            self._connection.executescript(_SCHEMA)

    def intend(self, action: str, destinations: list[str]) -> None:
        """Record ``action`` on each destination URI before it happens; a key already recorded
        keeps its first action (a resumed copy sees its own objects as present)."""
        if destinations:
            self._write(
                "INSERT OR IGNORE INTO tree_keys VALUES (?, ?, ?)",
                [(self.migration_id, uri, action) for uri in destinations],
            )

    def keys(self, action: str) -> list[str]:
        """Destination URIs recorded with ``action``, sorted."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT destination FROM tree_keys WHERE migration_id = ? AND action = ? "
                "ORDER BY destination",
                (self.migration_id, action),
            ).fetchall()
        return [row[0] for row in rows]

    def forget(self, destinations: list[str]) -> None:
        """Drop the records of objects a rollback removed."""
        self._write(
            "DELETE FROM tree_keys WHERE migration_id = ? AND destination = ?",
            [(self.migration_id, uri) for uri in destinations],
        )
        self._write(
            "DELETE FROM artifact_objects WHERE migration_id = ? AND destination = ?",
            [(self.migration_id, uri) for uri in destinations],
        )
