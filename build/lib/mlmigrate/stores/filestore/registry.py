"""Read one registered model of the FileStore model registry (``models/<name>/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.base import BatchStream
from mlmigrate.stores.filestore.files import read_key_files, read_yaml, require, subfolders
from mlmigrate.tables import TABLES, batch_from_columns


def _int(value: Any, field: str, path: Path) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SourceFormatError(f"field {field!r} is not an integer: {value!r}", path=str(path)) from exc


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def registered_model_batches(model_dir: Path) -> BatchStream:
    """The registered model, its tags, versions, version tags and aliases."""
    path = model_dir / "meta.yaml"
    meta = read_yaml(path)
    name = str(meta.get("name") or model_dir.name)
    workspace = str(meta.get("workspace") or "default")
    yield (
        "registered_models",
        batch_from_columns(
            "registered_models",
            {
                "name": [name],
                "creation_time": [_int(meta.get("creation_timestamp"), "creation_timestamp", path)],
                "last_updated_time": [
                    _int(meta.get("last_updated_timestamp"), "last_updated_timestamp", path)
                ],
                "description": [_text(meta.get("description"))],
                "workspace": [workspace],
            },
        ),
    )
    keys, values = read_key_files(model_dir / "tags")
    if keys:
        yield (
            "registered_model_tags",
            batch_from_columns(
                "registered_model_tags",
                {
                    "key": keys,
                    "value": values,
                    "name": [name] * len(keys),
                    "workspace": [workspace] * len(keys),
                },
            ),
        )

    versions: dict[str, list[Any]] = {column: [] for column in TABLES["model_versions"].columns}
    version_tags: dict[str, list[Any]] = {"key": [], "value": [], "name": [], "version": [], "workspace": []}
    for folder in subfolders(model_dir):
        if not folder.startswith("version-"):
            continue
        version_path = model_dir / folder / "meta.yaml"
        version_meta = read_yaml(version_path)
        version = _int(require(version_meta, "version", version_path), "version", version_path)
        if f"version-{version}" != folder:
            raise SourceFormatError(
                f"version {version} does not match its folder {folder!r}", path=str(version_path)
            )
        row = {
            "name": name,
            "version": version,
            "creation_time": _int(version_meta.get("creation_timestamp"), "creation_timestamp", version_path),
            "last_updated_time": _int(
                version_meta.get("last_updated_timestamp"), "last_updated_timestamp", version_path
            ),
            "description": _text(version_meta.get("description")),
            "user_id": _text(version_meta.get("user_id")),
            "current_stage": _text(version_meta.get("current_stage") or "None"),
            "source": _text(version_meta.get("source")),
            "run_id": _text(version_meta.get("run_id")),
            "status": _text(version_meta.get("status") or "READY"),
            "status_message": _text(version_meta.get("status_message")),
            "run_link": _text(version_meta.get("run_link")),
            "storage_location": _text(version_meta.get("storage_location")),
            "workspace": workspace,
        }
        for column, value in row.items():
            versions[column].append(value)
        tag_keys, tag_values = read_key_files(model_dir / folder / "tags")
        version_tags["key"] += tag_keys
        version_tags["value"] += tag_values
        version_tags["name"] += [name] * len(tag_keys)
        version_tags["version"] += [version] * len(tag_keys)
        version_tags["workspace"] += [workspace] * len(tag_keys)
    if versions["name"]:
        yield "model_versions", batch_from_columns("model_versions", versions)
    if version_tags["key"]:
        yield "model_version_tags", batch_from_columns("model_version_tags", version_tags)

    aliases: dict[str, list[Any]] = {"alias": [], "version": [], "name": [], "workspace": []}
    alias_names, alias_values = read_key_files(model_dir / "aliases")
    for alias, value in zip(alias_names, alias_values, strict=True):
        aliases["alias"].append(alias)
        aliases["version"].append(_int(value.strip(), "alias version", model_dir / "aliases" / alias))
        aliases["name"].append(name)
        aliases["workspace"].append(workspace)
    if aliases["alias"]:
        yield "registered_model_aliases", batch_from_columns("registered_model_aliases", aliases)
