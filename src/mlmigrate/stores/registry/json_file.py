"""``registry.json`` read into the registry's tables, and written back as the application writes it.

Ids are given the way the application's own JSON → SQLite migration gives them: models, versions
and tags numbered from 1 in the file's order. A model's ``created_at`` and ``updated_at`` (which
the file does not hold) are its first version's ``created_at``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mlmigrate.exceptions import SourceFormatError
from mlmigrate.stores.registry.contents import Problem, RegistryContents
from mlmigrate.stores.registry.layout import MODELS, TAG_TYPES, TAGS, VERSIONS
from mlmigrate.stores.registry.values import app_text, json_type_text

#: the keys the application writes in every version entry, in its order
ENTRY_KEYS = ("name", "version", "description", "tags", "created_at", "storage_path", "file_size")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def load_json(path: Path) -> Any:
    """The parsed file; bad UTF-8 or bad JSON is refused naming the file and line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceFormatError(f"cannot read the registry file: {exc.strerror}", path=str(path)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise SourceFormatError(
            f"line {line}: not UTF-8 (byte {data[exc.start]:#04x} at offset {exc.start})", path=str(path)
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(
            f"line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}", path=str(path)
        ) from exc


def _entry_error(path: Path, model: str, index: int, text: str) -> SourceFormatError:
    return SourceFormatError(f"model {model!r}, entry {index + 1}: {text}", path=str(path))


def _check_entry(path: Path, model: str, index: int, entry: Any) -> None:
    if not isinstance(entry, dict):
        raise _entry_error(
            path, model, index, f"a version entry must be an object, not {type(entry).__name__}"
        )
    missing = [key for key in ("version", "storage_path", "created_at") if key not in entry]
    if missing:
        raise _entry_error(path, model, index, f"missing {', '.join(missing)}")
    for key in ("version", "storage_path", "created_at"):
        if not isinstance(entry[key], str):
            raise _entry_error(path, model, index, f"{key} must be a string, not {entry[key]!r}")
    if not isinstance(entry.get("tags", {}), dict):
        raise _entry_error(path, model, index, f"tags must be an object, not {entry['tags']!r}")
    size = entry.get("file_size", 0)
    if isinstance(size, bool) or not isinstance(size, int):
        raise _entry_error(path, model, index, f"file_size must be an integer, not {size!r}")


def read_registry_json(path: Path) -> RegistryContents:
    """The registry a ``registry.json`` holds, with its problems (a version that repeats an
    earlier one of its model is left out and reported; the first is kept, as the application's
    database sync keeps it)."""
    document = load_json(path)
    if not isinstance(document, dict):
        raise SourceFormatError(
            "line 1: the registry must be a JSON object of model name → versions", path=str(path)
        )
    rows: dict[str, dict[str, list[Any]]] = {
        MODELS: {"id": [], "name": [], "description": [], "created_at": [], "updated_at": []},
        VERSIONS: {
            c: []
            for c in (
                "id",
                "model_id",
                "version",
                "description",
                "storage_path",
                "file_size_bytes",
                "created_at",
            )
        },
        TAGS: {"id": [], "model_version_id": [], "tag_key": [], "tag_value": []},
        TAG_TYPES: {"model_name": [], "version": [], "tag_key": [], "json_value": []},
    }
    problems: list[Problem] = []
    version_id = tag_id = 0
    for model_id, (name, entries) in enumerate(document.items(), start=1):
        if not isinstance(entries, list):
            raise SourceFormatError(
                f"model {name!r}: its versions must be a list, not {type(entries).__name__}", path=str(path)
            )
        seen: set[str] = set()
        first_created: str | None = None
        for index, entry in enumerate(entries):
            _check_entry(path, name, index, entry)
            version = entry["version"]
            where = f"{path}: model {name!r}, entry {index + 1}"
            if version in seen:
                problems.append(
                    Problem(
                        "duplicate_version",
                        where,
                        f"version {version} repeats an earlier entry of {name!r}",
                        "rejected (the first is kept)",
                        name,
                    )
                )
                continue
            seen.add(version)
            if entry.get("name", name) != name:
                problems.append(
                    Problem(
                        "name_mismatch",
                        where,
                        f"the entry names {entry.get('name')!r}, its key is {name!r}",
                        "kept under its key",
                        name,
                    )
                )
            version_id += 1
            first_created = first_created or entry["created_at"]
            version_rows = rows[VERSIONS]
            for column, value in (
                ("id", version_id),
                ("model_id", model_id),
                ("version", version),
                ("description", entry.get("description", "")),
                ("storage_path", entry["storage_path"]),
                ("file_size_bytes", entry.get("file_size", 0)),
                ("created_at", entry["created_at"]),
            ):
                version_rows[column].append(value)
            for key, value in entry.get("tags", {}).items():
                tag_id += 1
                rows[TAGS]["id"].append(tag_id)
                rows[TAGS]["model_version_id"].append(version_id)
                rows[TAGS]["tag_key"].append(key)
                rows[TAGS]["tag_value"].append(app_text(value))
                typed = json_type_text(value)
                if typed is not None:
                    for column, cell in zip(rows[TAG_TYPES], (name, version, key, typed), strict=True):
                        rows[TAG_TYPES][column].append(cell)
        for column, value in zip(
            rows[MODELS], (model_id, name, None, first_created or "", first_created or ""), strict=True
        ):
            rows[MODELS][column].append(value)
    return RegistryContents.from_rows(rows, problems)


def registry_document(contents: RegistryContents) -> dict[str, list[dict[str, Any]]]:
    """The ``registry.json`` object of ``contents``: models and versions in id order, tags in
    id order, each tag value of the JSON type mlmigrate kept for it (else the SQL text)."""
    document: dict[str, list[dict[str, Any]]] = {}
    for name in contents.model_names():
        rows = contents.of_model(name)
        typed = {
            (row["version"], row["tag_key"]): json.loads(row["json_value"])
            for row in rows[TAG_TYPES].to_pylist()
        }
        tags: dict[int, dict[str, Any]] = {}
        for tag in rows[TAGS].to_pylist():
            tags.setdefault(tag["model_version_id"], {})[tag["tag_key"]] = tag
        entries = []
        for version in rows[VERSIONS].to_pylist():
            own = tags.get(version["id"], {})
            entries.append(
                {
                    "name": name,
                    "version": version["version"],
                    "description": version["description"] if version["description"] is not None else "",
                    "tags": {
                        key: typed.get((version["version"], key), tag["tag_value"])
                        for key, tag in own.items()
                    },
                    "created_at": version["created_at"],
                    "storage_path": version["storage_path"],
                    "file_size": version["file_size_bytes"] if version["file_size_bytes"] is not None else 0,
                }
            )
        document[name] = entries
    return document


def write_registry_json(path: Path, document: dict[str, Iterable[dict[str, Any]]]) -> None:
    """Write ``document`` as the application does (``json.dump(..., indent=2)``), atomically."""
    staging = path.with_name(f".{path.name}.mlmigrate-tmp")
    staging.write_text(json.dumps(document, indent=2), encoding="utf-8")
    staging.replace(path)
