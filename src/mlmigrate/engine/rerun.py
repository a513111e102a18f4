"""A re-run of a finished migration: pick up what the source gained since.

New experiments and models are planned like a first run (ids, clashes); a unit
already copied whose rows changed in the source (a run added to an experiment,
say) is copied again: its destination rows belong to this migration, so
rewriting them is no clash. Units that left the source stay in the destination.
A migration of a subset picks up changes inside that subset only.
"""

from __future__ import annotations

from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.history_order import is_order_table
from mlmigrate.engine.journal import DONE, PENDING, Journal
from mlmigrate.engine.plan import plan_units
from mlmigrate.engine.subset import Selection
from mlmigrate.engine.verify import source_digests
from mlmigrate.exceptions import ConflictError
from mlmigrate.stores.base import DestinationStore, SourceStore
from mlmigrate.tables import EXPERIMENT, GLOBAL


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
    remapped = {
        r.source_id: r.dest_id for r in records.values() if r.kind == EXPERIMENT and r.source_id != r.dest_id
    }
    selection = selection or Selection()
    units = [unit for unit in source.units() if selection.keeps(unit)]
    new = [unit for unit in units if unit.unit_id not in records]
    changed = 0
    held = destination.capabilities.tables
    for unit in units:
        record = records.get(unit.unit_id)
        if record is None or record.state != DONE or (unit.kind == GLOBAL and held is not None):
            continue
        digests = source_digests(
            source,
            unit,
            record.dest_id,
            finite_floats=not destination.capabilities.holds_infinity,
            experiment_ids=remapped,
            rewrite=rewrite,
        )
        now = {
            table: d.as_dict() for table, d in digests.items() if d.rows and (held is None or table in held)
        }
        before = {table: d for table, d in record.digests.items() if d["rows"] and not is_order_table(table)}
        if now != before:
            journal.mark(migration_id, unit.unit_id, PENDING)
            changed += 1
    if new:
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
    return changed + len(new)


__all__ = ["pick_up_changes"]
