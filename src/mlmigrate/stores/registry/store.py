"""A home-made model registry as a store of the ``registry`` family: one unit per model (its row,
versions, tags and mlmigrate's tag types), read from and written to ``registry.json`` or the
``mr_*`` tables of SQLite, PostgreSQL or MySQL/MariaDB. Copied into an MLflow store, it is read
through :func:`mlmigrate.stores.registry.mlflow_view.as_mlflow`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from mlmigrate.exceptions import UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.registry.address import JSON, SQLITE, RegistryAddress, parse
from mlmigrate.stores.registry.contents import Problem, RegistryContents
from mlmigrate.stores.registry.json_store import JsonRegistry, generation, read_with_sidecar, sidecar_path
from mlmigrate.stores.registry.layout import SCHEMAS, TABLE_ORDER, VERSIONS
from mlmigrate.stores.registry.model_files import file_facts, file_problems
from mlmigrate.stores.registry.sql_read import read_registry_sql
from mlmigrate.stores.registry.sql_store import SqlRegistry
from mlmigrate.uris import mask

FAMILY = "registry"
#: the unit of the registry family: one model with its versions and tags
MODEL = "registry_model"
#: models written in one transaction (one rewrite of a registry.json), journaled together
#: once it commits (``--batch-size`` sets it)
GROUP_MODELS = 500


def read_contents(address: RegistryAddress) -> RegistryContents:
    """The registry ``address`` names, with every problem found in it and its model files."""
    if address.layout == JSON and address.path is not None:
        contents = read_with_sidecar(address.path)
    else:
        contents = read_registry_sql(address)
    if address.models is not None and address.models.is_dir():
        contents.problems.extend(file_problems(contents, address.models))
    return contents


class RegistryStore(StoreBase):
    """``registry.json`` or the ``mr_*`` tables of a database."""

    def __init__(self, uri: str):
        self.uri = uri
        self.address = parse(uri)
        where = {JSON: "a registry.json", SQLITE: "a registry in SQLite"}.get(self.address.layout)
        self.capabilities = Capabilities(
            family=FAMILY,
            merge=False,
            writers=1,
            kind=where or f"a registry in {self.address.layout}",
            batched_writes=True,
            group_units=GROUP_MODELS,
        )
        self._contents: RegistryContents | None = None
        #: held while a model is written and while the contents are read: the verifier reads
        #: each unit back on a thread, through this very store, as the next one is written,
        #: and a reading taken from the files half-way through a write must not be kept
        self._lock = threading.RLock()
        #: models read from the mr_* tables since the last write (the second reads them all)
        self._reads = 0
        #: with ``read_committed``: the files the contents were read from, to read again when
        #: another writer has replaced them (a verifier process reads each unit as it commits)
        self._follows_writes = False
        self._read_from: tuple[object, ...] | None = None
        self._sql = SqlRegistry(self.address) if self.address.layout != JSON else None
        self._json = (
            JsonRegistry(self.address.path) if self.address.layout == JSON and self.address.path else None
        )

    def _missing(self) -> bool:
        return self.address.path is not None and not self.address.path.exists()

    def read_committed(self) -> None:
        """Let every later read see what other writers committed since (a registry.json is
        rewritten whole, and renamed over, at each unit)."""
        self._follows_writes = True

    def _files_now(self) -> tuple[object, ...]:
        """What tells one state of the files from another: mlmigrate's write generation (the
        files' stat alone repeats on ext4: inodes come back within three writes, and a coarse
        clock gives the same mtime), and each file's stat for writers other than mlmigrate."""
        assert self.address.path is not None
        found: list[object] = [generation(self.address.path)]
        for path in (self.address.path, sidecar_path(self.address.path)):
            try:
                stat = path.stat()
            except OSError:
                found.append((0, 0, 0))
                continue
            found.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(found)

    @property
    def contents(self) -> RegistryContents:
        """The whole registry as it is now, read once (again after each write, and with
        ``read_committed`` whenever the file was replaced)."""
        with self._lock:
            if self._follows_writes and self._json is not None:
                now = self._files_now()  # before reading: a write meanwhile shows next time
                if now != self._read_from:
                    self._contents, self._read_from = None, now
            if self._contents is None:
                if self._missing():
                    raise UsageError(f"the registry {self.address.path} does not exist")
                self._contents = read_contents(self.address)
            return self._contents

    def units(self) -> list[Unit]:
        """One unit per model, in the order the application created them."""
        return [Unit(MODEL, name, name) for name in self.contents.model_names()]

    def model_rows(self, name: str) -> dict[str, pa.Table]:
        """The rows of one model as the store holds them now."""
        if self._sql is not None and self._contents is None:
            with self._lock:
                self._reads += 1
                if self._reads == 1 or self._follows_writes:  # one model alone; a verify: all at once
                    return self._sql.read_model(name)
        if self._missing():
            return {}
        return self.contents.of_model(name)

    def read_unit(self, unit: Unit) -> BatchStream:
        """The model's rows, table by table (none of a model the registry does not hold)."""
        rows = self.model_rows(unit.source_id)
        for table in TABLE_ORDER:
            data = rows.get(table)
            if data is not None and data.num_rows:
                yield table, data.combine_chunks().to_batches()[0]

    def is_empty(self) -> bool:
        """Whether the registry holds no model (a missing file holds none)."""
        if self._missing():
            return True
        if self._sql is not None:
            return not self._sql.model_names()
        return not self.contents.model_names()

    def problems(self) -> list[Problem]:
        """Everything found wrong in the registry and its model files."""
        return list(self.contents.problems)

    def findings(self) -> list[dict[str, str]]:
        """Every problem found, and how naive timestamps and model files are read."""
        where = mask(str(self.address.path or self.address.database_url))
        root = str(self.address.models) if self.address.models else "none (?models=DIR)"
        notes = [
            {
                "code": "note",
                "where": where,
                "message": f"naive timestamps read as {self.address.zone_name}; model root {root}",
                "action": "set ?timezone=ZONE or ?models=DIR on the source to change it",
            }
        ]
        return notes + [{k: v or "" for k, v in p.as_dict().items()} for p in self.problems()]

    def held_files(self, unit: Unit) -> dict[str, tuple[int, str] | None] | None:
        """Each model file of the model's versions (``storage_path`` → size and SHA-256, None
        when missing), under the model root when one was named (``?models=``, ``--models``)."""
        if not self.address.models_given or self.address.models is None:
            return None
        return file_facts(
            self.model_rows(unit.source_id).get(VERSIONS, SCHEMAS[VERSIONS].empty_table()),
            self.address.models,
        )

    def artifact_root(self) -> Path | None:
        """The model root (model files are the versions' artifacts)."""
        return self.address.models

    def prepare(self) -> None:
        """Create the tables (the application's DDL on SQLite) or the folder of the JSON file."""
        if self._sql is not None:
            if self.address.path is not None:
                self.address.path.parent.mkdir(parents=True, exist_ok=True)
            self._sql.prepare()
        elif self.address.path is not None:
            self.address.path.parent.mkdir(parents=True, exist_ok=True)

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """The models the registry already holds, as unit ids."""
        if self.is_empty():
            return ExistingObjects()
        names = self._sql.model_names() if self._sql is not None else self.contents.model_names()
        return ExistingObjects(units={f"{MODEL}:{name}" for name in names})

    def set_batch_size(self, size: int) -> None:
        """Write ``size`` models per transaction (``--batch-size``)."""
        self.capabilities = dataclasses.replace(self.capabilities, group_units=max(1, size))

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Replace the model atomically (one transaction; the JSON file rewritten and renamed)."""
        return self.write_units([(unit, dest_id, batches)])[0]

    def write_units(self, items: list[tuple[Unit, str, BatchStream]]) -> list[dict[str, int]]:
        """Replace each model of ``items`` in one transaction for them all (one rewrite, and
        rename, of a registry.json); rows written per table, per model."""
        models = []
        for _, dest_id, batches in items:
            tables: dict[str, list[pa.RecordBatch]] = {}
            for table, batch in batches:
                tables.setdefault(table, []).append(batch)
            models.append((dest_id, {table: pa.Table.from_batches(parts) for table, parts in tables.items()}))
        with self._lock:  # no reading is taken, and kept, half-way through the write
            self._contents, self._reads = None, 0
            if self._sql is not None:
                return self._sql.write_models(models)
            assert self._json is not None
            return self._json.write_models(models)

    def delete_unit(self, unit: Unit) -> None:
        """Remove one model and everything of it."""
        with self._lock:
            self._contents, self._reads = None, 0
            if self._sql is not None:
                self._sql.delete_model(unit.source_id)
            elif self._json is not None:
                self._json.delete_model(unit.source_id)

    def finish(self) -> None:
        """Advance the id generators past what was written."""
        if self._sql is not None:
            self._sql.finish()

    def close(self) -> None:
        """Release connections."""
        if self._sql is not None:
            self._sql.close()
