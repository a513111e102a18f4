"""The migration journal: a small SQLite file in the state folder.

It keeps each migration's plan (units and experiment id map) and each unit's
state, counts and digests. A unit is marked done only after the destination
has committed it; the file is the only state shared by the runner's workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from mlmigrate.exceptions import JournalError
from mlmigrate.stores.kinds import canonical
from mlmigrate.uris import mask

_SCHEMA = """
CREATE TABLE IF NOT EXISTS migrations (
    migration_id TEXT PRIMARY KEY,
    pair_key TEXT NOT NULL,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    options TEXT NOT NULL DEFAULT '{}',
    report TEXT
);
CREATE INDEX IF NOT EXISTS migrations_pair ON migrations (pair_key, started);
CREATE TABLE IF NOT EXISTS units (
    migration_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    dest_id TEXT NOT NULL,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    counts TEXT,
    digests TEXT,
    error TEXT,
    updated REAL,
    PRIMARY KEY (migration_id, unit_id)
);
CREATE TABLE IF NOT EXISTS unit_places (
    migration_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    place TEXT NOT NULL,
    PRIMARY KEY (migration_id, unit_id)
);
CREATE TABLE IF NOT EXISTS unit_watermarks (
    migration_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    watermark TEXT NOT NULL,
    PRIMARY KEY (migration_id, unit_id)
);
CREATE TABLE IF NOT EXISTS passes (
    migration_id TEXT NOT NULL,
    started REAL NOT NULL,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unit_scopes (
    migration_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    PRIMARY KEY (migration_id, unit_id)
);
CREATE TABLE IF NOT EXISTS unit_references (
    migration_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    found TEXT NOT NULL,
    PRIMARY KEY (migration_id, unit_id)
);
"""

PENDING, DONE, FAILED, SKIPPED = "pending", "done", "failed", "skipped"
#: a unit the destination already holds and ``--on-conflict skip`` leaves alone
PRESENT = "present"


def default_state_dir() -> Path:
    """``$MLMIGRATE_STATE_DIR``, else mlmigrate's folder in the user's data directory
    (``~/.local/share/mlmigrate`` on Linux, or under ``$XDG_DATA_HOME``): one journal for
    every migration of the user, found the same from any working folder."""
    configured = os.environ.get("MLMIGRATE_STATE_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_data_dir("mlmigrate", appauthor=False))


def pair_key(source: str, destination: str) -> str:
    """A stable key for a (source, destination) pair, however their URIs are spelled."""
    return hashlib.sha256(f"{canonical(source)}\n{canonical(destination)}".encode()).hexdigest()


def destination_key(migration: dict[str, Any]) -> str:
    """The destination of a journaled migration, one spelling per store (passwords masked)."""
    return str(migration["options"].get("destination_key") or canonical(migration["destination"]))


@dataclass
class UnitRecord:
    """One unit of a migration as the journal knows it."""

    unit_id: str
    kind: str
    source_id: str
    dest_id: str
    label: str
    state: str
    counts: dict[str, int]
    digests: dict[str, dict[str, Any]]
    error: str | None


class Journal:
    """Read and write the journal; safe to share between threads."""

    def __init__(self, state_dir: Path | None = None):
        self.state_dir = Path(state_dir or default_state_dir())
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.state_dir / "journal.sqlite"
            self._connection = sqlite3.connect(
                self.path, check_same_thread=False, timeout=30, isolation_level=None
            )
            self._connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal in {self.state_dir}: {exc}") from exc
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self, *, transaction: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone (in one transaction if asked); a failure of the
        journal's own database (a full disk, say) is a :class:`JournalError` naming it."""
        with self._lock:
            try:
                if transaction:
                    self._connection.execute("BEGIN")
                yield self._connection
                if transaction:
                    self._connection.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._connection.execute("ROLLBACK")
                raise JournalError(
                    f"the journal {self.path} could not be read or written ({exc}); free space or fix "
                    "its folder, then run the same command again: it resumes from what was recorded"
                ) from exc

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._locked() as connection:
            return connection.execute(sql, params).fetchall()

    def latest(self, source: str, destination: str) -> dict[str, Any] | None:
        """The newest migration of this pair, if any."""
        rows = self._execute(
            "SELECT migration_id, state, started, ended FROM migrations WHERE pair_key = ? "
            "ORDER BY started DESC LIMIT 1",
            (pair_key(source, destination),),
        )
        if not rows:
            return None
        migration_id, state, started, ended = rows[0]
        return {"migration_id": migration_id, "state": state, "started": started, "ended": ended}

    def create(
        self,
        source: str,
        destination: str,
        units: list[tuple[str, str, str, str, str]],
        options: dict[str, Any],
    ) -> str:
        """Record a new migration and its planned units ``(unit_id, kind, source_id, dest_id, label)``."""
        migration_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        with self._locked(transaction=True):
            self._connection.execute(
                "INSERT INTO migrations (migration_id, pair_key, source, destination, state, started, "
                "options) VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (
                    migration_id,
                    pair_key(source, destination),
                    mask(source),
                    mask(destination),
                    now,
                    json.dumps({**options, "destination_key": canonical(destination)}),
                ),
            )
            self._connection.executemany(
                "INSERT INTO units (migration_id, unit_id, position, kind, source_id, dest_id, label, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                [
                    (migration_id, unit_id, position, kind, source_id, dest_id, label)
                    for position, (unit_id, kind, source_id, dest_id, label) in enumerate(units)
                ],
            )
        return migration_id

    def add_units(self, migration_id: str, units: list[tuple[str, str, str, str, str]]) -> None:
        """Append planned units ``(unit_id, kind, source_id, dest_id, label)`` to a migration."""
        with self._locked(transaction=True):
            start = self._connection.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM units WHERE migration_id = ?", (migration_id,)
            ).fetchone()[0]
            self._connection.executemany(
                "INSERT INTO units (migration_id, unit_id, position, kind, source_id, dest_id, label, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                [
                    (migration_id, unit_id, start + offset, kind, source_id, dest_id, label)
                    for offset, (unit_id, kind, source_id, dest_id, label) in enumerate(units)
                ],
            )

    def save_id_map(self, migration_id: str, remapped: dict[str, str]) -> Path:
        """Write a migration's experiment id map beside the journal (atomically); return its path."""
        path = self.state_dir / f"{migration_id}.experiment-ids.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"source_to_destination": remapped}, indent=2) + "\n")
        os.replace(partial, path)
        return path

    def save_assigned_ids(self, migration_id: str, assigned: dict[str, dict[str, str]]) -> Path:
        """Write the ids a destination assigned itself (kind -> source id -> its id) beside the
        journal (atomically); return its path."""
        path = self.state_dir / f"{migration_id}.assigned-ids.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(assigned, indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)
        return path

    def rejects_file(self, migration_id: str) -> Path:
        """The file that names what a migration left out as malformed, one JSON object a line."""
        return self.state_dir / f"{migration_id}.rejects.jsonl"

    def add_reject(self, migration_id: str, entry: dict[str, str]) -> Path:
        """Append ``entry`` (unit, label, run, error; credentials masked) to the rejects file."""
        path = self.rejects_file(migration_id)
        line = json.dumps({key: mask(value) for key, value in entry.items()}, ensure_ascii=False)
        try:
            with open(path, "a", encoding="utf-8") as rejects:
                rejects.write(line + "\n")
        except OSError as exc:
            raise JournalError(f"cannot write the rejects file {path}: {exc.strerror}") from exc
        return path

    def rejected_runs(self, migration_id: str) -> list[dict[str, str]]:
        """The runs a migration left out as malformed, as its rejects file names them."""
        path = self.rejects_file(migration_id)
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return [entry for entry in entries if "run" in entry]

    def reject_run(
        self, migration_id: str, unit_id: str, shaping: dict[str, Any], entry: dict[str, str]
    ) -> Path:
        """Record that a unit now leaves out a malformed run: its new ``shaping`` (so a resume,
        verify and rollback leave the run out too) and ``entry`` in the rejects file."""
        with self._locked(transaction=True) as connection:
            row = connection.execute(
                "SELECT options FROM migrations WHERE migration_id = ?", (migration_id,)
            ).fetchone()
            options = json.loads(row[0] or "{}") if row else {}
            kept = {key: value for key, value in shaping.items() if key != "skip_runs"}  # kept once
            options.setdefault("shaping", {})[unit_id] = kept
            connection.execute(
                "UPDATE migrations SET options = ? WHERE migration_id = ?",
                (json.dumps(options), migration_id),
            )
        return self.add_reject(migration_id, entry)

    def options(self, migration_id: str) -> dict[str, Any]:
        """The options a migration was planned with (policy, shaping of its units)."""
        rows = self._execute("SELECT options FROM migrations WHERE migration_id = ?", (migration_id,))
        return json.loads(rows[0][0] or "{}") if rows else {}

    def key_phase(self, migration_id: str) -> dict[str, Any]:
        """Where a bulk load into an empty destination stands (``phase``: loading, building,
        keyed) and the keys it builds at the end (``keys``); empty when it is not one."""
        return dict(self.options(migration_id).get("key_phase") or {})

    def set_key_phase(self, migration_id: str, phase: str, keys: dict[str, Any]) -> None:
        """Record a bulk load's phase and its keys (before the step it names starts)."""
        self._execute(
            "UPDATE migrations SET options = json_set(options, '$.key_phase', json(?)) "
            "WHERE migration_id = ?",
            (json.dumps({"phase": phase, "keys": keys}), migration_id),
        )

    def save_scope(self, migration_id: str, unit_id: str, scope: dict[str, Any]) -> None:
        """Record the ids a unit merged into an existing destination object brought (for verify)."""
        self._execute(
            "INSERT OR REPLACE INTO unit_scopes (migration_id, unit_id, scope) VALUES (?, ?, ?)",
            (migration_id, unit_id, json.dumps(scope)),
        )

    def save_place(self, migration_id: str, unit_id: str, place: dict[str, Any]) -> None:
        """Record where a unit ran (a cluster's node and worker), for ``status``."""
        self._execute(
            "INSERT OR REPLACE INTO unit_places (migration_id, unit_id, place) VALUES (?, ?, ?)",
            (migration_id, unit_id, json.dumps(place)),
        )

    def places(self, migration_id: str) -> dict[str, dict[str, Any]]:
        """unit id -> where it ran, for the units run on a cluster's workers."""
        rows = self._execute("SELECT unit_id, place FROM unit_places WHERE migration_id = ?", (migration_id,))
        return {unit_id: json.loads(place) for unit_id, place in rows}

    def scopes(self, migration_id: str) -> dict[str, dict[str, Any]]:
        """unit id -> recorded scope, for a migration's merged units."""
        rows = self._execute("SELECT unit_id, scope FROM unit_scopes WHERE migration_id = ?", (migration_id,))
        return {unit_id: json.loads(scope) for unit_id, scope in rows}

    def save_watermarks(self, migration_id: str, watermarks: dict[str, str]) -> None:
        """Record the source's watermark of each unit as it was copied (``sync`` compares them)."""
        with self._locked(transaction=True) as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO unit_watermarks (migration_id, unit_id, watermark) VALUES (?, ?, ?)",
                [(migration_id, unit_id, mark) for unit_id, mark in watermarks.items()],
            )

    def watermarks(self, migration_id: str) -> dict[str, str]:
        """unit id -> the source's watermark when the unit was last copied."""
        rows = self._execute(
            "SELECT unit_id, watermark FROM unit_watermarks WHERE migration_id = ?", (migration_id,)
        )
        return {unit_id: mark for unit_id, mark in rows}

    def drop_unit(self, migration_id: str, unit_id: str) -> None:
        """Forget a unit that left the source (after its rows left the destination)."""
        with self._locked(transaction=True) as connection:
            for table in ("units", "unit_watermarks", "unit_scopes"):
                connection.execute(
                    f"DELETE FROM {table} WHERE migration_id = ? AND unit_id = ?", (migration_id, unit_id)
                )

    def add_pass(self, migration_id: str, started: float, info: dict[str, Any]) -> None:
        """Record one catch-up pass of a migration (when, units changed, rows, time)."""
        self._execute(
            "INSERT INTO passes (migration_id, started, info) VALUES (?, ?, ?)",
            (migration_id, started, json.dumps(info)),
        )

    def passes(self, migration_id: str) -> list[dict[str, Any]]:
        """A migration's passes, oldest first, each with its ``started`` time."""
        rows = self._execute(
            "SELECT started, info FROM passes WHERE migration_id = ? ORDER BY started", (migration_id,)
        )
        return [{"started": started, **json.loads(info)} for started, info in rows]

    def references(self, migration_id: str) -> dict[str, dict[str, list[str]]]:
        """unit id -> the ids its written values reference, for the units that recorded them."""
        rows = self._execute(
            "SELECT unit_id, found FROM unit_references WHERE migration_id = ?", (migration_id,)
        )
        return {unit_id: json.loads(found) for unit_id, found in rows}

    def units(self, migration_id: str) -> list[UnitRecord]:
        """The units of a migration in plan order."""
        rows = self._execute(
            "SELECT unit_id, kind, source_id, dest_id, label, state, counts, digests, error FROM units "
            "WHERE migration_id = ? ORDER BY position",
            (migration_id,),
        )
        return [
            UnitRecord(
                r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6] or "{}"), json.loads(r[7] or "{}"), r[8]
            )
            for r in rows
        ]

    def mark(
        self,
        migration_id: str,
        unit_id: str,
        state: str,
        *,
        counts: dict[str, int] | None = None,
        digests: dict[str, Any] | None = None,
        error: str | None = None,
        references: dict[str, list[str]] | None = None,
    ) -> None:
        """Record a unit's outcome (call only after the destination committed it), with the ids
        its written values reference (``references``, per reference) in the same transaction."""
        with self._locked(transaction=references is not None) as connection:
            connection.execute(
                "UPDATE units SET state = ?, counts = ?, digests = ?, error = ?, updated = ? "
                "WHERE migration_id = ? AND unit_id = ?",
                (
                    state,
                    json.dumps(counts or {}),
                    json.dumps(digests or {}),
                    mask(error) if error else None,
                    time.time(),
                    migration_id,
                    unit_id,
                ),
            )
            if references:
                connection.execute(
                    "INSERT OR REPLACE INTO unit_references (migration_id, unit_id, found) VALUES (?, ?, ?)",
                    (migration_id, unit_id, json.dumps(references)),
                )
            elif references is not None:  # written again without any: what it held before is gone
                connection.execute(
                    "DELETE FROM unit_references WHERE migration_id = ? AND unit_id = ?",
                    (migration_id, unit_id),
                )

    def mark_done(
        self,
        migration_id: str,
        done: list[tuple[str, dict[str, int], dict[str, Any], dict[str, list[str]]]],
    ) -> None:
        """Record units ``(unit_id, counts, digests, references)`` done, in one transaction (call
        only after the destination committed them), with the ids each one's values reference."""
        now = time.time()
        with self._locked(transaction=True) as connection:
            connection.executemany(
                "UPDATE units SET state = ?, counts = ?, digests = ?, error = NULL, updated = ? "
                "WHERE migration_id = ? AND unit_id = ?",
                [
                    (DONE, json.dumps(counts), json.dumps(digests), now, migration_id, unit_id)
                    for unit_id, counts, digests, _ in done
                ],
            )
            connection.executemany(
                "INSERT OR REPLACE INTO unit_references (migration_id, unit_id, found) VALUES (?, ?, ?)",
                [(migration_id, unit_id, json.dumps(refs)) for unit_id, _, _, refs in done if refs],
            )
            connection.executemany(  # written again without any: what it held before is gone
                "DELETE FROM unit_references WHERE migration_id = ? AND unit_id = ?",
                [(migration_id, unit_id) for unit_id, _, _, refs in done if not refs],
            )

    def finish(self, migration_id: str, state: str, report: dict[str, Any] | None = None) -> None:
        """Record the end of a migration run."""
        self._execute(
            "UPDATE migrations SET state = ?, ended = ?, report = ? WHERE migration_id = ?",
            (state, time.time(), json.dumps(report) if report else None, migration_id),
        )

    def set_state(self, migration_id: str, state: str) -> None:
        """Mark a migration running again (resume)."""
        self._execute(
            "UPDATE migrations SET state = ?, ended = NULL WHERE migration_id = ?", (state, migration_id)
        )

    def migration(self, migration_id: str) -> dict[str, Any] | None:
        """One migration's record (source and destination masked, options, last report)."""
        rows = self._execute(
            "SELECT migration_id, source, destination, state, started, ended, options, report "
            "FROM migrations WHERE migration_id = ?",
            (migration_id,),
        )
        if not rows:
            return None
        keys = ("migration_id", "source", "destination", "state", "started", "ended", "options", "report")
        found = dict(zip(keys, rows[0], strict=True))
        found["options"] = json.loads(found["options"] or "{}")
        found["report"] = json.loads(found["report"]) if found["report"] else None
        return found

    def latest_into(self, destination: str) -> dict[str, Any] | None:
        """The newest migration into ``destination`` (however its URI is spelled), if any."""
        wanted = canonical(destination)
        for migration in self.migrations():
            found = self.migration(migration["migration_id"])
            if found and destination_key(found) == wanted:
                return found
        return None

    def migrations(self) -> list[dict[str, Any]]:
        """All migrations, newest first, with unit counts per state."""
        rows = self._execute(
            "SELECT m.migration_id, m.source, m.destination, m.state, m.started, m.ended, "
            "SUM(u.state = 'done'), SUM(u.state = 'pending'), SUM(u.state = 'failed'), "
            "SUM(u.state = 'skipped') FROM migrations m LEFT JOIN units u USING (migration_id) "
            "GROUP BY m.migration_id ORDER BY m.started DESC"
        )
        keys = (
            "migration_id",
            "source",
            "destination",
            "state",
            "started",
            "ended",
            "done",
            "pending",
            "failed",
            "skipped",
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def close(self) -> None:
        """Close the journal file."""
        self._connection.close()
