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
        models = self.tables[MODELS].sort_by("id")
        return [str(name) for name in models.column("name").to_pylist()]

    def of_model(self, name: str) -> dict[str, pa.Table]:
        """The rows of one model: itself, its versions, their tags and tag types."""
        models = self.tables[MODELS]
        model = models.filter(pc.equal(models.column("name"), name))
        versions = self.tables[VERSIONS]
        versions = versions.filter(pc.is_in(versions.column("model_id"), model.column("id"))).sort_by("id")
        tags = self.tables[TAGS]
        tags = tags.filter(pc.is_in(tags.column("model_version_id"), versions.column("id"))).sort_by("id")
        types = self.tables[TAG_TYPES]
        types = types.filter(pc.equal(types.column("model_name"), name))
        return {MODELS: model, VERSIONS: versions, TAGS: tags, TAG_TYPES: types}

    def problems_of(self, name: str) -> list[Problem]:
        """The problems that belong to one model."""
        return [p for p in self.problems if p.model == name]
