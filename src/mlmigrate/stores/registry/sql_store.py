"""The ``mr_*`` tables of one database, read one model at a time and written a group of models
at a time.

A group is written in one transaction that first removes what the database holds of its models
(their tag types, tags, versions and rows), then inserts their rows with their ids; a model
removed (rollback) goes the same way. On SQLite the application's own migration creates the schema,
on PostgreSQL and MySQL the DDL of :mod:`server_ddl`; ``finish`` advances the id generators.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mlmigrate.exceptions import ConflictError, StoreError, TransientStoreError
from mlmigrate.stores.registry.address import MYSQL, POSTGRESQL, SQLITE, RegistryAddress
from mlmigrate.stores.registry.layout import (
    MODELS,
    SCHEMAS,
    SQLITE_DDL,
    SQLITE_TAG_TYPES_DDL,
    TAG_TYPES,
    TAGS,
    VERSIONS,
)
from mlmigrate.stores.registry.server_ddl import MYSQL_DDL, POSTGRESQL_DDL
from mlmigrate.uris import mask

_TRANSIENT = ("OperationalError", "InterfaceError")
#: keys per ``IN (...)`` list (well under SQLite's and the servers' parameter limits)
INSERT_ROWS = 500
#: rows handed to one executemany (the driver splits it into statements it can send)
INSERT_CHUNK = 10_000
_DUPLICATE = ("IntegrityError", "UniqueViolation")


def _names(exc: BaseException) -> set[str]:
    found = {cls.__name__ for cls in type(exc).__mro__}
    original = getattr(exc, "orig", None)
    if isinstance(original, BaseException):
        found |= {cls.__name__ for cls in type(original).__mro__}
    return found


class SqlRegistry:
    """One database's registry tables (SQLite, PostgreSQL or MySQL/MariaDB)."""

    def __init__(self, address: RegistryAddress):
        self.address = address
        self.display = mask(str(address.path or address.database_url))
        self._engine: Any = None
        self._tables: set[str] | None = None

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine, made on first use."""
        if self._engine is None:
            import sqlalchemy as sa

            assert self.address.database_url is not None
            # connections are kept between models (one transaction each): a connection per
            # model cost more than the model's rows
            self._engine = sa.create_engine(self.address.database_url, pool_size=2, pool_pre_ping=True)
        return self._engine

    def error(self, exc: Exception, doing: str) -> Exception:
        """A native error as mlmigrate's: transient, a duplicate key, or a store error."""
        text = (
            f"{doing} on {self.display}: {mask(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}"
        )
        names = _names(exc)
        if names & set(_DUPLICATE):
            return ConflictError(text, [text])
        if names & set(_TRANSIENT):
            return TransientStoreError(text)
        return StoreError(text)

    def tables(self) -> set[str]:
        """The tables the database holds (asked once, and again after ``prepare``)."""
        import sqlalchemy as sa

        if self._tables is not None and MODELS in self._tables:
            return self._tables
        try:
            with self.engine.connect() as connection:
                self._tables = set(sa.inspect(connection).get_table_names())
        except Exception as exc:
            raise self.error(exc, "listing the tables") from exc
        return self._tables

    def model_names(self) -> list[str]:
        """Model names in id order."""
        import sqlalchemy as sa

        if MODELS not in self.tables():
            return []
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(sa.text("SELECT name FROM mr_models ORDER BY id"))]

    def read_model(self, name: str) -> dict[str, pa.Table]:
        """The rows of one model (empty tables when the database does not hold it)."""
        import sqlalchemy as sa

        present = self.tables()
        queries = {
            MODELS: "SELECT id, name, description, created_at, updated_at FROM mr_models WHERE name = :name",
            VERSIONS: "SELECT v.id, v.model_id, v.version, v.description, v.storage_path, v.file_size_bytes, "
            "v.created_at FROM mr_model_versions v JOIN mr_models m ON m.id = v.model_id "
            "WHERE m.name = :name "
            "ORDER BY v.id",
            TAGS: "SELECT t.id, t.model_version_id, t.tag_key, t.tag_value FROM mr_model_tags t "
            "JOIN mr_model_versions v ON v.id = t.model_version_id JOIN mr_models m ON m.id = v.model_id "
            "WHERE m.name = :name ORDER BY t.id",
            TAG_TYPES: "SELECT model_name, version, tag_key, json_value FROM mlmigrate_mr_tag_types "
            "WHERE model_name = :name ORDER BY version, tag_key",
        }
        found: dict[str, pa.Table] = {}
        try:
            with self.engine.connect() as connection:
                for table, query in queries.items():
                    schema = SCHEMAS[table]
                    if table not in present:
                        found[table] = schema.empty_table()
                        continue
                    rows = connection.execute(sa.text(query), {"name": name}).fetchall()
                    found[table] = pa.table(
                        {c: [r[i] for r in rows] for i, c in enumerate(schema.names)}, schema=schema
                    )
        except Exception as exc:
            raise self.error(exc, f"reading model {name!r}") from exc
        return found

    def prepare(self) -> None:
        """Create the schema where it is missing (the application's on SQLite)."""
        self._tables = None
        try:
            if self.address.layout == SQLITE:
                import sqlite3

                assert self.address.path is not None
                connection = sqlite3.connect(self.address.path)
                try:
                    connection.executescript(SQLITE_DDL)
                    connection.execute(SQLITE_TAG_TYPES_DDL)
                    connection.commit()
                finally:
                    connection.close()
                return
            import sqlalchemy as sa

            statements = POSTGRESQL_DDL if self.address.layout == POSTGRESQL else MYSQL_DDL
            with self.engine.begin() as connection:
                for statement in statements:
                    connection.execute(sa.text(statement))
        except Exception as exc:
            raise self.error(exc, "creating the registry tables") from exc

    def _delete(self, connection: Any, names: list[str]) -> None:
        """Remove what the database holds of the models ``names`` (in the open transaction)."""
        import sqlalchemy as sa

        def expanding(sql: str) -> Any:
            return sa.text(sql).bindparams(sa.bindparam("keys", expanding=True))

        for start in range(0, len(names), INSERT_ROWS):
            chunk = names[start : start + INSERT_ROWS]
            ids = [
                r[0]
                for r in connection.execute(
                    expanding("SELECT id FROM mr_models WHERE name IN :keys"), {"keys": chunk}
                )
            ]
            connection.execute(
                expanding("DELETE FROM mlmigrate_mr_tag_types WHERE model_name IN :keys"), {"keys": chunk}
            )
            if not ids:
                continue
            versions = "SELECT id FROM mr_model_versions WHERE model_id IN :keys"
            if self.address.layout == MYSQL:  # MySQL: no subquery on a table the statement changes
                held = [r[0] for r in connection.execute(expanding(versions), {"keys": ids})]
                for part in range(0, len(held), INSERT_ROWS):
                    connection.execute(
                        expanding("DELETE FROM mr_model_tags WHERE model_version_id IN :keys"),
                        {"keys": held[part : part + INSERT_ROWS]},
                    )
            else:
                connection.execute(
                    expanding(f"DELETE FROM mr_model_tags WHERE model_version_id IN ({versions})"),
                    {"keys": ids},
                )
            connection.execute(
                expanding("DELETE FROM mr_model_versions WHERE model_id IN :keys"), {"keys": ids}
            )
            connection.execute(expanding("DELETE FROM mr_models WHERE id IN :keys"), {"keys": ids})

    def write_model(self, name: str, rows: dict[str, pa.Table]) -> dict[str, int]:
        """Replace the model ``name`` with ``rows`` in one transaction; rows written per table."""
        return self.write_models([(name, rows)])[0]

    def write_models(self, models: list[tuple[str, dict[str, pa.Table]]]) -> list[dict[str, int]]:
        """Replace each model ``(name, rows)`` in one transaction for them all; rows written per
        table, per model."""
        written: list[dict[str, int]] = []
        combined: dict[str, list[pa.Table]] = {}
        for _, rows in models:
            counts = {}
            for table in (MODELS, VERSIONS, TAGS, TAG_TYPES):
                data = rows.get(table)
                if data is not None and data.num_rows:
                    combined.setdefault(table, []).append(data)
                    counts[table] = data.num_rows
            written.append(counts)
        first = models[0][0]
        doing = (
            f"writing model {first!r}" if len(models) == 1 else f"writing {len(models)} models from {first!r}"
        )
        try:
            with self.engine.begin() as connection:
                self._delete(connection, [name for name, _ in models])
                for table in (MODELS, VERSIONS, TAGS, TAG_TYPES):
                    if table in combined:
                        self._insert(connection, table, pa.concat_tables(combined[table]))
        except Exception as exc:
            raise self.error(exc, doing) from exc
        return written

    def _insert(self, connection: Any, table: str, data: pa.Table) -> None:
        """``data`` into ``table`` as one executemany (SQLAlchemy sends it as multi-row
        ``INSERT``s of one cached statement, or the driver's batch)."""
        import sqlalchemy as sa

        target = sa.table(table, *(sa.column(c) for c in data.schema.names))
        records = data.to_pylist()
        for start in range(0, len(records), INSERT_CHUNK):
            connection.execute(target.insert(), records[start : start + INSERT_CHUNK])

    def delete_model(self, name: str) -> None:
        """Remove the model ``name`` and everything of it, in one transaction."""
        try:
            with self.engine.begin() as connection:
                self._delete(connection, [name])
        except Exception as exc:
            raise self.error(exc, f"removing model {name!r}") from exc

    def finish(self) -> None:
        """Advance the id generators past the ids written (SQLite needs nothing)."""
        import sqlalchemy as sa

        if self.address.layout == SQLITE:
            return
        try:
            with self.engine.begin() as connection:
                for table in (MODELS, VERSIONS, TAGS):
                    if self.address.layout == POSTGRESQL:
                        connection.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}"
                            )
                        )
                    else:
                        top = connection.execute(
                            sa.text(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
                        ).scalar()
                        connection.execute(sa.text(f"ALTER TABLE {table} AUTO_INCREMENT = {int(top)}"))
        except Exception as exc:
            raise self.error(exc, "advancing the id generators") from exc

    def close(self) -> None:
        """Release the engine."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
