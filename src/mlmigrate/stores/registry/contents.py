"""One registry read into memory: its three tables (and mlmigrate's tag types) as Arrow, and
the problems found while reading it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlmigrate.stores.registry.layout import MODELS, SCHEMAS, TAG_TYPES, TAGS, VERSIONS


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a registry, where it is, and what mlmigrate does with it."""

    #: ``orphan_tag``, ``reused_id``, ``missing_file``, ``unlisted_file``, ``size_mismatch``,
    #: ``duplicate_version``, ``name_mismatch``, ``bad_version``, ``orphan_version``
    code: str
    #: the file and line, or the table and row id
    where: str
    message: str
    #: what is done with it (``rejected``, ``kept``, ``reported``)
    action: str
    #: the model it belongs to, when one
    model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (plan, the report, the rejects file)."""
        return {
            "code": self.code,
            "where": self.where,
            "message": self.message,
            "action": self.action,
            "model": self.model,
        }


@dataclass
class RegistryContents:
    """The rows of a registry (``mr_*`` layout, ids included) and what was wrong in them."""

    tables: dict[str, pa.Table]
    problems: list[Problem] = field(default_factory=list)
    _index: dict[str, tuple[list[int], list[int], list[int], list[int]]] | None = field(
        default=None, repr=False, compare=False
    )
    _names: list[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_rows(cls, rows: dict[str, dict[str, list[Any]]], problems: list[Problem]) -> RegistryContents:
        """Contents from column lists per table (missing tables are empty)."""
        tables = {
            name: pa.table(rows.get(name) or {c: [] for c in schema.names}, schema=schema)
            for name, schema in SCHEMAS.items()
        }
        return cls(tables, problems)

    def model_names(self) -> list[str]:
        """Model names in id order (the order the application created them)."""
        if self._names is None:
            models = self.tables[MODELS].sort_by("id")
            self._names = [str(name) for name in models.column("name").to_pylist()]
        return self._names

    def of_model(self, name: str) -> dict[str, pa.Table]:
        """The rows of one model: itself, its versions, their tags and tag types (an index built
        on first use, so reading every model costs one pass over the tables)."""
        if self._index is None:
            # one chunk per column first: a take from a many-chunked column concatenates the
            # chunks each time (a read of every model was quadratic in the registry's size)
            self.tables = {name: table.combine_chunks() for name, table in self.tables.items()}
            self._index = self._build_index()
        rows, versions, tags, types = self._index.get(name, ([], [], [], []))
        return {
            MODELS: self.tables[MODELS].take(pa.array(rows, pa.int64())),
            VERSIONS: self.tables[VERSIONS].take(pa.array(versions, pa.int64())),
            TAGS: self.tables[TAGS].take(pa.array(tags, pa.int64())),
            TAG_TYPES: self.tables[TAG_TYPES].take(pa.array(types, pa.int64())),
        }

    def _build_index(self) -> dict[str, tuple[list[int], list[int], list[int], list[int]]]:
        """Model name → row positions of its rows in each table, in id order."""
        index: dict[str, tuple[list[int], list[int], list[int], list[int]]] = {}
        models = self.tables[MODELS]
        name_of: dict[int, str] = {}
        for position in pc.sort_indices(models, [("id", "ascending")]).to_pylist():
            model_id, name = models.column("id")[position].as_py(), models.column("name")[position].as_py()
            name_of[model_id] = name
            index.setdefault(name, ([], [], [], []))[0].append(position)
        versions = self.tables[VERSIONS]
        model_of_version: dict[int, str] = {}
        version_ids, model_ids = versions.column("id").to_pylist(), versions.column("model_id").to_pylist()
        for position in pc.sort_indices(versions, [("id", "ascending")]).to_pylist():
            name = name_of.get(model_ids[position])
            if name is not None:
                model_of_version[version_ids[position]] = name
                index[name][1].append(position)
        tags = self.tables[TAGS]
        owners = tags.column("model_version_id").to_pylist()
        for position in pc.sort_indices(tags, [("id", "ascending")]).to_pylist():
            name = model_of_version.get(owners[position])
            if name is not None:
                index[name][2].append(position)
        for position, name in enumerate(self.tables[TAG_TYPES].column("model_name").to_pylist()):
            if name in index:
                index[name][3].append(position)
        return index

    def problems_of(self, name: str) -> list[Problem]:
        """The problems that belong to one model."""
        return [p for p in self.problems if p.model == name]
