"""One registry model as MLflow's registry rows: a registered model, its versions (same
numbers, descriptions and tags, as MLflow strings) and their tags.

A version's ``source`` and ``storage_location`` are the folder its model file is in (as a
``file://`` URI under the model root), so ``models:/NAME/VERSION`` downloads the model file,
and ``--artifacts-to`` copies it with the artifacts phase. Naive timestamps are read in the
registry's zone (``?timezone=``; this machine's local zone by default).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.registry.layout import MODELS, TAG_TYPES, TAGS, VERSIONS
from mlmigrate.stores.registry.values import epoch_millis, mlflow_text
from mlmigrate.tables import batch_from_columns

WORKSPACE = "default"


def _millis(value: str | None, zone: ZoneInfo, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return epoch_millis(value, zone)
    except ValueError as exc:
        raise SourceFormatError(f"{where}: created_at {value!r} is not an ISO timestamp") from exc


def version_source(storage_path: str, root: Path | None) -> str:
    """Where a version's files are: the folder of its model file under ``root`` (as the
    relative folder when no model root is known)."""
    folder = PurePosixPath(storage_path).parent
    if root is None:
        return folder.as_posix()
    return (root / folder).resolve().as_uri()


def integer_version(version: str) -> int | None:
    """The version number MLflow holds, or None for one that is not a whole number."""
    text = version.strip()
    return int(text) if text.isdigit() else None


def mlflow_batches(rows: dict[str, pa.Table], root: Path | None, zone: ZoneInfo, where: str) -> BatchStream:
    """MLflow's ``registered_models``, ``model_versions`` and ``model_version_tags`` rows of one
    model (versions that are not whole numbers are refused naming them)."""
    model = rows[MODELS].to_pylist()[0]
    name = model["name"]
    model_where = f"{where}: model {name!r}"
    created = _millis(model["created_at"], zone, model_where)
    yield (
        "registered_models",
        batch_from_columns(
            "registered_models",
            {
                "name": [name],
                "creation_time": [created],
                "last_updated_time": [_millis(model["updated_at"], zone, model_where)],
                "description": [model["description"]],
                "workspace": [WORKSPACE],
            },
        ),
    )
    typed = {(r["version"], r["tag_key"]): json.loads(r["json_value"]) for r in rows[TAG_TYPES].to_pylist()}
    number_of: dict[int, tuple[int, str]] = {}
    versions: dict[str, list[Any]] = {
        c: []
        for c in (
            "name",
            "version",
            "creation_time",
            "last_updated_time",
            "description",
            "current_stage",
            "source",
            "status",
            "storage_location",
            "workspace",
        )
    }
    for row in rows[VERSIONS].to_pylist():
        number = integer_version(row["version"])
        if number is None:
            raise SourceFormatError(
                f"{model_where}, version {row['version']!r} (row id {row['id']}): "
                "MLflow holds whole version numbers only"
            )
        number_of[row["id"]] = (number, row["version"])
        stamp = _millis(row["created_at"], zone, f"{model_where}, version {row['version']}")
        source = version_source(row["storage_path"], root)
        for column, value in (
            ("name", name),
            ("version", number),
            ("creation_time", stamp),
            ("last_updated_time", stamp),
            ("description", row["description"]),
            ("current_stage", "None"),
            ("source", source),
            ("status", "READY"),
            ("storage_location", source),
            ("workspace", WORKSPACE),
        ):
            versions[column].append(value)
    if versions["name"]:
        yield "model_versions", batch_from_columns("model_versions", versions)
    tags: dict[str, list[Any]] = {"key": [], "value": [], "name": [], "version": [], "workspace": []}
    for row in rows[TAGS].to_pylist():
        number, text = number_of[row["model_version_id"]]
        key = row["tag_key"]
        value = mlflow_text(typed[(text, key)]) if (text, key) in typed else row["tag_value"]
        for column, cell in (
            ("key", key),
            ("value", value),
            ("name", name),
            ("version", number),
            ("workspace", WORKSPACE),
        ):
            tags[column].append(cell)
    if tags["key"]:
        yield "model_version_tags", batch_from_columns("model_version_tags", tags)
