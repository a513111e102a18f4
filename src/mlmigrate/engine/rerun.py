"""A re-run of a finished migration: pick up what the source gained since.

New experiments and models are planned like a first run (ids, clashes); a unit
already copied whose rows changed in the source (a run added to an experiment,
say) is copied again: its destination rows belong to this migration, so
rewriting them is no clash. Units that left the source stay in the destination.
A migration of a subset picks up changes inside that subset only.

``copy`` finds the changed units by digesting every unit of the source; ``sync``
asks the stores' watermarks first (:mod:`mlmigrate.engine.changes`) and digests only
where it has none.
"""

from __future__ import annotations

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.history_order import is_order_table
from mlmigrate.engine.journal import DONE, PENDING, Journal, UnitRecord
from mlmigrate.engine.plan import plan_units
from mlmigrate.engine.subset import Selection
from mlmigrate.engine.verify import source_digests
from mlmigrate.exceptions import ConflictError
from mlmigrate.stores.base import DestinationStore, SourceStore, Unit
from mlmigrate.tables import EXPERIMENT, GLOBAL


def remapped_ids(records: dict[str, UnitRecord]) -> dict[str, str]:
    """Source experiment id -> destination id, for the experiments a migration remapped."""
    return {
        r.source_id: r.dest_id for r in records.values() if r.kind == EXPERIMENT and r.source_id != r.dest_id
    }


def digests_differ(
    source: SourceStore,
    destination: DestinationStore,
    unit: Unit,
    record: UnitRecord,
    remapped: dict[str, str],
    rewrite: UriRewrite | None = None,
) -> bool:
    """Whether ``unit``'s rows in the source now digest otherwise than when it was copied
    (reads the whole unit)."""
    held = destination.capabilities.tables
    digests = source_digests(
        source,
        unit,
        record.dest_id,
        finite_floats=not destination.capabilities.holds_infinity,
        experiment_ids=remapped,
        rewrite=rewrite,
    )
    now = {table: d.as_dict() for table, d in digests.items() if d.rows and (held is None or table in held)}
    before = {table: d for table, d in record.digests.items() if d["rows"] and not is_order_table(table)}
    return now != before


def journal_new_units(
    destination: DestinationStore, journal: Journal, migration_id: str, new: list[Unit]
) -> None:
    """Plan the source's new units (ids, clashes) and append them to the migration; a
    :class:`ConflictError` when any clashes with what the destination holds."""
    if not new:
        return
    plan = plan_units(
        new,
        destination.existing(),
        max_experiment_id=destination.capabilities.max_experiment_id,
    )
    if plan.clashes:
        raise ConflictError(
            f"the source gained {len(new)} object(s) since migration {migration_id}, and "
            f"{len(plan.clashes)} clash with what the destination holds; nothing was copied",
            plan.clashes,
        )
    journal.add_units(
        migration_id,
        [(p.unit.unit_id, p.unit.kind, p.unit.source_id, p.dest_id, p.unit.label) for p in plan.units],
    )


def pick_up_changes(
    source: SourceStore,
    destination: DestinationStore,
    journal: Journal,
    migration_id: str,
    selection: Selection | None = None,
    rewrite: UriRewrite | None = None,
) -> int:
    """Journal the source's new units of ``selection`` (all, when empty) and mark changed ones
    pending; return how many. ``rewrite``: the artifact URI rules the migration wrote with (its
    units are compared as they were written)."""
    records = {record.unit_id: record for record in journal.units(migration_id)}
    remapped = remapped_ids(records)
    selection = selection or Selection()
    units = [unit for unit in source.units() if selection.keeps(unit)]
    new = [unit for unit in units if unit.unit_id not in records]
    changed = 0
    held = destination.capabilities.tables
    for unit in units:
        record = records.get(unit.unit_id)
        if record is None or record.state != DONE or (unit.kind == GLOBAL and held is not None):
            continue
        if digests_differ(source, destination, unit, record, remapped, rewrite):
            journal.mark(migration_id, unit.unit_id, PENDING)
            changed += 1
    journal_new_units(destination, journal, migration_id, new)
    return changed + len(new)


__all__ = ["digests_differ", "journal_new_units", "pick_up_changes", "remapped_ids"]
