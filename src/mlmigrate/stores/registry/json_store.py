"""``registry.json`` as a destination: one model replaced at a time, the file rewritten
atomically as the application writes it, and what JSON cannot hold kept beside it.

The application's file has no ids, no model-level description or timestamps. mlmigrate keeps
them in ``<registry.json>.mlmigrate.json`` (its own file; the application never reads it), so a
registry copied SQL → JSON → SQL comes back with the same ids and model rows. A file the
application wrote without one gets its ids as the application's migration would give them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.stores.registry.contents import RegistryContents
from mlmigrate.stores.registry.json_file import read_registry_json, registry_document, write_registry_json
from mlmigrate.stores.registry.layout import MODELS, SCHEMAS, TAGS, VERSIONS


def sidecar_path(path: Path) -> Path:
    """The file mlmigrate keeps beside ``registry.json``."""
    return path.with_name(path.name + ".mlmigrate.json")


def _load_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    return json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}


def generation(path: Path) -> int:
    """How many times mlmigrate has rewritten ``path`` (0 for a file it never wrote). Each write
    counts one more once it is whole, whatever the clock's tick or the inodes reused."""
    try:
        return int(_load_sidecar(path).get("generation", 0))
    except (OSError, ValueError):  # replaced or half-read meanwhile: count it as a change
        return -1


def _model_side(rows: dict[str, pa.Table]) -> dict[str, Any]:
    model = rows[MODELS].to_pylist()[0]
    versions = rows[VERSIONS].to_pylist()
    number = {v["id"]: v["version"] for v in versions}
    tags: dict[str, dict[str, int]] = {}
    for tag in rows[TAGS].to_pylist():
        tags.setdefault(number[tag["model_version_id"]], {})[tag["tag_key"]] = tag["id"]
    return {
        "id": model["id"],
        "description": model["description"],
        "created_at": model["created_at"],
        "updated_at": model["updated_at"],
        "versions": {v["version"]: v["id"] for v in versions},
        "tags": tags,
    }


def read_with_sidecar(path: Path) -> RegistryContents:
    """The registry of ``path`` with the ids and model rows mlmigrate kept beside it."""
    contents = read_registry_json(path)
    side = _load_sidecar(path).get("models", {})
    if not side:
        return contents
    used = (
        [m["id"] for m in side.values()],
        [i for m in side.values() for i in m["versions"].values()],
        [i for m in side.values() for t in m["tags"].values() for i in t.values()],
    )
    fresh = [max(ids, default=0) for ids in used]

    def next_id(kind: int) -> int:
        fresh[kind] += 1
        return fresh[kind]

    models, versions, tags = (contents.tables[t].to_pylist() for t in (MODELS, VERSIONS, TAGS))
    model_ids: dict[int, int] = {}
    version_ids: dict[int, int] = {}
    model_name = {m["id"]: m["name"] for m in models}
    for model in models:
        kept = side.get(model["name"])
        new_id = kept["id"] if kept else next_id(0)
        model_ids[model["id"]] = new_id
        if kept:
            model.update(
                description=kept["description"], created_at=kept["created_at"], updated_at=kept["updated_at"]
            )
        model["id"] = new_id
    version_number = {}
    for version in versions:
        kept = side.get(model_name[version["model_id"]], {}).get("versions", {})
        new_id = kept.get(version["version"]) or next_id(1)
        version_ids[version["id"]] = new_id
        version_number[new_id] = (model_name[version["model_id"]], version["version"])
        version["id"], version["model_id"] = new_id, model_ids[version["model_id"]]
    for tag in tags:
        tag["model_version_id"] = version_ids[tag["model_version_id"]]
        name, number = version_number[tag["model_version_id"]]
        tag["id"] = side.get(name, {}).get("tags", {}).get(number, {}).get(tag["tag_key"]) or next_id(2)
    contents.tables[MODELS] = pa.Table.from_pylist(models, schema=SCHEMAS[MODELS])
    contents.tables[VERSIONS] = pa.Table.from_pylist(versions, schema=SCHEMAS[VERSIONS])
    contents.tables[TAGS] = pa.Table.from_pylist(tags, schema=SCHEMAS[TAGS])
    return contents


class JsonRegistry:
    """One ``registry.json`` (and mlmigrate's file beside it), written one model at a time."""

    def __init__(self, path: Path):
        self.path = path

    def _document(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}

    def _save(self, document: dict[str, Any], side: dict[str, Any]) -> None:
        """Replace ``registry.json``, then mlmigrate's file with the next generation: a reader
        that saw a generation before the write started sees another once both are in place."""
        side["generation"] = int(side.get("generation", 0)) + 1
        write_registry_json(self.path, document)
        staging = sidecar_path(self.path).with_name("." + sidecar_path(self.path).name + ".tmp")
        staging.write_text(json.dumps(side, indent=2, ensure_ascii=False), encoding="utf-8")
        staging.replace(sidecar_path(self.path))

    def write_model(self, name: str, rows: dict[str, pa.Table]) -> dict[str, int]:
        """Replace the model ``name`` with ``rows`` (its place in the file is kept)."""
        return self.write_models([(name, rows)])[0]

    def write_models(self, models: list[tuple[str, dict[str, pa.Table]]]) -> list[dict[str, int]]:
        """Replace each model ``(name, rows)`` (their places in the file kept), in one rewrite of
        the file; rows written per table, per model."""
        document, side = self._document(), _load_sidecar(self.path)
        written = []
        for name, rows in models:
            full = {table: rows.get(table, SCHEMAS[table].empty_table()) for table in SCHEMAS}
            document[name] = registry_document(RegistryContents(full))[name]
            side.setdefault("models", {})[name] = _model_side(full)
            written.append({table: data.num_rows for table, data in full.items() if data.num_rows})
        self._save(document, side)
        return written

    def delete_model(self, name: str) -> None:
        """Remove the model ``name`` from the file."""
        document, side = self._document(), _load_sidecar(self.path)
        document.pop(name, None)
        side.get("models", {}).pop(name, None)
        self._save(document, side)
