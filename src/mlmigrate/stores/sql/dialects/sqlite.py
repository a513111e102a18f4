"""SQLite: one file, one writer, ADBC bulk reads and writes, snapshots as private copies."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy

from mlmigrate.stores.base import Capabilities, Snapshot
from mlmigrate.stores.sql.bulk import SqliteBulk
from mlmigrate.stores.sql.deferred_keys import DeferredKeys
from mlmigrate.stores.sql.dialects.base import Bulk
from mlmigrate.stores.sql.key_collation import KeyCollations
from mlmigrate.uris import sqlite_path


class SqliteDialect:
    """A SQLite database file."""

    family = "sqlite"
    capabilities = Capabilities(
        snapshot=Snapshot.SHARED, nominal_rate=100_000, kind="a SQLite database", deferred_keys=True
    )

    def engine(self, uri: str) -> sqlalchemy.Engine:
        """No pooled connection: the file's locks belong to whoever holds it."""
        return sqlalchemy.create_engine(uri, poolclass=sqlalchemy.NullPool)

    def bulk(self, uri: str) -> Bulk:
        """ADBC ingest and fetch on the file."""
        return SqliteBulk(sqlite_path(uri))

    def exists(self, uri: str) -> bool:
        """Whether the file is there (it is not made just to look)."""
        return sqlite_path(uri).exists()

    def make_room(self, uri: str) -> None:
        """Make the file's folder."""
        sqlite_path(uri).parent.mkdir(parents=True, exist_ok=True)

    def create_schema(self, engine: sqlalchemy.Engine) -> str:
        """Replay the recorded DDL of MLflow's migrations."""
        from mlmigrate.stores.sql.schema import create_sqlite_schema

        return create_sqlite_schema(engine)

    def write_problem(
        self, uri: str, engine: sqlalchemy.Engine, *, holds_mlflow: bool, display_uri: str
    ) -> str | None:
        """The file, or the first existing folder above it, not writable."""
        path = sqlite_path(uri).expanduser().resolve()
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if path.exists() and not os.access(path, os.W_OK):
            return f"{path} is not writable"
        if not os.access(folder, os.W_OK):
            return f"{folder} is not writable (SQLite writes its journal beside the database)"
        return None

    def advance_experiment_ids(self, connection: sqlalchemy.Connection) -> None:
        """Nothing: SQLite's rowids follow the largest id by themselves."""

    def bind_ids(self, ids: list[str]) -> tuple[str, Any]:
        """``json_each`` over the ids as a JSON array."""
        return "SELECT value FROM json_each(:unit)", json.dumps(ids)

    def key_collations(self, engine: sqlalchemy.Engine) -> KeyCollations | None:
        """None: text keys compare as written (BINARY)."""
        return None

    def snapshot_engine(self, token: str) -> sqlalchemy.Engine | None:
        """An engine on the private copy."""
        return sqlalchemy.create_engine(f"sqlite:///{Path(token)}", poolclass=sqlalchemy.NullPool)

    def deferred_keys(self) -> DeferredKeys:
        """The secondary indexes, built at the end (the keys stay: SQLite cannot add them)."""
        from mlmigrate.stores.sql.sqlite_keys import SqliteKeys

        return SqliteKeys()
