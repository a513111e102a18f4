"""Rolling back one migration: remove exactly the units it wrote, as the journal knows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlmigrate.digest import Digest
from mlmigrate.engine.families import follows_mlflow_rules
from mlmigrate.engine.journal import DONE, Journal, UnitRecord, destination_key
from mlmigrate.engine.verify import VerifyResult, compare_unit, digest_stream
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import ConflictError, UsageError
from mlmigrate.stores import open_store
from mlmigrate.stores.base import DestinationStore, Unit, unsupported
from mlmigrate.stores.kinds import canonical
from mlmigrate.tables import EXPERIMENT, TABLES
from mlmigrate.uris import mask

ROLLED_BACK = "rolled-back"


@dataclass
class RollbackResult:
    """What a rollback removed and the verify of the state it left."""

    migration_id: str
    destination: str
    removed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    verify: VerifyResult = field(default_factory=VerifyResult)
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "migration_id": self.migration_id,
            "destination": mask(self.destination),
            "removed_units": self.removed,
            "restored_experiments": self.restored,
            "message": self.message,
            "verify": self.verify.as_dict(),
        }


def _find(journal: Journal, migration_id: str | None, destination_uri: str | None) -> dict[str, Any]:
    if migration_id:
        found = journal.migration(migration_id)
        if found is None:
            raise UsageError(f"no migration {migration_id!r} in {journal.path}")
        return found
    if not destination_uri:
        raise UsageError("name a migration id, or --last with the destination")
    found = journal.latest_into(destination_uri)
    if found is None:
        raise UsageError(f"no migration into {mask(destination_uri)} in {journal.path}")
    return found


def _destination(migration: dict[str, Any], given: str | None) -> str:
    """The URI to open: the one given (it must be the migration's destination), else the journal's."""
    key = destination_key(migration)
    if given:
        if canonical(given) != key:
            raise UsageError(f"migration {migration['migration_id']} wrote to {key}, not to {mask(given)}")
        return given
    if "***" in key:
        raise UsageError(
            f"the journal keeps the destination of {migration['migration_id']} with its password "
            f"masked ({key}); pass it: mlmigrate rollback {migration['migration_id']} --destination URI"
        )
    return key


def _replaced_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=TABLES["experiments"].schema)


def rollback(
    migration_id: str | None = None,
    *,
    destination_uri: str | None = None,
    state_dir: Path | None = None,
    listener: Listener = ignore,
) -> RollbackResult:
    """Remove what one migration wrote (by id, or the newest into ``destination_uri``).

    Every unit the migration finished is first compared with the digests journaled
    when it was written; if any differs, or a unit it did not finish holds rows
    (written by a crashed run or by someone else), nothing is removed and a
    :class:`ConflictError` lists them. Empty experiments the migration replaced are
    put back. Ends with a verify that the units are gone (or back as they were).
    """
    journal = Journal(state_dir)
    try:
        migration = _find(journal, migration_id, destination_uri)
        migration_id = str(migration["migration_id"])
        uri = _destination(migration, destination_uri)
        result = RollbackResult(migration_id, uri)
        records = journal.units(migration_id)
        if migration["state"] == ROLLED_BACK:
            result.message = f"migration {migration_id} was already rolled back"
            return result
        replaced: dict[str, list[dict[str, Any]]] = migration["options"].get("replaced_rows", {})
        destination = open_store(uri)
        try:
            if not destination.capabilities.rollback:
                raise unsupported(destination.capabilities, "rollback", "remove what one migration wrote")
            _check_unchanged(destination, records, listener)
            # another family's units reference earlier ones (a table's foreign keys): last first
            ordered = records if all(follows_mlflow_rules(r.kind) for r in records) else records[::-1]
            for record in ordered:
                if record.state != DONE:
                    continue
                unit = Unit(record.kind, record.dest_id, record.label)
                destination.delete_unit(unit)
                if record.kind == EXPERIMENT and record.dest_id in replaced:
                    stream = iter([("experiments", _replaced_batch(replaced[record.dest_id]))])
                    destination.write_unit(unit, record.dest_id, stream)
                    result.restored.append(record.dest_id)
                journal.mark(migration_id, record.unit_id, ROLLED_BACK, counts=record.counts)
                result.removed.append(record.unit_id)
                listener(Event("unit_done", {"unit": record.unit_id, "rows": 0}))
            result.verify = _verify_removed(destination, journal.units(migration_id), replaced, listener)
        finally:
            destination.close()
        journal.finish(migration_id, ROLLED_BACK if result.verify.ok else "rollback-mismatch")
        return result
    finally:
        journal.close()


def _check_unchanged(destination: DestinationStore, records: list[UnitRecord], listener: Listener) -> None:
    """Raise listing every unit whose destination rows are not what the migration wrote."""
    changed: list[str] = []
    listener(Event("planned", {"units": len(records), "todo": len(records), "remapped": {}}))
    for record in records:
        if record.state == ROLLED_BACK:  # an earlier, interrupted rollback removed it already
            continue
        actual = digest_stream(destination.read_unit(Unit(record.kind, record.dest_id, record.label)))
        if record.state == DONE:
            check = VerifyResult()
            if not compare_unit(check, record.unit_id, record.digests, actual):
                tables = ", ".join(m["table"] for m in check.mismatches)
                changed.append(f"{record.unit_id} ({record.label}): changed since the migration ({tables})")
        elif any(d.rows for t, d in actual.items() if t != "experiments"):
            changed.append(
                f"{record.unit_id} ({record.label}): {record.state} in this migration but the "
                "destination holds rows for it (a crashed run, or written by others); resume the "
                "copy first, or remove them by hand"
            )
    if changed:
        raise ConflictError(
            f"nothing was rolled back: {len(changed)} unit(s) are not as the migration left them", changed
        )


def _verify_removed(
    destination: DestinationStore,
    records: list[UnitRecord],
    replaced: dict[str, list[dict[str, Any]]],
    listener: Listener,
) -> VerifyResult:
    """Each rolled-back unit is gone from the destination, or back to the experiment it replaced."""
    result = VerifyResult()
    for record in records:
        if record.state != ROLLED_BACK:
            continue
        expected: dict[str, dict[str, Any]] = {}
        if record.kind == EXPERIMENT and record.dest_id in replaced:
            digest = Digest()
            digest.add(_replaced_batch(replaced[record.dest_id]))
            expected = {"experiments": digest.as_dict()}
        actual = digest_stream(destination.read_unit(Unit(record.kind, record.dest_id, record.label)))
        ok = compare_unit(result, record.unit_id, expected, actual)
        listener(Event("verify_unit", {"unit": record.unit_id, "ok": ok}))
    return result
