"""Repairing a journal whose units disagree with the destination.

A unit is journaled after its transaction commits, so a crash between the two, a copy
of the same pair run by an older mlmigrate beside another, or a hand edit can leave the
journal saying *failed* or *pending* for a unit the destination holds whole, or *done*
for one it no longer holds. ``repair`` re-checks each unit of the pair's latest
migration against the destination: a unit held exactly as the source would write it is
marked done, a unit the destination does not hold is marked pending (the next ``copy``
writes it), and a unit held differently is reported and left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.journal import DONE, FAILED, PENDING, PRESENT, SKIPPED, Journal, UnitRecord
from mlmigrate.engine.locks import PairLock
from mlmigrate.engine.plan import base_shaping, journaled_shapings
from mlmigrate.engine.units import holds_unit
from mlmigrate.engine.verify import VerifyResult, compare_unit, digest_stream, scoped, source_digests
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import MigrationError, UsageError
from mlmigrate.stores import open_source, open_store
from mlmigrate.stores.base import DestinationStore, SourceStore, Unit
from mlmigrate.tables import EXPERIMENT
from mlmigrate.uris import mask

#: what a repaired migration is left as when units remain to copy (``copy`` resumes it)
INTERRUPTED = "interrupted"


@dataclass
class RepairResult:
    """What re-checking a migration's units against the destination changed in its journal."""

    migration_id: str
    #: units the journal did not call done that the destination holds whole: now done
    adopted: list[str] = field(default_factory=list)
    #: units the destination does not hold: now pending, for the next copy
    to_copy: list[str] = field(default_factory=list)
    #: units the destination holds otherwise than the source would write them: left as they were
    differing: list[str] = field(default_factory=list)
    #: the migration's state before and after
    was: str = ""
    state: str = ""

    @property
    def ok(self) -> bool:
        """Whether the journal now agrees with the destination on every unit."""
        return not self.differing

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "migration_id": self.migration_id,
            "adopted_units": self.adopted,
            "units_to_copy": self.to_copy,
            "differing_units": self.differing,
            "state_before": self.was,
            "state": self.state,
            "ok": self.ok,
        }


def repair(
    source_uri: str,
    destination_uri: str,
    *,
    state_dir: Path | None = None,
    listener: Listener = ignore,
) -> RepairResult:
    """Re-check every unit of the latest migration of ``source_uri`` → ``destination_uri``
    against the destination, and set the journal to what the destination holds.

    Holds the pair's lock, so no copy of the pair runs meanwhile. Reads both stores and
    writes only the journal.
    """
    lock = PairLock(source_uri, destination_uri)
    lock.acquire()
    journal = Journal(state_dir)
    try:
        migration = journal.latest(source_uri, destination_uri)
        if migration is None:
            raise UsageError(
                f"no migration of {mask(source_uri)} into {mask(destination_uri)} in {journal.path}"
            )
        migration_id = str(migration["migration_id"])
        result = RepairResult(migration_id, was=str(migration["state"]))
        source = open_source(source_uri)
        destination = open_store(destination_uri)
        try:
            _recheck(journal, migration_id, source, destination, result, listener)
        finally:
            source.close()
            destination.close()
        records = journal.units(migration_id)
        if any(r.state in (PENDING, FAILED) for r in records):
            result.state = INTERRUPTED
            journal.finish(migration_id, INTERRUPTED)
        elif result.was in (FAILED, INTERRUPTED, "running") and not result.differing:
            result.state = DONE
            journal.finish(migration_id, DONE)
        else:
            result.state = result.was
        return result
    finally:
        journal.close()
        lock.release()


def _recheck(
    journal: Journal,
    migration_id: str,
    source: SourceStore,
    destination: DestinationStore,
    result: RepairResult,
    listener: Listener,
) -> None:
    """Compare each journaled unit with the destination and mark it by what was found."""
    records = journal.units(migration_id)
    options = journal.options(migration_id)
    shapings = journaled_shapings(options)
    scopes = journal.scopes(migration_id)
    rewrite = UriRewrite.from_json(options.get("artifacts", {}).get("rules"))
    base = base_shaping(destination)
    remapped = {
        r.source_id: r.dest_id
        for r in records
        if r.kind == EXPERIMENT and r.source_id != r.dest_id and r.state != PRESENT
    }
    listener(Event("verify_started", {"units": len(records)}))
    for record in records:
        if record.state in (PRESENT, SKIPPED) or not holds_unit(destination, record.kind):
            continue
        try:
            expected = source_digests(
                source,
                Unit(record.kind, record.source_id, record.label),
                record.dest_id,
                shapings.get(record.unit_id, base),
                finite_floats=not destination.capabilities.holds_infinity,
                experiment_ids=remapped,
                rewrite=rewrite,
            )
            stream = destination.read_unit(Unit(record.kind, record.dest_id, record.label))
            if record.unit_id in scopes:
                from mlmigrate.engine.transform import Scope

                stream = scoped(stream, Scope.from_dict(scopes[record.unit_id]))
            actual = digest_stream(stream)
        except MigrationError as exc:
            result.differing.append(f"{record.unit_id} ({record.label}): {exc}")
            continue
        found = _what_is_held(record, {t: d.as_dict() for t, d in expected.items()}, actual)
        if found == "whole" and record.state != DONE:
            counts = {table: digest.rows for table, digest in expected.items()}
            digests = {table: digest.as_dict() for table, digest in expected.items()}
            journal.mark(migration_id, record.unit_id, DONE, counts=counts, digests=digests)
            result.adopted.append(record.unit_id)
        elif found == "absent" and record.state == DONE:
            journal.mark(migration_id, record.unit_id, PENDING)
            result.to_copy.append(record.unit_id)
        elif found == "absent" and record.state == FAILED:
            journal.mark(migration_id, record.unit_id, PENDING, error=record.error)
            result.to_copy.append(record.unit_id)
        elif found == "different":
            result.differing.append(
                f"{record.unit_id} ({record.label}): the destination holds it otherwise than the "
                f"source would write it (journaled {record.state}); see mlmigrate verify"
            )
        listener(Event("verify_unit", {"unit": record.unit_id, "ok": found != "different"}))


def _what_is_held(record: UnitRecord, expected: dict[str, dict[str, Any]], actual: dict[str, Any]) -> str:
    """``whole`` when the destination holds the unit as the source would write it, ``absent``
    when it holds none of its rows, else ``different``."""
    if compare_unit(VerifyResult(), record.unit_id, expected, actual):
        return "whole"
    if not any(digest.rows for digest in actual.values()):
        return "absent"
    return "different"
