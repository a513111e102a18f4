"""What changed in the source since a migration's last pass, told from the stores' own
watermarks (``SourceStore.watermarks``): units whose watermark moved are copied again, new
units are planned, and units that left the source leave the destination when this
migration wrote them. A unit without a watermark (a store that has none, or a unit copied
before watermarks were recorded) is compared by its digests, reading all of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.journal import DONE, PENDING, PRESENT, Journal, UnitRecord
from mlmigrate.engine.rerun import digests_differ, journal_new_units, remapped_ids
from mlmigrate.engine.subset import Selection
from mlmigrate.exceptions import StoreError
from mlmigrate.stores.base import DestinationStore, SourceStore, Unit
from mlmigrate.tables import GLOBAL
from mlmigrate.uris import mask

logger = logging.getLogger(__name__)


@dataclass
class Changes:
    """What one pass found: unit ids changed, new, removed from the destination and left
    there (with why), and how many units each way of telling was asked about."""

    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    left: list[dict[str, str]] = field(default_factory=list)
    by_watermark: int = 0
    by_digest: int = 0

    @property
    def count(self) -> int:
        """Units to copy in this pass."""
        return len(self.changed) + len(self.new)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "changed": self.changed,
            "new": self.new,
            "removed": self.removed,
            "left": self.left,
            "by_watermark": self.by_watermark,
            "by_digest": self.by_digest,
        }


def watermarks_of(source: SourceStore) -> dict[str, str]:
    """The source's watermarks, or none where its capabilities say it has none or it cannot
    give them (a schema revision without a column asked): its units are then digested."""
    if not source.capabilities.watermarks:
        return {}
    try:
        return source.watermarks()
    except StoreError as exc:
        logger.warning("no watermarks from %s (its units are compared by digests): %s", mask(source.uri), exc)
        return {}


def looks_unchanged(
    source: SourceStore,
    journal: Journal,
    migration_id: str,
    selection: Selection | None = None,
    *,
    global_held: bool = True,
) -> tuple[bool, dict[str, str]]:
    """Whether a finished migration's source holds the same units with the same watermarks as
    when they were copied (cheap: no unit is read), and the watermarks now. False as soon as
    one unit has no watermark, so that the full pass digests it. ``global_held``: whether the
    destination holds the tables outside experiments and models (else their unit is not asked)."""
    selection = selection or Selection()
    records = {r.unit_id: r for r in journal.units(migration_id) if global_held or r.kind != GLOBAL}
    recorded = journal.watermarks(migration_id)
    units = {
        unit.unit_id
        for unit in source.units()
        if selection.keeps(unit) and (global_held or unit.kind != GLOBAL)
    }
    now = watermarks_of(source)
    if units != {unit_id for unit_id, r in records.items() if r.state in (DONE, PRESENT)}:
        return False, now
    return all(unit_id in now and now[unit_id] == recorded.get(unit_id) for unit_id in units), now


def find_changes(
    source: SourceStore,
    destination: DestinationStore,
    journal: Journal,
    migration_id: str,
    watermarks: dict[str, str],
    selection: Selection | None = None,
    rewrite: UriRewrite | None = None,
) -> Changes:
    """Mark the units whose watermark moved (or, without one, whose digests did) pending,
    journal the new ones, and remove from the destination the units this migration wrote that
    left the source (a registered model renamed or deleted, an experiment purged)."""
    selection = selection or Selection()
    records = {record.unit_id: record for record in journal.units(migration_id)}
    recorded = journal.watermarks(migration_id)
    remapped = remapped_ids(records)
    held = destination.capabilities.tables
    found = Changes()
    units = [unit for unit in source.units() if selection.keeps(unit)]
    for unit in units:
        record = records.get(unit.unit_id)
        if record is None:
            found.new.append(unit.unit_id)
            continue
        if record.state != DONE or (unit.kind == GLOBAL and held is not None):
            continue
        now, before = watermarks.get(unit.unit_id), recorded.get(unit.unit_id)
        if now is not None and before is not None:
            found.by_watermark += 1
            moved = now != before
        else:
            found.by_digest += 1
            moved = digests_differ(source, destination, unit, record, remapped, rewrite)
            if not moved and now is not None:  # taken before the read: the next pass asks it alone
                journal.save_watermarks(migration_id, {unit.unit_id: now})
        if moved:
            journal.mark(migration_id, unit.unit_id, PENDING)
            found.changed.append(unit.unit_id)
    present = {unit.unit_id for unit in units}
    scopes = journal.scopes(migration_id)
    for record in records.values():
        if record.unit_id not in present and record.kind != GLOBAL:
            _remove_gone(destination, journal, migration_id, record, record.unit_id in scopes, found)
    journal_new_units(destination, journal, migration_id, [u for u in units if u.unit_id in found.new])
    return found


def _remove_gone(
    destination: DestinationStore,
    journal: Journal,
    migration_id: str,
    record: UnitRecord,
    merged: bool,
    found: Changes,
) -> None:
    """A unit that left the source: removed from the destination only when this migration
    wrote all of it; else left there, and said why."""
    if record.state == PRESENT or merged:
        why = (
            "the destination held it before this migration"
            if record.state == PRESENT
            else ("merged into an object the destination held before this migration")
        )
        found.left.append({"unit": record.unit_id, "label": record.label, "reason": why})
        return
    if record.state == DONE:
        if not destination.capabilities.rollback:
            found.left.append(
                {
                    "unit": record.unit_id,
                    "label": record.label,
                    "reason": f"{destination.capabilities.kind} cannot remove one unit",
                }
            )
            return
        destination.delete_unit(Unit(record.kind, record.dest_id, record.label))
        found.removed.append(record.unit_id)
    journal.drop_unit(migration_id, record.unit_id)  # never written (pending, failed) or removed now


__all__ = ["Changes", "find_changes", "looks_unchanged", "watermarks_of"]
