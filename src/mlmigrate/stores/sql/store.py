"""MLflow's SQL store (SQLite, PostgreSQL) as a source and a destination."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy

from mlmigrate.exceptions import ConflictError, MigrationError, StoreError, TransientStoreError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, Unit
from mlmigrate.stores.sql.bulk import PostgresBulk, SqliteBulk, quote
from mlmigrate.stores.sql.schema import current_revision, prepare_schema
from mlmigrate.stores.sql.unit_rows import EXTRA_CLEAR, UNIT_ROWS
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL, tables_of
from mlmigrate.uris import mask, scheme_of, sqlite_path

logger = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1


def _engine_url(uri: str) -> str:
    family = scheme_of(uri)
    if family == "postgresql":
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _is_transient(exc: BaseException) -> bool:
    """A lost connection or a busy database, from any driver (psycopg's AdminShutdown, for one,
    is an OperationalError only through its base classes)."""
    return bool(_class_names(exc) & {"OperationalError", "InterfaceError"})


def _is_integrity_error(exc: BaseException) -> bool:
    """A duplicate key or constraint violation, from any of the drivers."""
    return bool(
        _class_names(exc) & {"IntegrityError", "UniqueViolation"}
    ) or "UNIQUE constraint failed" in str(exc)


class SqlStore:
    """An MLflow tracking + registry database reached through SQLAlchemy."""

    def __init__(self, uri: str):
        self.uri = uri
        self.display_uri = mask(uri)
        self.family = scheme_of(uri)
        if self.family == "sqlite":
            sqlite_path(uri)  # validates the URI
            self._bulk: PostgresBulk | SqliteBulk = SqliteBulk(sqlite_path(uri))
            self.capabilities = Capabilities()
        elif self.family == "postgresql":
            self._bulk = PostgresBulk(uri)
            self.capabilities = Capabilities(max_experiment_id=INT32_MAX, writers=2)
        else:  # pragma: no cover - the registry routes only these here
            raise StoreError(f"unsupported SQL store {self.display_uri}")
        self._tables: set[str] | None = None
        self._pinned: Any = None
        self._pinned_exit = contextlib.ExitStack()
        try:
            self.engine = sqlalchemy.create_engine(_engine_url(uri), poolclass=sqlalchemy.NullPool)
        except Exception as exc:
            raise StoreError(f"cannot open {self.display_uri}: {mask(str(exc))}") from exc

    def _translate(self, exc: Exception, doing: str) -> StoreError:
        text = mask(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        if _is_transient(exc):
            return TransientStoreError(f"{doing} on {self.display_uri}: {text}")
        return StoreError(f"{doing} on {self.display_uri}: {text}")

    def prepare(self) -> str:
        """Create MLflow's schema in an empty database or check the revision; return it."""
        try:
            if self.family == "sqlite":
                sqlite_path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            return prepare_schema(self.engine, display_uri=self.display_uri)
        except MigrationError:
            raise
        except Exception as exc:
            raise self._translate(exc, "preparing the schema") from exc

    def _table_names(self) -> set[str]:
        """The database's tables (none for a SQLite file not made yet, which stays unmade)."""
        if self.family == "sqlite" and not sqlite_path(self.uri).exists():
            return set()
        try:
            return set(sqlalchemy.inspect(self.engine).get_table_names())
        except Exception as exc:
            raise self._translate(exc, "connecting") from exc

    def is_empty(self) -> bool:
        """Whether the database holds no table at all (a new database)."""
        return not self._table_names()

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments, registered models and the given run ids already in the database."""
        found = ExistingObjects()
        if "experiments" not in self._table_names():
            return found
        text = sqlalchemy.text
        try:
            with self.engine.connect() as connection:
                for exp_id, name in connection.execute(text("SELECT experiment_id, name FROM experiments")):
                    found.experiments[int(exp_id)] = name
                    found.experiment_names[name] = int(exp_id)
                busy = {
                    row[0]
                    for row in connection.execute(
                        text(
                            "SELECT experiment_id FROM runs UNION SELECT experiment_id FROM experiment_tags"
                            " UNION SELECT experiment_id FROM trace_info"
                            " UNION SELECT experiment_id FROM logged_models"
                        )
                    )
                }
                found.empty_experiments = set(found.experiments) - {int(i) for i in busy if i is not None}
                found.registered_models = {
                    row[0] for row in connection.execute(text("SELECT name FROM registered_models"))
                }
                ids = list(run_ids)
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    rows = connection.execute(
                        text("SELECT run_uuid FROM runs WHERE run_uuid IN :ids").bindparams(
                            sqlalchemy.bindparam("ids", expanding=True)
                        ),
                        {"ids": chunk},
                    )
                    found.run_ids.update(row[0] for row in rows)
        except Exception as exc:
            raise self._translate(exc, "reading what the destination holds") from exc
        return found

    def pin_snapshot(self) -> None:
        """Read the unit list and every unit from one transaction from now on (until ``close``),
        so that a backup is one consistent state of the database."""
        if self._pinned is None:
            try:
                self._pinned = self._pinned_exit.enter_context(self._bulk.snapshot())
            except Exception as exc:
                raise self._translate(exc, "opening a snapshot") from exc

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[Any]:
        if self._pinned is not None:
            yield self._pinned
        else:
            with self._bulk.snapshot() as connection:
                yield connection

    def schema_revision(self) -> str | None:
        """The database's MLflow schema revision (None for a database without MLflow's tables)."""
        if self.family == "sqlite" and not sqlite_path(self.uri).exists():
            return None
        try:
            return current_revision(self.engine)
        except Exception as exc:
            raise self._translate(exc, "reading the schema revision") from exc

    def write_problem(self) -> str | None:
        """Why this database could not be written (permissions), or None when it can."""
        if self.family == "sqlite":
            path = sqlite_path(self.uri).expanduser().resolve()
            folder = path.parent
            while not folder.exists():
                folder = folder.parent
            if path.exists() and not os.access(path, os.W_OK):
                return f"{path} is not writable"
            if not os.access(folder, os.W_OK):
                return f"{folder} is not writable (SQLite writes its journal beside the database)"
            return None
        if "experiments" in self._table_names():
            sql = (
                "SELECT bool_and(has_table_privilege(t, 'INSERT') AND has_table_privilege(t, 'DELETE')) "
                "FROM unnest(ARRAY['experiments', 'runs', 'metrics', 'params', 'tags']) AS t"
            )
            what = "insert into and delete from MLflow's tables"
        else:
            sql = "SELECT has_schema_privilege(current_schema(), 'CREATE')"
            what = "create tables in the current schema"
        try:
            with self.engine.connect() as connection:
                allowed = connection.execute(sqlalchemy.text(sql)).scalar()
        except Exception as exc:
            raise self._translate(exc, "checking permissions") from exc
        return None if allowed else f"the user of {self.display_uri} may not {what}"

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name."""
        experiments_sql = "SELECT experiment_id, name FROM experiments ORDER BY experiment_id"
        models_sql = "SELECT name FROM registered_models WHERE workspace = 'default' ORDER BY name"
        if self._pinned is not None:
            with self._pinned.cursor() as cursor:
                cursor.execute(experiments_sql)
                experiments = cursor.fetchall()
                cursor.execute(models_sql)
                models = cursor.fetchall()
        else:
            with self.engine.connect() as connection:
                experiments = connection.execute(sqlalchemy.text(experiments_sql)).all()
                models = connection.execute(sqlalchemy.text(models_sql)).all()
        return [Unit(EXPERIMENT, str(exp_id), name) for exp_id, name in experiments] + [
            Unit(REGISTERED_MODEL, name, name) for (name,) in models
        ]

    def _unit_param(self, unit_kind: str, unit_id: str) -> int | str:
        return int(unit_id) if unit_kind == EXPERIMENT else unit_id

    def read_unit(self, unit: Unit) -> BatchStream:
        """All rows of one unit, table by table, from one consistent snapshot."""
        param = self._unit_param(unit.kind, unit.source_id)
        try:
            with self._snapshot() as connection:
                for spec in tables_of(unit.kind):
                    columns = ", ".join(quote(name) for name in spec.columns)
                    sql = f"SELECT {columns} FROM {quote(spec.name)} WHERE {UNIT_ROWS[spec.name]}"
                    table = self._bulk.fetch(connection, sql, param, spec.schema)
                    for batch in table.to_batches(max_chunksize=200_000):
                        yield spec.name, batch
        except MigrationError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"reading {unit.unit_id}") from exc

    def write_unit(self, unit: Unit, dest_id: str, batches: BatchStream) -> dict[str, int]:
        """Clear the unit's rows, then load ``batches``, in one transaction."""
        written: dict[str, int] = {}
        param = self._unit_param(unit.kind, dest_id)
        current = "clearing"
        try:
            with self._bulk.transaction() as connection:
                for table, where in self._clear_statements(unit.kind):
                    self._bulk.execute(connection, f"DELETE FROM {quote(table)} WHERE {where}", param)
                for table, batch in batches:
                    current = table
                    self._bulk.insert(connection, table, batch)
                    written[table] = written.get(table, 0) + batch.num_rows
        except MigrationError:
            raise
        except Exception as exc:
            if _is_integrity_error(exc):
                raise self._conflict(unit, current, exc) from exc
            raise self._translate(exc, f"writing {current} of {unit.unit_id}") from exc
        return written

    def delete_unit(self, unit: Unit) -> None:
        """Remove every row of ``unit`` (its destination id in ``unit.source_id``) in one transaction."""
        param = self._unit_param(unit.kind, unit.source_id)
        try:
            with self._bulk.transaction() as connection:
                for table, where in self._clear_statements(unit.kind):
                    self._bulk.execute(connection, f"DELETE FROM {quote(table)} WHERE {where}", param)
        except MigrationError:
            raise
        except Exception as exc:
            raise self._translate(exc, f"deleting {unit.unit_id}") from exc

    def _conflict(self, unit: Unit, table: str, exc: Exception) -> ConflictError:
        detail = mask(str(exc).strip().splitlines()[0])
        return ConflictError(
            f"{unit.unit_id}: the destination already holds {table} rows with the same keys "
            "(owned by another experiment or model); nothing of this unit was written",
            [detail],
        )

    def _clear_statements(self, unit_kind: str) -> list[tuple[str, str]]:
        """(table, condition) pairs that remove a unit's rows, children first."""
        if self._tables is None:
            self._tables = set(sqlalchemy.inspect(self.engine).get_table_names())
        statements = [(t, w) for t, w in EXTRA_CLEAR[unit_kind] if t in self._tables]
        return statements + [(spec.name, UNIT_ROWS[spec.name]) for spec in reversed(tables_of(unit_kind))]

    def finish(self) -> None:
        """Advance PostgreSQL's experiment id sequence past the largest id."""
        if self.family != "postgresql":
            return
        with self.engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(
                    "SELECT setval(pg_get_serial_sequence('experiments', 'experiment_id'), "
                    "COALESCE((SELECT MAX(experiment_id) FROM experiments), 0) + 1, false)"
                )
            )

    def close(self) -> None:
        """End a pinned snapshot and dispose of the engine's connections."""
        try:
            self._pinned_exit.close()
        finally:
            self._pinned = None
            self.engine.dispose()
