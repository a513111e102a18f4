"""``check``: is a migration ready to run? Connectivity, permissions, schemas, disk, size, clashes.

Nothing is written anywhere. The size of the source is estimated from a sample of
its units, so checking a large store stays quick. The pair's migration in the journal is
reported as what ``copy`` will do with it: resume it, or (finished) copy only what changed.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.engine.foresee import foresee
from mlmigrate.engine.journal import DONE, PRESENT, Journal, default_state_dir
from mlmigrate.engine.plan import base_shaping, describe_source_clashes, destination_holds, plan_units
from mlmigrate.engine.revisions import known
from mlmigrate.engine.subset import Selection
from mlmigrate.exceptions import MigrationError, UsageError
from mlmigrate.stores import open_source, open_store
from mlmigrate.stores.base import DestinationStore, SourceStore, Unit
from mlmigrate.stores.kinds import check_destination
from mlmigrate.uris import backup_path, mask

SAMPLE_UNITS = 12
#: a backup writes each unit aside, then merges them into one file per table
BACKUP_SPACE_FACTOR = 2


@dataclass
class Readiness:
    """The checks made and whether the migration can go ahead."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    estimate: dict[str, Any] = field(default_factory=dict)

    @property
    def go(self) -> bool:
        """True when no check failed."""
        return all(check["ok"] for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        """Record one check."""
        self.checks.append({"check": name, "ok": ok, "detail": mask(detail)})
        return ok

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"go": self.go, "checks": self.checks, "estimate": self.estimate}


def _sample(store: SourceStore, units: list[Unit]) -> tuple[int, int, dict[str, int]]:
    """Estimated (rows, bytes) of all ``units`` from an even sample of them, and sampled rows per table."""
    if not units:
        return 0, 0, {}
    step = max(1, len(units) // SAMPLE_UNITS)
    sample = units[::step][:SAMPLE_UNITS]
    rows = size = 0
    tables: dict[str, int] = {}
    for unit in sample:
        for table, batch in store.read_unit(unit):
            rows += batch.num_rows
            size += batch.nbytes
            tables[table] = tables.get(table, 0) + batch.num_rows
    scale = len(units) / len(sample)
    return round(rows * scale), round(size * scale), tables


def _free_space(folder: Path) -> int:
    existing = folder.resolve()
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


@dataclass(frozen=True)
class Journaled:
    """The pair's newest migration in the journal: what ``copy`` resumes, or (finished) what it
    starts from, copying only what the source gained since."""

    migration_id: str
    state: str
    units_left: int
    units_total: int

    @property
    def finished(self) -> bool:
        """Whether the migration copied everything it planned."""
        return self.state == DONE

    def describe(self) -> str:
        """One line for the report."""
        if self.finished:
            return (
                f"migration {self.migration_id} of this pair finished ({self.units_total} units); "
                "copy copies only what the source gained or changed since"
            )
        return (
            f"migration {self.migration_id} of this pair is unfinished ({self.state}): "
            f"{self.units_left} of {self.units_total} units left; copy resumes it"
        )


def journaled(source_uri: str, destination_uri: str, state_dir: Path | None = None) -> Journaled | None:
    """The pair's newest migration in the journal (None when there is none); a journal that
    does not exist yet is not created."""
    folder = Path(state_dir or default_state_dir())
    if not (folder / "journal.sqlite").is_file():
        return None
    journal = Journal(folder)
    try:
        latest = journal.latest(source_uri, destination_uri)
        if latest is None:
            return None
        records = journal.units(latest["migration_id"])
        left = sum(record.state not in (DONE, PRESENT) for record in records)
        return Journaled(latest["migration_id"], latest["state"], left, len(records))
    finally:
        journal.close()


def _foresee(
    result: Readiness,
    source: SourceStore,
    destination: DestinationStore,
    units: list[Unit],
    run_ids: list[str],
) -> None:
    """Read the whole source as ``copy`` would write it: every refusal is a NO-GO."""
    planned = plan_units(
        units,
        destination_holds(destination, units, run_ids),
        max_experiment_id=destination.capabilities.max_experiment_id,
        on_conflict="skip",  # what is refused of the units a copy would write
        base=base_shaping(destination),
        source_run_ids=run_ids,
    )
    try:
        found = foresee(source, destination, planned.units, planned.remapped)
    except MigrationError as exc:
        result.add("destination: refusals", False, str(exc))
        return
    lines = found.lines()
    result.add(
        "destination: refusals",
        not lines,
        "; ".join(lines[:10]) + (f" … and {len(lines) - 10} more" if len(lines) > 10 else "")
        if lines
        else "none: every row can be written",
    )
    held_once = {
        table: found.duplicates[table] + found.merged[table] for table in found.duplicates | found.merged
    }
    if held_once:
        result.add(
            "destination: rows held once",
            True,
            ", ".join(f"{rows:,} {table}" for table, rows in sorted(held_once.items()))
            + " row(s) held once by the destination's key (counted in the report)",
        )
    result.estimate["refusals"] = found.as_dict()


def check(
    source_uri: str,
    destination_uri: str,
    *,
    backup_dest: str | None = None,
    state_dir: Path | None = None,
    experiments: Sequence[str] = (),
    models: Sequence[str] = (),
) -> Readiness:
    """Check that copying ``source_uri`` into ``destination_uri`` can work; nothing is written.
    ``state_dir`` is the journal's folder (as ``copy`` is given it); ``experiments`` and
    ``models`` check the copy of that subset alone, as ``copy`` is given them."""
    result = Readiness()
    source: SourceStore | None = None
    destination: DestinationStore | None = None
    try:
        try:
            source = open_source(source_uri)
            units = source.units()
            result.add("source: connect", True, f"{mask(source_uri)}: {len(units)} units")
        except MigrationError as exc:
            result.add("source: connect", False, str(exc))
            units = []
        selection = Selection.make(experiments, models)
        if selection and units:
            try:
                units = selection.pick(units)
                result.add("source: subset", True, f"{len(units)} units selected")
            except UsageError as exc:
                result.add("source: subset", False, str(exc))
                units = []
        if source is not None and units:
            try:
                rows, size, _ = _sample(source, units)
                result.add("source: read", True, f"read a sample of {min(len(units), SAMPLE_UNITS)} units")
            except MigrationError as exc:
                rows = size = 0
                result.add("source: read", False, str(exc))
            result.estimate.update({"units": len(units), "rows": rows, "bytes": size})
        revision = source.schema_revision() if source is not None else None
        if revision is not None:
            result.add("source: schema revision", *known(revision))
        try:
            check_destination(destination_uri)
            destination = open_store(destination_uri)
            empty = destination.is_empty()
            result.add(
                "destination: connect", True, f"{mask(destination_uri)}: {'empty' if empty else 'holds data'}"
            )
        except MigrationError as exc:
            result.add("destination: connect", False, str(exc))
            return result
        problem = destination.write_problem()
        writable = destination.capabilities.writable and problem is None
        result.add(
            "destination: write permission",
            writable,
            problem or ("can create, write and delete" if writable else "this store is read-only"),
        )
        dest_revision = destination.schema_revision()
        if dest_revision is not None:
            result.add("destination: schema revision", *known(dest_revision))
        elif empty:
            result.add("destination: schema revision", True, "empty: MLflow's schema will be created")
        rate = destination.capabilities.nominal_rate
        if rate and "rows" in result.estimate:
            result.estimate["seconds"] = round(result.estimate["rows"] / rate, 1)
        try:
            previous = journaled(source_uri, destination_uri, state_dir)
        except MigrationError as exc:
            previous = None
            result.add("journal", False, str(exc))
        if previous is not None:
            result.add("journal", True, previous.describe())
            result.estimate["units_left"] = previous.units_left
            # copy takes the destination as that migration left it: what it holds is no clash
        run_ids = source.run_ids() if source is not None and units else []
        if source is not None and units:
            inside = describe_source_clashes(units, run_ids)
            result.add(
                "clashes inside the source",
                not inside,
                "; ".join(inside[:10]) + (" …" if len(inside) > 10 else "") if inside else "none",
            )
        if source is not None and previous is not None:
            # what the destination holds of the source was written by that migration: no clash
            result.add(
                "clashes", True, f"none: the destination holds what migration {previous.migration_id} wrote"
            )
        elif source is not None and units and not empty:
            planned = plan_units(
                units,
                destination_holds(destination, units, run_ids),
                max_experiment_id=destination.capabilities.max_experiment_id,
                source_run_ids=run_ids,
            )
            result.add(
                "clashes",
                not planned.clashes,
                "; ".join(planned.clashes[:10]) + (" …" if len(planned.clashes) > 10 else "")
                if planned.clashes
                else "none",
            )
            result.estimate["experiment_id_map"] = planned.remapped
        elif source is not None:
            result.add("clashes", True, "none (the destination is empty)")
        if source is not None and units and previous is None:
            _foresee(result, source, destination, units, run_ids)
        if backup_dest:
            needed = 0 if empty else _sample(destination, destination.units())[1] * BACKUP_SPACE_FACTOR
            free = _free_space(backup_path(backup_dest))
            result.add(
                "disk space for the backup",
                free >= needed,
                f"{free / 2**20:,.0f} MiB free at {backup_dest}, about {needed / 2**20:,.1f} MiB needed",
            )
            result.estimate["backup_bytes"] = needed
        return result
    finally:
        for store in (source, destination):
            if store is not None:
                store.close()
