"""A portable backup: one Parquet file per canonical table and a ``manifest.json``.

While a backup is being written each unit goes to its own folder under
``.parts/`` (written aside, then renamed into place), so an interrupted backup
resumes like any copy. ``finish`` merges the parts into one file per table,
each unit's rows contiguous, and writes the manifest last: it records the row
range of every unit, per-table row counts and digests, so a finished backup is
read back unit by unit and checked before it is restored. The files are plain
Parquet of MLflow's column names: pandas, DuckDB or Polars read them as they are.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlmigrate.digest import Digest
from mlmigrate.exceptions import MigrationError, StoreError, UsageError
from mlmigrate.stores.backup.manifest import (
    FORMAT,
    MANIFEST,
    check_files,
    read_manifest,
    table_file,
    write_atomically,
    write_manifest,
)
from mlmigrate.stores.base import BatchStream, Capabilities, ExistingObjects, StoreBase, Unit, unsupported
from mlmigrate.tables import EXPERIMENT, GLOBAL, TABLES, TableSpec, is_id, tables_of
from mlmigrate.uris import backup_path, mask

PARTS = ".parts"
UNIT_FILE = "unit.json"
SOURCE_FILE = "source.json"
ROW_GROUP = 256_000


def _unit_key(kind: str, unit_id: str) -> str:
    """A file-name-safe, stable folder name for a unit (model names may hold any character)."""
    return f"{kind}-{hashlib.sha256(unit_id.encode()).hexdigest()[:24]}"


def _sort_key(unit: Unit) -> tuple[int, int, str]:
    numeric = is_id(unit.source_id)
    return (0 if unit.kind == EXPERIMENT else 1, int(unit.source_id) if numeric else 0, unit.source_id)


def _specs(kind: str) -> list[TableSpec]:
    """The tables of a unit kind, parents first (the global unit: every table outside experiments
    and models, typed from MLflow's own models)."""
    if kind != GLOBAL:
        return tables_of(kind)
    from mlmigrate.global_tables import global_tables, spec_of

    return [spec_of(name) for name in global_tables()]


def _disk_error(exc: BaseException, path: Path) -> StoreError:
    """A clear message for a write that failed, naming the full disk when that is the cause."""
    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or (
        "No space left" in str(exc) or "File too large" in str(exc)
    )
    if full:
        return StoreError(
            f"no space left on the device writing the backup ({path}); the backup has no "
            "manifest, so it is not mistaken for a finished one; free some space and run the "
            "same command again to resume"
        )
    return StoreError(f"cannot write the backup file {path}: {exc}")


class BackupStore(StoreBase):
    """A backup folder, readable as a source and writable as a destination."""

    def __init__(self, uri: str):
        self.uri = uri
        self.root = backup_path(uri).expanduser().resolve()
        self.display_uri = mask(uri)
        self._manifest = read_manifest(self.root)
        finished = self._manifest is not None
        self.capabilities = Capabilities(
            writable=not finished,
            writers=2,
            merge=False,
            rollback=not finished,
            nominal_rate=100_000,
            kind="a finished backup" if finished else "a backup folder",
        )
        self._metadata: dict[str, tuple[pq.FileMetaData, list[int]]] = {}
        self._lock = threading.Lock()

    @property
    def finished(self) -> bool:
        """Whether this folder holds a finished backup (its manifest exists)."""
        return self._manifest is not None

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest of a finished backup."""
        if self._manifest is None:
            raise StoreError(f"{self.root} holds no finished backup (no {MANIFEST})")
        return self._manifest

    def check_integrity(self) -> None:
        """Re-read every file and compare it with the manifest; raise naming a damaged file."""
        check_files(self.root, self.manifest)

    def schema_revision(self) -> str | None:
        """The MLflow schema revision of the store that was backed up."""
        return self._manifest.get("schema_revision") if self._manifest else None

    # reading

    def _part_units(self) -> list[tuple[dict[str, Any], Path]]:
        parts = self.root / PARTS
        found = []
        if parts.is_dir():
            for folder in parts.iterdir():
                info_path = folder / UNIT_FILE
                if folder.name.startswith(".") or not info_path.exists():
                    continue
                found.append((json.loads(info_path.read_text(encoding="utf-8")), folder))
        found.sort(key=lambda item: _sort_key(Unit(item[0]["kind"], item[0]["id"])))
        return found

    def units(self) -> list[Unit]:
        """Experiments by id, then registered models by name."""
        if self._manifest is not None:
            units = [Unit(u["kind"], u["id"], u["label"]) for u in self._manifest["units"].values()]
        else:
            units = [Unit(info["kind"], info["id"], info["label"]) for info, _ in self._part_units()]
        return sorted(units, key=_sort_key)

    def read_unit(self, unit: Unit) -> BatchStream:
        """The rows of one unit: from its part while the backup is written, else from the tables."""
        folder = self.root / PARTS / _unit_key(unit.kind, unit.source_id)
        if self._manifest is None and not (folder / UNIT_FILE).exists():
            self._manifest = read_manifest(self.root)  # finished meanwhile, by another process
        if self._manifest is None:
            if not (folder / UNIT_FILE).exists():
                return iter(())
            return self._read_part(unit, folder)
        info = self._manifest["units"].get(unit.unit_id)
        if info is None:
            return iter(())
        return self._read_ranges(unit, info["rows"])

    def _read_part(self, unit: Unit, folder: Path) -> BatchStream:
        for spec in _specs(unit.kind):
            path = folder / f"{spec.name}.parquet"
            if not path.exists():
                continue
            try:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=200_000):
                    yield spec.name, batch
            except Exception as exc:
                raise StoreError(f"cannot read the backup file {path}: {exc}") from exc

    def _row_groups(self, table: str) -> tuple[pq.FileMetaData, list[int]]:
        """A table file's metadata and the first row of each row group, read once."""
        with self._lock:
            if table not in self._metadata:
                metadata = pq.read_metadata(table_file(self.root, table))
                starts, offset = [], 0
                for index in range(metadata.num_row_groups):
                    starts.append(offset)
                    offset += metadata.row_group(index).num_rows
                self._metadata[table] = (metadata, starts)
            return self._metadata[table]

    def _read_ranges(self, unit: Unit, ranges: dict[str, list[int]]) -> BatchStream:
        for spec in _specs(unit.kind):
            if spec.name not in ranges:
                continue
            start, end = ranges[spec.name]
            path = table_file(self.root, spec.name)
            try:
                metadata, starts = self._row_groups(spec.name)
                handle = pq.ParquetFile(path, metadata=metadata)
                for index, first in enumerate(starts):
                    last = first + metadata.row_group(index).num_rows
                    if last <= start or first >= end:
                        continue
                    group = handle.read_row_group(index)
                    group = group.slice(max(start - first, 0), min(end, last) - max(start, first))
                    for batch in group.cast(spec.schema).to_batches(max_chunksize=200_000):
                        yield spec.name, batch
            except MigrationError:
                raise
            except Exception as exc:
                raise StoreError(f"damaged backup: {path} cannot be read ({exc})") from exc

    # writing

    def is_empty(self) -> bool:
        """Whether no unit has been written here yet."""
        return self._manifest is None and not self._part_units()

    def prepare(self) -> None:
        """Create the folder; refuse a folder that holds something other than a backup."""
        if self._manifest is not None:
            raise UsageError(f"{self.root} already holds a finished backup; choose a new folder")
        if self.root.exists():
            if not self.root.is_dir():
                raise UsageError(f"backup folder {self.root} is a file")
            # a backup in progress (its parts, and table files of a merge cut short) is resumed
            others = [] if (self.root / PARTS).is_dir() else [p.name for p in self.root.iterdir()]
            if others:
                raise UsageError(
                    f"backup folder {self.root} is not empty and holds no backup "
                    f"({', '.join(sorted(others)[:5])}); choose an empty or new folder"
                )
        try:
            (self.root / PARTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _disk_error(exc, self.root) from exc

    def write_problem(self) -> str | None:
        """Why the backup folder could not be written, or None when it can."""
        if self._manifest is not None:
            return f"{self.root} already holds a finished backup"
        folder = self.root
        while not folder.exists():
            folder = folder.parent
        return None if os.access(folder, os.W_OK) else f"{folder} is not writable"

    def existing(self, *, run_ids: Iterable[str] = ()) -> ExistingObjects:
        """Experiments, models and given run ids already in the backup."""
        found = ExistingObjects()
        wanted = set(run_ids)
        for unit in self.units():
            if unit.kind != EXPERIMENT:
                found.registered_models.add(unit.source_id)
                continue
            if not is_id(unit.source_id):
                continue
            found.experiments[int(unit.source_id)] = unit.label
            found.experiment_names[unit.label] = int(unit.source_id)
            tables = set()
            for table, batch in self.read_unit(unit):
                tables.add(table)
                if table == "runs" and wanted:
                    found.run_ids.update(set(batch.column("run_uuid").to_pylist()) & wanted)
            if not tables - {"experiments"}:
                found.empty_experiments.add(int(unit.source_id))
        return found

    def write_unit(
        self, unit: Unit, dest_id: str, batches: BatchStream, *, into_existing: bool = False
    ) -> dict[str, int]:
        """Write the unit's rows to a new part folder, then rename it over the old one."""
        if into_existing:
            raise unsupported(self.capabilities, "merge", "merge into an experiment or model it holds")
        if self._manifest is not None:
            raise UsageError(f"{self.root} is a finished backup and is not written to again")
        parts = self.root / PARTS
        final = parts / _unit_key(unit.kind, dest_id)
        aside = parts / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        writers: dict[str, pq.ParquetWriter] = {}
        digests: dict[str, Digest] = {}
        current = aside
        try:
            aside.mkdir(parents=True)
            for table, batch in batches:
                current = aside / f"{table}.parquet"
                if table not in writers:
                    schema = TABLES[table].schema if table in TABLES else batch.schema
                    writers[table] = pq.ParquetWriter(current, schema, compression="zstd")
                writers[table].write_batch(batch, row_group_size=ROW_GROUP)
                digests.setdefault(table, Digest()).add(batch)
            for writer in writers.values():
                writer.close()
            writers.clear()
            info = {
                "kind": unit.kind,
                "id": dest_id,
                "label": unit.label,
                "counts": {t: d.rows for t, d in digests.items()},
                "digests": {t: d.as_dict() for t, d in digests.items()},
            }
            current = aside / UNIT_FILE
            write_atomically(current, json.dumps(info).encode())
            _replace_folder(aside, final)
        except MigrationError:
            _discard(aside, writers)
            raise
        except OSError as exc:
            _discard(aside, writers)
            raise _disk_error(exc, current) from exc
        except BaseException:
            _discard(aside, writers)
            raise
        return {t: d.rows for t, d in digests.items()}

    def delete_unit(self, unit: Unit) -> None:
        """Remove a unit (its destination id in ``unit.source_id``) from an unfinished backup."""
        if self._manifest is not None:
            raise UsageError(f"{self.root} is a finished backup; delete the folder instead")
        shutil.rmtree(self.root / PARTS / _unit_key(unit.kind, unit.source_id), ignore_errors=True)

    def record_source(self, info: dict[str, Any]) -> None:
        """Remember what was backed up (masked URI, schema revision) for the manifest."""
        write_atomically(self.root / PARTS / SOURCE_FILE, json.dumps(info).encode())

    def finish(self) -> None:
        """Merge the parts into one Parquet file per table, then write the manifest."""
        if self._manifest is not None:
            return
        parts = self._part_units()
        source_path = self.root / PARTS / SOURCE_FILE
        source = json.loads(source_path.read_text()) if source_path.exists() else {}
        units: dict[str, dict[str, Any]] = {
            f"{info['kind']}:{info['id']}": {
                "kind": info["kind"],
                "id": info["id"],
                "label": info["label"],
                "rows": {},
            }
            for info, _ in parts
        }
        tables: dict[str, dict[str, Any]] = {}
        merged: list[tuple[Path, Path]] = []
        try:
            specs = list(TABLES.values())
            if any(info["kind"] == GLOBAL for info, _ in parts):
                specs += _specs(GLOBAL)
            for spec in specs:
                final = table_file(self.root, spec.name)
                aside = self.root / f".{final.name}.tmp"
                tables[spec.name] = {
                    "file": final.name,
                    **_merge_table(spec.name, spec.schema, parts, aside, units),
                }
                merged.append((aside, final))
            for aside, final in merged:
                os.replace(aside, final)
            from mlmigrate import __version__

            manifest = {
                "format": FORMAT,
                "tool": {"name": "mlmigrate", "version": __version__},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "source": source.get("source"),
                "schema_revision": source.get("schema_revision"),
                "consistent_snapshot": source.get("consistent_snapshot", False),
                "tables": tables,
                "units": units,
            }
            write_manifest(self.root, manifest)
        except OSError as exc:
            for aside, _ in merged:
                aside.unlink(missing_ok=True)
            raise _disk_error(exc, self.root) from exc
        self._manifest = manifest
        done = self.root / f".parts-done-{uuid.uuid4().hex[:8]}"
        os.replace(self.root / PARTS, done)
        shutil.rmtree(done, ignore_errors=True)

    def close(self) -> None:
        """Nothing to release."""


def _merge_table(
    table: str,
    schema: pa.Schema,
    parts: list[tuple[dict[str, Any], Path]],
    aside: Path,
    units: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Write every part of ``table`` to ``aside``, one unit after another; record each unit's
    row range in ``units`` and return the table's manifest entry."""
    digest = Digest()
    offset = 0
    try:
        with pq.ParquetWriter(aside, schema, compression="zstd") as writer:
            for info, folder in parts:
                part = folder / f"{table}.parquet"
                if not part.exists():
                    continue
                start = offset
                for batch in _batches(part):
                    writer.write_batch(batch, row_group_size=ROW_GROUP)
                    digest.add(batch)
                    offset += batch.num_rows
                if offset > start:
                    units[f"{info['kind']}:{info['id']}"]["rows"][table] = [start, offset]
        with open(aside, "rb") as handle:
            os.fsync(handle.fileno())
    except BaseException:
        aside.unlink(missing_ok=True)
        raise
    return {"rows": digest.rows, "digest": digest.hex}


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP)


def _replace_folder(aside: Path, final: Path) -> None:
    """Put ``aside`` where ``final`` is, the old one removed (a crash leaves one or the other)."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(aside, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(aside, final)


def _discard(aside: Path, writers: dict[str, pq.ParquetWriter]) -> None:
    for writer in writers.values():
        with contextlib.suppress(Exception):  # already failing: the folder goes anyway
            writer.close()
    shutil.rmtree(aside, ignore_errors=True)
