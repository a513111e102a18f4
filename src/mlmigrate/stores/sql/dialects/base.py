"""What a SQL database family supplies to :class:`~mlmigrate.stores.sql.store.SqlStore`.

A dialect is one object per family (SQLite, PostgreSQL, MySQL/MariaDB): its capabilities,
how to connect, its bulk mover, how it creates MLflow's schema in an empty database and
what a few statements look like there. ``SqlStore`` asks the dialect and never tests
which family it is on; a new family (DuckDB, say) is one new class in this package and
one entry in :data:`mlmigrate.stores.sql.dialects.DIALECTS`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import pyarrow as pa
import sqlalchemy

from mlmigrate.stores.base import Capabilities
from mlmigrate.stores.sql.deferred_keys import DeferredKeys
from mlmigrate.stores.sql.key_collation import KeyCollations

#: MLflow's experiment id column on the servers is a 32-bit integer
INT32_MAX = 2**31 - 1


class Bulk(Protocol):
    """Moving record batches in and out of one database, in transactions and snapshots.

    SQL text names its one parameter ``:unit`` (an experiment id, a model name or a bound list).
    """

    def pin(self) -> str | None:
        """Hold the database as it is now for every later read; a token another process may
        :meth:`adopt`, or None when only this object can read the snapshot."""

    def adopt(self, token: str) -> None:
        """Read the snapshot that :meth:`pin` made in another process."""

    def read_committed(self) -> None:
        """Let reads that need no snapshot spanning a unit take a faster path, if there is one."""

    def transaction(self) -> AbstractContextManager[Any]:
        """A connection inside one transaction, committed when the block ends without error."""

    def snapshot(self) -> AbstractContextManager[Any]:
        """A read-only transaction: every read in the block sees one consistent state."""

    def execute(self, connection: Any, sql: str, unit: Any) -> None:
        """Run a statement with its ``:unit`` parameter."""

    def insert(self, connection: Any, table: str, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to ``table``."""

    def fetch(self, connection: Any, sql: str, unit: Any, schema: pa.Schema) -> pa.Table:
        """Run ``sql`` and return its rows as a table of ``schema``."""

    def close(self) -> None:
        """Release the pinned snapshot and any idle connection."""


class Dialect(Protocol):
    """One SQL database family, as the store sees it."""

    #: the URI family (``scheme_of``): ``sqlite``, ``postgresql``, ``mysql``
    family: str
    capabilities: Capabilities

    def engine(self, uri: str) -> sqlalchemy.Engine:
        """An engine for the store's own queries (catalogue, schema, small reads); every
        connection it opens, MLflow's schema code's included, carries the session settings."""

    def bulk(self, uri: str) -> Bulk:
        """The bulk mover for ``uri``."""

    def exists(self, uri: str) -> bool:
        """Whether the database may exist already (a SQLite file not made yet does not)."""

    def make_room(self, uri: str) -> None:
        """Make what the database needs before its schema is created (SQLite: its folder)."""

    def create_schema(self, engine: sqlalchemy.Engine) -> str:
        """Create MLflow's head schema in the empty database; return its revision."""

    def write_problem(
        self, uri: str, engine: sqlalchemy.Engine, *, holds_mlflow: bool, display_uri: str
    ) -> str | None:
        """Why the database could not be written (permissions), or None when it can or
        when the family cannot tell before writing."""

    def advance_experiment_ids(self, connection: sqlalchemy.Connection) -> None:
        """Move the experiment id generator past the largest id written."""

    def bind_ids(self, ids: list[str]) -> tuple[str, Any]:
        """What stands for ``ids`` inside ``IN (…)`` (a subquery or a list of literals) and the
        value to bind to its ``:unit`` (None: nothing is bound)."""

    def snapshot_engine(self, token: str) -> sqlalchemy.Engine | None:
        """An engine on the snapshot ``token`` names, when the snapshot is a database of its
        own (SQLite's private copy); None when the store's engine stays."""

    def key_collations(self, engine: sqlalchemy.Engine) -> KeyCollations | None:
        """How the database compares the text of its keys, when not exactly as written
        (MySQL's collations); None when two texts that differ are two keys."""

    def deferred_keys(self) -> DeferredKeys:
        """How the keys of the big tables are left out of a bulk load and built after it."""


def server_engine(url: sqlalchemy.URL, **connect_args: Any) -> sqlalchemy.Engine:
    """A pooled engine for a database server: a few connections kept, checked before use."""
    return sqlalchemy.create_engine(
        url, pool_size=2, max_overflow=8, pool_pre_ping=True, connect_args=connect_args
    )
