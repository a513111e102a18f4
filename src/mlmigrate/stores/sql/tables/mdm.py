"""An MDM home (seed 003): each dataset's database, moved to another backend, its YAML rewritten.

``mdm://~/.mdm`` (or ``mdm:///abs/home``) reads every dataset of the home; ``?dataset=a,b`` only
those. As a destination, ``mdm://~/.mdm?backend=duckdb`` (``sqlite``, or ``postgresql`` with
``&pg=postgresql://user:pw@host:5432``) names where each dataset goes: the file MDM names
(``datasets/<name>/<name>.duckdb``) or the database ``mdm_<name>`` on that server. Units are the
datasets' tables (``titanic/train``, big ones in row ranges), written by the plain-tables store of
the dataset's database. When the copy finishes, each dataset's ``config/datasets/<name>.yaml``
``database`` block and ``dataset_info.json`` point at the new database once the copy's verify has
passed (:meth:`MdmHome.accept`; the old ones kept beside as ``*.mlmigrate-backup``; the source
databases are never touched), and ``mdm.yaml``'s ``database.default_backend`` is switched once
every dataset of the home is on the new backend.
A rollback drops the new tables and puts the YAML, ``dataset_info.json`` and ``mdm.yaml`` back.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from mlmigrate.exceptions import SourceFormatError, UsageError
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit
from mlmigrate.stores.sql.tables.store import TABLE, TablesStore
from mlmigrate.uris import mask

BACKENDS = ("sqlite", "duckdb", "postgresql")
BACKUP = ".mlmigrate-backup"
#: what MDM's own registrar writes for each backend when mdm.yaml has no section of it
DEFAULT_BLOCKS: dict[str, dict[str, Any]] = {
    "sqlite": {"journal_mode": "WAL", "synchronous": "NORMAL", "cache_size": -64000,
               "temp_store": "MEMORY", "mmap_size": 268435456},
    "duckdb": {"memory_limit": "8GB", "threads": 4, "temp_directory": "/tmp", "access_mode": "READ_WRITE"},
    "postgresql": {"host": "localhost", "port": 5432, "user": "mdm_user", "password": "",
                   "database_prefix": "mdm_", "sslmode": "prefer", "pool_size": 10},
}  # fmt: skip


def _yaml() -> Any:
    import yaml

    return yaml


class MdmHome(StoreBase):
    """The datasets of one MDM home, on their backends."""

    def __init__(self, uri: str):
        self.uri = uri
        rest = uri.split("://", 1)[1]
        path, _, query = rest.partition("?")
        self.home = Path(path).expanduser()
        options = {key: values[-1] for key, values in parse_qs(query).items()}
        self.only = [name for name in options.get("dataset", "").split(",") if name]
        self.backend = options.get("backend")
        self.server = options.get("pg")
        if self.backend is not None and self.backend not in BACKENDS:
            raise UsageError(f"{mask(uri)}: backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.backend == "postgresql" and not self.server:
            raise UsageError(
                f"{mask(uri)}: backend=postgresql needs &pg=postgresql://user:password@host:port"
            )
        self.capabilities = Capabilities(
            family="tables", writers=1, merge=False, shared_reads=self.backend != "duckdb", kind="an MDM home"
        )
        self._stores: dict[str, TablesStore] = {}

    def _configs(self) -> Path:
        return self.home / "config" / "datasets"

    def datasets(self) -> list[str]:
        """The home's datasets (those named by ``?dataset=`` only)."""
        found = sorted(p.stem for p in self._configs().glob("*.yaml")) if self._configs().is_dir() else []
        if self.only:
            missing = sorted(set(self.only) - set(found))
            if missing:
                raise UsageError(
                    f"{mask(self.uri)}: no dataset {', '.join(missing)}; datasets: {', '.join(found)}"
                )
            return [name for name in found if name in self.only]
        return found

    def info(self, dataset: str) -> dict[str, Any]:
        """The dataset's YAML."""
        data = _yaml().safe_load((self._configs() / f"{dataset}.yaml").read_text()) or {}
        return dict(data)

    def source_uri(self, dataset: str) -> str:
        """The database a dataset's YAML points at (its ``path`` is the authority, else a glob)."""
        database = self.info(dataset).get("database") or {}
        backend = database.get("backend", "sqlite")
        if backend == "postgresql":
            user = quote(str(database.get("user", "")), safe="")
            password = database.get("password")
            credentials = f"{user}:{quote(str(password), safe='')}" if password else user
            name = database.get("database") or f"{database.get('database_prefix', 'mdm_')}{dataset}"
            host, port = database.get("host", "localhost"), database.get("port", 5432)
            return f"postgresql://{credentials}@{host}:{port}/{name}"
        path = database.get("path")
        candidates = [Path(path).expanduser()] if path else []
        folder = self.home / "datasets" / dataset
        candidates += [
            folder / f"{dataset}.{backend}",
            *sorted(folder.glob(f"*.{'duckdb' if backend == 'duckdb' else '[sd][qb]*'}")),
        ]
        for candidate in candidates:
            if candidate.is_file():
                return f"{'duckdb' if backend == 'duckdb' else 'sqlite'}:///{candidate.resolve()}"
        raise SourceFormatError(
            f"dataset {dataset}: its database is missing ({path or folder}; from "
            f"{self._configs() / (dataset + '.yaml')})"
        )

    def target_uri(self, dataset: str) -> str:
        """Where a dataset goes on the destination backend."""
        if self.backend == "postgresql":
            return f"{str(self.server).rstrip('/')}/mdm_{dataset}"
        suffix = "duckdb" if self.backend == "duckdb" else "sqlite"
        path = (self.home / "datasets" / dataset / f"{dataset}.{suffix}").resolve()
        return f"{suffix}:///{path}"

    def _store(self, dataset: str, *, writing: bool) -> TablesStore:
        uri = self.target_uri(dataset) if writing else self.source_uri(dataset)
        if uri not in self._stores:  # one store per database (DuckDB lets one connection write)
            if writing and self.backend == "postgresql":
                _create_database(uri)
            self._stores[uri] = TablesStore(uri)
        return self._stores[uri]

    def units(self) -> list[Unit]:
        """Each dataset's tables, ``dataset/table`` (a dataset whose database is missing: one unit
        that fails when read, naming its YAML)."""
        units: list[Unit] = []
        for dataset in self.datasets():
            try:
                inner = self._store(dataset, writing=False).units()
            except SourceFormatError:
                units.append(Unit(TABLE, f"{dataset}/*", f"{dataset} (database missing)"))
                continue
            units += [Unit(TABLE, f"{dataset}/{u.source_id}", f"{dataset}/{u.label}") for u in inner]
        return units

    def is_empty(self) -> bool:
        """Whether the home holds no dataset."""
        return not self.datasets()

    @staticmethod
    def _split(unit: Unit) -> tuple[str, Unit]:
        dataset, _, rest = unit.source_id.partition("/")
        return dataset, Unit(TABLE, rest, unit.label.partition("/")[2])

    def read_unit(self, unit: Unit) -> BatchStream:
        """The table's rows from the dataset's database (the destination's, once written)."""
        dataset, inner = self._split(unit)
        if inner.source_id == "*":
            if self.backend is None:
                self.source_uri(dataset)  # raises, naming the YAML
            return
        # a dataset already on the destination's backend stays where it is: read it there
        writing = self.backend is not None and not self._on_backend(dataset)
        if writing and not _exists(self.target_uri(dataset)):
            return
        for table, batch in self._store(dataset, writing=writing).read_unit(inner):
            yield f"{dataset}/{table}", batch

    def _on_backend(self, dataset: str) -> bool:
        """Whether the dataset is on the destination's backend already (nothing to move)."""
        return (self.info(dataset).get("database") or {}).get("backend", "sqlite") == self.backend

    def reads_back_alone(self, unit: Unit) -> bool:
        """As the dataset's new database reads it back (:meth:`TablesStore.reads_back_alone`)."""
        dataset, inner = self._split(unit)
        if inner.source_id == "*" or self.backend is None or self._on_backend(dataset):
            return False
        return self._store(dataset, writing=True).reads_back_alone(inner)

    def prepare(self) -> None:
        """Nothing up front: each dataset's database is made by its first table."""

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Nothing clashes: each dataset goes to a database of its own."""
        return ExistingObjects()

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Write one table of a dataset into its new database."""
        if self.backend is None:
            raise UsageError(
                f"{mask(self.uri)}: name the new backend (?backend=duckdb, sqlite or postgresql)"
            )
        dataset, inner = self._split(unit)
        if self._on_backend(dataset):
            rows: Counter[str] = Counter()
            for table, batch in batches:  # already on that backend: nothing to write
                rows[table] += batch.num_rows
            return dict(rows)
        written = self._store(dataset, writing=True).write_unit(inner, inner.source_id, batches)
        return {f"{dataset}/{table}": rows for table, rows in written.items()}

    def accept(self, done: list[Unit], left: list[Unit]) -> None:
        """Once the copy is verified: point the YAML and dataset_info.json of each dataset whose
        every table is in at its new database, and switch ``default_backend`` when the whole
        home is on the new backend. Until then MDM keeps reading the old databases."""
        if self.backend is None:
            return
        moved = {self._split(u)[0] for u in done} - {self._split(u)[0] for u in left}
        for dataset in sorted(moved):
            if (self._configs() / f"{dataset}.yaml").is_file() and _exists(self.target_uri(dataset)):
                self._repoint(dataset)
        every = [
            (self.info(name).get("database") or {}).get("backend")
            for name in sorted(p.stem for p in self._configs().glob("*.yaml"))
        ]
        config = self.home / "mdm.yaml"
        if every and all(backend == self.backend for backend in every):
            data = (_yaml().safe_load(config.read_text()) or {}) if config.is_file() else {}
            if data.get("database", {}).get("default_backend") != self.backend:
                _keep(config)
                data.setdefault("database", {})["default_backend"] = self.backend
                _write(config, _yaml().safe_dump(data, sort_keys=False))

    def _repoint(self, dataset: str) -> None:
        yaml_file = self._configs() / f"{dataset}.yaml"
        info = self.info(dataset)
        if (info.get("database") or {}).get("backend") == self.backend:
            return
        config = self.home / "mdm.yaml"
        settings = ((_yaml().safe_load(config.read_text()) or {}) if config.is_file() else {}).get(
            "database", {}
        )
        block: dict[str, Any] = {
            "backend": self.backend,
            **(settings.get(self.backend) or DEFAULT_BLOCKS[str(self.backend)]),
        }
        if self.backend == "postgresql":
            from sqlalchemy import make_url

            url = make_url(str(self.server))
            block.update(host=url.host, port=url.port or 5432, user=url.username, password=url.password or "")
            block["database"] = f"mdm_{dataset}"
        else:
            block["path"] = self.target_uri(dataset).split(":///", 1)[1]
        _keep(yaml_file)
        info["database"] = block
        _write(yaml_file, _yaml().safe_dump(info, sort_keys=False))
        info_json = self.home / "datasets" / dataset / "dataset_info.json"
        if info_json.is_file():
            _keep(info_json)
            data = json.loads(info_json.read_text())
            data["database"] = block
            _write(info_json, json.dumps(data, indent=2, default=str))

    def delete_unit(self, unit: Unit) -> None:
        """Drop the table from the dataset's new database and put its YAML, dataset_info.json
        and mdm.yaml back as they were."""
        dataset, inner = self._split(unit)
        if self.backend is not None and _exists(self.target_uri(dataset)):
            self._store(dataset, writing=True).delete_unit(inner)
        folder = self.home / "datasets" / dataset
        for path in (
            self._configs() / f"{dataset}.yaml",
            folder / "dataset_info.json",
            self.home / "mdm.yaml",
        ):
            kept = path.with_name(path.name + BACKUP)
            if kept.is_file():
                os.replace(kept, path)

    def close(self) -> None:
        """Close every dataset's database."""
        for store in self._stores.values():
            store.close()


def _exists(uri: str) -> bool:
    if uri.startswith(("sqlite:", "duckdb:")):
        return Path(uri.split(":///", 1)[1]).is_file()
    return True


def _keep(path: Path) -> None:
    """Keep the first version of ``path`` beside it (a rollback puts it back)."""
    kept = path.with_name(path.name + BACKUP)
    if path.is_file() and not kept.exists():
        shutil.copy2(path, kept)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".mlmigrate-tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _create_database(uri: str) -> None:
    """Create the PostgreSQL database ``uri`` names, if it is not there."""
    import psycopg

    server, _, name = uri.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
