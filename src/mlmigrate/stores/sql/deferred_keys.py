"""Keys a bulk load into an empty MLflow database leaves out until every unit is in.

The big tables (metric points, latest metrics, params, run tags) are loaded bare: their
primary keys, unique constraints, foreign keys and indexes, and the foreign keys of other
tables that point at them, are read from the schema MLflow's migrations just made, dropped,
and built again at the end from exactly what was read, so the schema ends as the
migrations make it. Each family's catalogue differs: one :class:`DeferredKeys` per dialect.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy

#: the tables loaded without their keys: the ones with many rows per run
DEFERRED_TABLES = ("metrics", "latest_metrics", "params", "tags")


class DeferredKeys(Protocol):
    """Reading, dropping and building one family's keys on the deferred tables."""

    def plan(self, engine: sqlalchemy.Engine) -> dict[str, Any]:
        """What is dropped and built again, as JSON data (from the catalogue; nothing changed)."""

    def drop(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Drop what ``plan`` names; what is gone already is skipped."""

    def build(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Build what ``plan`` names that is missing; after an interruption, again to finish."""


class NoDeferredKeys:
    """A family whose loads always go through the keys."""

    def plan(self, engine: sqlalchemy.Engine) -> dict[str, Any]:
        """Nothing is deferred."""
        return {}

    def drop(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Nothing to drop."""

    def build(self, engine: sqlalchemy.Engine, plan: dict[str, Any]) -> None:
        """Nothing to build."""
