"""PostgreSQL: psycopg 3, COPY in and out, exported snapshots, mlmigrate's session limits."""

from __future__ import annotations

from typing import Any

import sqlalchemy

from mlmigrate.stores.base import Capabilities, Snapshot
from mlmigrate.stores.sql import session_limits
from mlmigrate.stores.sql.bulk import PostgresBulk
from mlmigrate.stores.sql.deferred_keys import DeferredKeys
from mlmigrate.stores.sql.dialects.base import INT32_MAX, Bulk, server_engine
from mlmigrate.stores.sql.key_collation import KeyCollations


class PostgresDialect:
    """A PostgreSQL database."""

    family = "postgresql"
    capabilities = Capabilities(
        max_experiment_id=INT32_MAX,
        writers=2,
        snapshot=Snapshot.SHARED,
        enforces_lengths=True,
        holds_nul=False,
        nominal_rate=50_000,
        kind="a PostgreSQL database",
        deferred_keys=True,
    )

    def engine(self, uri: str) -> sqlalchemy.Engine:
        """psycopg 3; every session lifts the role's and database's timeouts."""
        url = sqlalchemy.make_url("postgresql+psycopg://" + uri.split("://", 1)[1])
        return server_engine(url, **session_limits.connect_args(url))

    def bulk(self, uri: str) -> Bulk:
        """COPY over psycopg 3 connections with the same session limits."""
        return PostgresBulk(uri)

    def exists(self, uri: str) -> bool:
        """A server database: there, or the connection says otherwise."""
        return True

    def make_room(self, uri: str) -> None:
        """Nothing: the database is the server's."""

    def create_schema(self, engine: sqlalchemy.Engine) -> str:
        """Replay the recorded statements of MLflow's migrations (run them the first time)."""
        from mlmigrate.stores.sql.postgres_schema import create_postgres_schema

        return create_postgres_schema(engine)

    def write_problem(
        self, uri: str, engine: sqlalchemy.Engine, *, holds_mlflow: bool, display_uri: str
    ) -> str | None:
        """The user may not write MLflow's tables, or may not create tables."""
        if holds_mlflow:
            sql = (
                "SELECT bool_and(has_table_privilege(t, 'INSERT') AND has_table_privilege(t, 'DELETE')) "
                "FROM unnest(ARRAY['experiments', 'runs', 'metrics', 'params', 'tags']) AS t"
            )
            what = "insert into and delete from MLflow's tables"
        else:
            sql = "SELECT has_schema_privilege(current_schema(), 'CREATE')"
            what = "create tables in the current schema"
        with engine.connect() as connection:
            allowed = connection.execute(sqlalchemy.text(sql)).scalar()
        return None if allowed else f"the user of {display_uri} may not {what}"

    def advance_experiment_ids(self, connection: sqlalchemy.Connection) -> None:
        """Set the experiment id sequence past the largest id."""
        connection.execute(
            sqlalchemy.text(
                "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                "COALESCE((SELECT MAX(experiment_id) FROM experiments), 0) + 1, false)"
            )
        )

    def bind_ids(self, ids: list[str]) -> tuple[str, Any]:
        """``unnest`` over the ids bound as a text array."""
        return "SELECT unnest(CAST(:unit AS text[]))", ids

    def key_collations(self, engine: sqlalchemy.Engine) -> KeyCollations | None:
        """None: text keys compare as written (deterministic collations)."""
        return None

    def snapshot_engine(self, token: str) -> sqlalchemy.Engine | None:
        """None: the exported snapshot is adopted by the bulk mover's transactions."""
        return None

    def deferred_keys(self) -> DeferredKeys:
        """From ``pg_constraint`` and ``pg_index``, built back on two connections."""
        from mlmigrate.stores.sql.postgres_keys import PostgresKeys

        return PostgresKeys()
