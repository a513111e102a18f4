"""MLflow's SQL store (SQLite, PostgreSQL, MySQL/MariaDB) as a source and a destination."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import sqlalchemy

from mlmigrate.exceptions import ConflictError, MigrationError, RefusedError, StoreError
from mlmigrate.global_tables import (
    GLOBAL_UNIT_ID,
    MIGRATION_SEEDS,
    global_tables,
    seed_batch,
    spec_of,
)
from mlmigrate.references import LOGGED_MODEL_ID, RUN_ID
from mlmigrate.stores.base import BatchStream, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.sql.bulk import quote
from mlmigrate.stores.sql.dialects import dialect_for
from mlmigrate.stores.sql.errors import SqlErrors
from mlmigrate.stores.sql.key_collation import KeyCollations, compared
from mlmigrate.stores.sql.merge import MergeWriter
from mlmigrate.stores.sql.revisions import present_columns, select_list, unit_condition
from mlmigrate.stores.sql.schema import current_revision, prepare_schema
from mlmigrate.stores.sql.unit_rows import EXTRA_CLEAR, UNIT_ROWS
from mlmigrate.stores.sql.watermarks import sql_watermarks
from mlmigrate.tables import EXPERIMENT, GLOBAL, REGISTERED_MODEL, TableSpec, tables_of
from mlmigrate.uris import mask

logger = logging.getLogger(__name__)


class SqlStore(StoreBase):
    """An MLflow tracking + registry database reached through SQLAlchemy."""

    def __init__(self, uri: str):
        self.uri = uri
        self.display_uri = mask(uri)
        self.dialect = dialect_for(uri)
        self.family = self.dialect.family
        self.capabilities = dataclasses.replace(
            self.dialect.capabilities,
            watermarks=True,
            watermark_kind="update times, states and tags of rows MLflow changes; count and largest "
            "timestamp of rows it only adds (metrics, params, inputs)",
        )
        self._bulk = self.dialect.bulk(uri)
        self._tables: set[str] | None = None
        self._columns: dict[str, set[str]] | None = None
        #: whether this object made the schema in an empty database: then no unit has rows
        #: there but the ones it writes, and a unit's first write has nothing to clear
        self._schema_made_here = False
        self._written_units: set[tuple[str, str]] = set()
        self._errors = SqlErrors(self.display_uri)
        self._key_collations: KeyCollations | None = None
        try:
            self.engine = self.dialect.engine(uri)
        except Exception as exc:
            raise StoreError(f"cannot open {self.display_uri}: {mask(str(exc))}") from exc

    def prepare(self) -> None:
        """Create MLflow's schema in an empty database, or check (and upgrade) its revision."""
        with self._errors.around("preparing the schema"):
            self.dialect.make_room(self.uri)
            empty = not self._table_names()
            revision = prepare_schema(
                self.engine, display_uri=self.display_uri, create_schema=self.dialect.create_schema
            )
            self._schema_made_here = empty
            # the catalogue, read now: not by the read-back thread while units are written
            self._columns = present_columns(self.engine)
            self._tables = set(self._columns)
            self._key_collations = None  # the columns' own, now that they exist
            logger.debug("%s: MLflow schema %s", self.display_uri, revision)

    def _table_names(self) -> set[str]:
        """The database's tables (none for a SQLite file not made yet, which stays unmade)."""
        if not self.dialect.exists(self.uri):
            return set()
        with self._errors.around("connecting"):
            return set(sqlalchemy.inspect(self.engine).get_table_names())

    def is_empty(self) -> bool:
        """Whether the database holds no table at all (a new database)."""
        return not self._table_names()

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments, registered models and the given run ids already in the database."""
        found = ExistingObjects()
        if "experiments" not in self._table_names():
            return found
        text = sqlalchemy.text
        with self._errors.around("reading what the destination holds"), self.engine.connect() as connection:
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
            found.model_versions = {
                name: int(version or 0)
                for name, version in connection.execute(
                    text("SELECT name, MAX(version) FROM model_versions GROUP BY name")
                )
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
        return found

    def names_held_as(self, table: str, names: Iterable[str]) -> dict[str, str]:
        """Each of ``names`` the database's ``name`` column takes for another spelling it holds
        (MySQL/MariaDB: its collation, asked of the server itself), mapped to that spelling."""
        given = sorted(set(names))
        if table not in ("experiments", "registered_models") or not given or self._collations() is None:
            return {}
        if table not in self._table_names():
            return {}
        found: dict[str, str] = {}
        with self._errors.around(f"comparing names with {table}"), self.engine.connect() as connection:
            for start in range(0, len(given), 200):
                chunk = given[start : start + 200]
                sql = " UNION ALL ".join(
                    f"SELECT :n{i} AS given, name FROM {table} WHERE name = :n{i}" for i in range(len(chunk))
                )
                rows = connection.execute(sqlalchemy.text(sql), {f"n{i}": n for i, n in enumerate(chunk)})
                found.update((str(name_given), str(held)) for name_given, held in rows if name_given != held)
        return found

    def _source_columns(self) -> dict[str, set[str]]:
        """The columns of every table of this database (an older MLflow revision has fewer)."""
        if self._columns is None:
            with self._errors.around("reading the schema"):
                self._columns = present_columns(self.engine)
        return self._columns

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name, then the global tables."""
        model_columns = self._source_columns().get("registered_models", set())
        model_rows = unit_condition("1 = 1 AND workspace = 'default'", model_columns)
        with (
            self._errors.around("listing experiments and models"),
            self._bulk.snapshot() as connection,
        ):  # the pinned snapshot, when there is one
            experiments = self._bulk.fetch(
                connection,
                "SELECT experiment_id, name FROM experiments ORDER BY experiment_id",
                "",
                pa.schema([("experiment_id", pa.int64()), ("name", pa.string())]),
            ).to_pylist()
            models = self._bulk.fetch(
                connection,
                f"SELECT name FROM registered_models WHERE {model_rows} ORDER BY name",
                "",
                pa.schema([("name", pa.string())]),
            ).to_pylist()
        return [
            *(Unit(EXPERIMENT, str(row["experiment_id"]), row["name"]) for row in experiments),
            *(Unit(REGISTERED_MODEL, row["name"], row["name"]) for row in models),
            Unit(GLOBAL, GLOBAL_UNIT_ID, "tables outside experiments and models"),
        ]

    def watermarks(self) -> dict[str, str]:
        """Each experiment's, registered model's and the global tables' fingerprint, from one
        aggregate query per table (no unit's rows read)."""
        present = self._source_columns()
        with self._errors.around("reading the watermarks"), self.engine.connect() as connection:
            return sql_watermarks(connection, present)

    def schema_revision(self) -> str | None:
        """The database's MLflow schema revision (None for a database without MLflow's tables)."""
        if not self.dialect.exists(self.uri):
            return None
        with self._errors.around("reading the schema revision"):
            return current_revision(self.engine)

    def write_problem(self) -> str | None:
        """Why this database could not be written (permissions), or None when it can."""
        holds_mlflow = "experiments" in self._table_names()
        with self._errors.around("checking permissions"):
            return self.dialect.write_problem(
                self.uri, self.engine, holds_mlflow=holds_mlflow, display_uri=self.display_uri
            )

    def global_rows(self) -> dict[str, int]:
        """Rows in each global table that MLflow's migrations did not put there (a non-empty
        destination's global tables are not replaced)."""
        present = self._source_columns()
        found: dict[str, int] = {}
        with self._errors.around("counting global rows"), self.engine.connect() as connection:
            for table in global_tables():
                if table not in present:
                    continue
                name = self.engine.dialect.identifier_preparer.quote(table)  # MySQL: backquotes
                rows = connection.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {name}"))
                count = int(rows.scalar() or 0) - len(MIGRATION_SEEDS.get(table, []))
                if count > 0:
                    found[table] = count
        return found

    def run_ids(self) -> list[str]:
        """Every run id of the database (to find clashes before anything is written)."""
        with self._errors.around("listing runs"), self._bulk.snapshot() as connection:
            table = self._bulk.fetch(
                connection, "SELECT run_uuid FROM runs", "", pa.schema([("run_uuid", pa.string())])
            )
        return [str(run_id) for run_id in table.column(0).to_pylist()]

    def held_ids(self, target: str) -> set[str] | None:
        """The run ids, or logged model ids, of the database (None: a schema without the table)."""
        column, name = {RUN_ID: ("run_uuid", "runs"), LOGGED_MODEL_ID: ("model_id", "logged_models")}.get(
            target, ("", "")
        )
        if not column or name not in self._table_names():
            return None
        with self._errors.around(f"listing {name}"), self._bulk.snapshot() as connection:
            found = self._bulk.fetch(
                connection, f"SELECT {column} FROM {name}", "", pa.schema([(column, pa.string())])
            )
        return {str(value) for value in found.column(0).to_pylist()}

    def pin_snapshot(self) -> str | None:
        """Make every later read of this store see the database as it is now (one snapshot for
        a whole copy). Returns a token that :meth:`use_snapshot` takes in another process, or
        None when only this object can read the snapshot (MySQL cannot share one)."""
        with self._errors.around("taking a snapshot"):
            token = self._bulk.pin()
        if token is not None:
            self._use_snapshot_engine(token)
        return token

    def use_snapshot(self, token: str) -> None:
        """Read the snapshot another process pinned (:meth:`pin_snapshot`)."""
        self._bulk.adopt(token)
        self._use_snapshot_engine(token)

    def _use_snapshot_engine(self, token: str) -> None:
        """Query the snapshot with the store's engine too, where it is a database of its own."""
        engine = self.dialect.snapshot_engine(token)
        if engine is not None:
            self.engine.dispose()
            self.engine = engine
            self._columns = None

    def read_committed(self) -> None:
        """Read each table of a unit on its own, without one snapshot spanning the unit: for
        reading back what no longer changes (faster on MySQL, where it goes through connectorx)."""
        self._bulk.read_committed()

    def _unit_param(self, unit_kind: str, unit_id: str) -> int | str:
        return int(unit_id) if unit_kind == EXPERIMENT else unit_id

    def read_unit(self, unit: Unit) -> BatchStream:
        """All rows of one unit, table by table, from one consistent snapshot."""
        param = self._unit_param(unit.kind, unit.source_id)
        present = self._source_columns()
        with self._errors.around(f"reading {unit.unit_id}"), self._bulk.snapshot() as connection:
            for spec, condition in self._unit_tables(unit.kind):
                if spec.name not in present:  # an older MLflow schema revision
                    seed = seed_batch(spec.name) if unit.kind == GLOBAL else None
                    if seed is not None:
                        yield spec.name, seed
                    continue
                columns = select_list(spec, present[spec.name])
                condition = unit_condition(condition, present[spec.name])
                sql = f"SELECT {columns} FROM {quote(spec.name)} WHERE {condition}"
                table = self._bulk.fetch(connection, sql, param, spec.schema)
                for batch in table.to_batches(max_chunksize=200_000):
                    yield spec.name, batch

    def _unit_tables(self, unit_kind: str) -> list[tuple[TableSpec, str]]:
        """The tables of a unit kind, parents first, with the condition selecting a unit's rows."""
        if unit_kind == GLOBAL:
            return [(spec_of(name), "1 = 1 OR :unit = ''") for name in global_tables()]
        return [(spec, UNIT_ROWS[spec.name]) for spec in tables_of(unit_kind)]

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Clear the unit's rows, then load ``batches``, in one transaction. ``into_existing``
        (merge): clear only the rows of the runs, logged models, traces and versions the
        batches bring, so the destination's other rows stay."""
        written: dict[str, int] = {}
        param = self._unit_param(unit.kind, dest_id)
        current = "clearing"
        #: the unit's rows of tables with key text, for naming what a duplicate key merged
        seen: dict[str, list[pa.RecordBatch]] = {}
        with (
            self._errors.around(
                lambda: f"writing {current} of {unit.unit_id}",
                duplicate=lambda exc: self._conflict(unit, current, exc, seen),
            ),
            self._bulk.transaction() as connection,
        ):
            merge = (
                MergeWriter(
                    self._bulk,
                    connection,
                    param,
                    self._known_tables(),
                    bind_ids=self.dialect.bind_ids,
                )
                if into_existing
                else None
            )
            if merge is None and self._may_hold(unit.kind, str(param)):
                for table, where in self._clear_statements(unit.kind):
                    self._bulk.execute(connection, f"DELETE FROM {quote(table)} WHERE {where}", param)
            for table, batch in batches:
                current = table
                if merge is not None:
                    batch = merge.prepare(table, batch)
                if self._collations() is not None and compared(table, batch.schema):
                    seen.setdefault(table, []).append(batch)
                self._bulk.insert(connection, table, batch)
                written[table] = written.get(table, 0) + batch.num_rows
        return written

    def refusals(self, table: str, batch: pa.RecordBatch) -> list[RefusedError]:
        """Keys of ``batch`` that the database's collation takes for one (MySQL: case,
        accents, trailing spaces), each as the error writing them raises."""
        collations = self._collations()
        if collations is None:
            return []
        with self._errors.around(f"comparing the keys of {table} as the database does"):
            merges = collations.merged(table, batch)
        return [RefusedError(merge.describe(), run_id=merge.run_id) for merge in merges]

    def _collations(self) -> KeyCollations | None:
        if self._key_collations is None:
            self._key_collations = self.dialect.key_collations(self.engine)
        return self._key_collations

    def _merged_keys(self, seen: dict[str, list[pa.RecordBatch]]) -> RefusedError | None:
        """The first refusal of a unit's rows, each table's batches taken together (keys of one
        run may come in several), or None."""
        for table, batches in seen.items():
            together = pa.Table.from_batches(batches).combine_chunks().to_batches()
            found = self.refusals(table, together[0]) if together else []
            if found:
                return found[0]
        return None

    def _may_hold(self, unit_kind: str, dest_id: str) -> bool:
        """Whether the database may hold rows of a unit about to be written. Not when this
        object made the schema and has not written the unit before (a write that failed at
        its commit may have committed); the global tables hold the migrations' seed rows."""
        first_write = (unit_kind, dest_id) not in self._written_units
        self._written_units.add((unit_kind, dest_id))
        return unit_kind == GLOBAL or not (self._schema_made_here and first_write)

    def delete_unit(self, unit: Unit) -> None:
        """Remove every row of ``unit`` (its destination id in ``unit.source_id``) in one transaction."""
        param = self._unit_param(unit.kind, unit.source_id)
        with self._errors.around(f"deleting {unit.unit_id}"), self._bulk.transaction() as connection:
            for table, where in self._clear_statements(unit.kind):
                self._bulk.execute(connection, f"DELETE FROM {quote(table)} WHERE {where}", param)

    def _conflict(
        self, unit: Unit, table: str, exc: Exception, seen: dict[str, list[pa.RecordBatch]]
    ) -> MigrationError:
        """The error for a duplicate key: two keys of the unit its collation takes for one
        (a :class:`RefusedError` naming them and their run), else a clash with another unit."""
        merged = self._merged_keys(seen) if self._collations() is not None else None
        if merged is not None:
            return merged
        detail = mask(str(exc).strip().splitlines()[0])
        named = {"experiments": "an experiment", "registered_models": "a registered model"}.get(table)
        if named is not None and self._collations() is not None:
            return ConflictError(
                f"{unit.unit_id}: the destination already holds {named} named {unit.label!r}, or one "
                "whose name its collation takes for the same (case, accents, trailing spaces); "
                "nothing of this unit was written",
                [detail],
            )
        return ConflictError(
            f"{unit.unit_id}: the destination already holds {table} rows with the same keys "
            "(owned by another experiment or model); nothing of this unit was written",
            [detail],
        )

    def _known_tables(self) -> set[str]:
        if self._tables is None:
            self._tables = set(sqlalchemy.inspect(self.engine).get_table_names())
        return self._tables

    def _clear_statements(self, unit_kind: str) -> list[tuple[str, str]]:
        """(table, condition) pairs that remove a unit's rows, children first."""
        tables = self._known_tables()
        statements = [(t, w) for t, w in EXTRA_CLEAR.get(unit_kind, []) if t in tables]
        return statements + [
            (spec.name, condition)
            for spec, condition in reversed(self._unit_tables(unit_kind))
            if spec.name in tables
        ]

    def key_plan(self) -> dict[str, Any]:
        """The keys and indexes of the big tables, when this object made the schema just now
        (an empty database: nothing else there can clash with a key); else nothing."""
        if not self._schema_made_here or self._written_units:
            return {}
        with self._errors.around("reading the keys of the schema"):
            return self.dialect.deferred_keys().plan(self.engine)

    def drop_keys(self, plan: dict[str, Any]) -> None:
        """Drop the keys and indexes of a bulk load (those still there)."""
        if plan:
            with self._errors.around("dropping the keys for a bulk load"):
                self.dialect.deferred_keys().drop(self.engine, plan)

    def build_keys(self, plan: dict[str, Any]) -> None:
        """Build the keys and indexes a bulk load left out (those not there yet)."""
        if plan:
            with self._errors.around("building the keys and indexes"):
                self.dialect.deferred_keys().build(self.engine, plan)

    def finish(self) -> None:
        """Advance the experiment id generator (a sequence, AUTO_INCREMENT) past the largest id."""
        with self._errors.around("advancing the experiment ids"), self.engine.begin() as connection:
            self.dialect.advance_experiment_ids(connection)

    def close(self) -> None:
        """Dispose of the engine's connections, the pinned snapshot and its copy."""
        self.engine.dispose()
        self._bulk.close()
