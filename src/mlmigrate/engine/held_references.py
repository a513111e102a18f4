"""After a copy: every experiment id held in a written value names an experiment the
destination holds (:data:`mlmigrate.references.REFERENCES`)."""

from __future__ import annotations

from collections.abc import Sequence

from mlmigrate import references
from mlmigrate.engine.journal import DONE, UnitRecord
from mlmigrate.engine.units import holds_unit
from mlmigrate.engine.verify import VerifyResult
from mlmigrate.references import ReferenceCheck
from mlmigrate.stores.base import DestinationStore, Unit
from mlmigrate.tables import EXPERIMENT


def check_written(
    destination: DestinationStore,
    records: Sequence[UnitRecord],
    result: VerifyResult,
    *,
    only: set[str] | None = None,
) -> None:
    """Read back the done units (of ``only``, if given) whose journaled rows include a table of
    references and add each reference to an experiment the destination lacks to ``result``. In
    a unit whose digests matched, the values are the source's: an id that is no source
    experiment's dangled there already and goes to ``result.dangling_in_source``."""
    check = ReferenceCheck()
    for record in records:
        if record.state != DONE or not holds_unit(destination, record.kind):
            continue
        if only is not None and record.unit_id not in only:
            continue
        if not any(table in references.TABLES and d.get("rows") for table, d in record.digests.items()):
            continue  # nothing of it can hold a reference: not read again
        for _ in check.watch(
            record.unit_id, destination.read_unit(Unit(record.kind, record.dest_id, record.label))
        ):
            pass
    if not check.found:
        return
    held = {unit.source_id for unit in destination.units() if unit.kind == EXPERIMENT}
    known = {id_ for r in records if r.kind == EXPERIMENT for id_ in (r.source_id, r.dest_id)}
    matched = {r.unit_id for r in records} - {m["unit"] for m in result.mismatches}
    problems, result.dangling_in_source = check.missing(held, source=check.only(matched), known=known)
    result.mismatches += problems
