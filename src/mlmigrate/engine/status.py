"""What the journal knows: every migration with its unit counts, or one migration's units."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.engine.journal import DONE, Journal
from mlmigrate.exceptions import UsageError

#: where a unit ran that no cluster worker recorded: this process (done), or nowhere yet
_LOCAL = {True: "local", False: None}


@dataclass
class Status:
    """The journal's migrations (newest first), or one migration and its units."""

    journal: Path
    #: every migration with its unit counts per state (``migration_id=None``), else the one asked for
    migrations: list[dict[str, Any]] = field(default_factory=list)
    #: the units of the migration asked for (empty when listing them all)
    units: list[dict[str, Any]] = field(default_factory=list)
    #: units that carry an error, each with its ``migration_id``, ``unit_id``, ``state`` and ``error``
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "journal": str(self.journal),
            "migrations": self.migrations,
            "units": self.units,
            "errors": self.errors,
        }


def status(migration_id: str | None = None, *, state_dir: Path | None = None) -> Status:
    """The migrations in the journal of ``state_dir``, or the units of ``migration_id``.

    Raises :class:`UsageError` when the journal holds no migration ``migration_id``.
    """
    journal = Journal(state_dir)
    try:
        if migration_id:
            places = journal.places(migration_id)
            units = [
                {**vars(unit), "node": places.get(unit.unit_id, {}).get("node", _LOCAL[unit.state == DONE])}
                for unit in journal.units(migration_id)
            ]
            record = journal.migration(migration_id)
            if not units or record is None:
                raise UsageError(f"no migration {migration_id!r} in {journal.path}")
            record["passes"] = journal.passes(migration_id)
            return Status(journal.path, [record], units)
        migrations = journal.migrations()
        for migration in migrations:
            migration["passes"] = journal.passes(migration["migration_id"])
        errors = [
            {"migration_id": m["migration_id"], "unit_id": u.unit_id, "state": u.state, "error": u.error}
            for m in migrations
            for u in journal.units(m["migration_id"])
            if u.error
        ]
        return Status(journal.path, migrations, errors=errors)
    finally:
        journal.close()
