"""Write one registered model as an MLflow model registry folder (``models/<name>/``)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.exceptions import StoreError
from mlmigrate.stores.filestore.write_files import columns, make_dirs, write_key_files, write_yaml


class RegisteredModelWriter:
    """Receives a registered model unit's batches and writes them under ``folder`` (a staging folder)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.meta: dict[str, Any] | None = None
        self.aliases: dict[str, str] = {}
        self.versions: set[int] = set()
        make_dirs(folder)

    def add(self, table: str, batch: pa.RecordBatch) -> None:
        """Write (or keep, for the model's meta) one batch."""
        if batch.num_rows == 0:
            return
        if table == "registered_models":
            row = batch.slice(0, 1).to_pylist()[0]
            self.meta = {
                "creation_timestamp": row["creation_time"],
                "deployment_job_id": None,
                "deployment_job_state": None,
                "description": row["description"],
                "last_updated_timestamp": row["last_updated_time"],
                "name": row["name"],
                "workspace": row["workspace"] or "default",
            }
        elif table == "registered_model_tags":
            keys, values = columns(batch, "key", "value")
            write_key_files(self.folder / "tags", keys, values, "registered model tag")
        elif table == "model_versions":
            for row in batch.to_pylist():
                self._version(row)
        elif table == "model_version_tags":
            grouped: dict[int, tuple[list[str], list[Any]]] = defaultdict(lambda: ([], []))
            for key, value, version in zip(*columns(batch, "key", "value", "version"), strict=True):
                grouped[version][0].append(key)
                grouped[version][1].append(value)
            for version, (keys, values) in grouped.items():
                write_key_files(
                    self.folder / f"version-{version}" / "tags", keys, values, "model version tag"
                )
        elif table == "registered_model_aliases":
            aliases, versions = columns(batch, "alias", "version")
            texts = [str(version) for version in versions]
            write_key_files(self.folder / "aliases", aliases, texts, "alias")
            self.aliases.update(zip(aliases, texts, strict=True))
        else:
            raise StoreError(f"a FileStore registered model cannot hold {table} rows")

    def _version(self, row: dict[str, Any]) -> None:
        version = int(row["version"])
        folder = self.folder / f"version-{version}"
        make_dirs(folder)
        write_yaml(
            folder / "meta.yaml",
            {
                "creation_timestamp": row["creation_time"],
                "current_stage": row["current_stage"],
                "deployment_job_state": None,
                "description": row["description"],
                "last_updated_timestamp": row["last_updated_time"],
                "model_id": None,  # MLflow's SQL schema has no column for it
                "name": row["name"],
                "run_id": row["run_id"],
                "run_link": row["run_link"],
                "source": row["source"],
                "status": row["status"],
                "status_message": row["status_message"],
                "storage_location": row["storage_location"],
                "user_id": row["user_id"],
                "version": version,
                "workspace": row["workspace"] or "default",
            },
        )
        self.versions.add(version)

    def finish(self) -> None:
        """Write the model's ``meta.yaml`` (it repeats the aliases, which arrive last)."""
        if self.meta is not None:
            write_yaml(self.folder / "meta.yaml", {**self.meta, "aliases": dict(self.aliases)})
