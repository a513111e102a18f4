"""After a copy: every id held in a written value (:data:`mlmigrate.references.REFERENCES`)
names an experiment, run or logged model the destination holds.

The ids come from the journal: each unit records, as it commits, the ids its shaped values
reference. A unit whose digests matched holds those very values in the destination, so nothing
is read back for this check; only the destination's (and, for an id it lacks, the source's) ids
are listed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mlmigrate.engine.journal import DONE, UnitRecord
from mlmigrate.engine.units import holds_unit
from mlmigrate.engine.verify import VerifyResult
from mlmigrate.references import EXPERIMENT_ID, ReferenceCheck
from mlmigrate.stores.base import DestinationStore, SourceStore
from mlmigrate.tables import EXPERIMENT


def held(store: SourceStore, targets: set[str]) -> dict[str, set[str] | None]:
    """The ids ``store`` holds of each of ``targets`` (None: it cannot list them)."""
    found: dict[str, set[str] | None] = {}
    for target in targets:
        if target == EXPERIMENT_ID:
            found[target] = {unit.source_id for unit in store.units() if unit.kind == EXPERIMENT}
        else:
            found[target] = store.held_ids(target)
    return found


def check_written(
    destination: DestinationStore,
    records: Sequence[UnitRecord],
    journaled: Mapping[str, Mapping[str, list[str]]],
    result: VerifyResult,
    source: SourceStore | None = None,
    *,
    left_out: bool = False,
) -> None:
    """Add to ``result`` each reference of a done unit (``journaled``: unit id -> the ids its
    values reference) to an id the destination lacks. In a unit whose digests matched, the
    values are the source's: an id that the ``source`` does not hold either (nor, for an
    experiment, as the id it was given) dangled there already and goes to
    ``result.dangling_in_source``. Where the copy ``left_out`` part of the source on purpose
    (skipped units, rejected runs, a subset), a reference to an id the source holds goes to
    ``result.dangling_left_out``, not to the mismatches."""
    check = ReferenceCheck()
    for record in records:
        if record.state == DONE and holds_unit(destination, record.kind) and record.unit_id in journaled:
            check.add(record.unit_id, journaled[record.unit_id])
    if not check.found:
        return
    targets = check.targets()
    there = held(destination, targets)
    known: dict[str, set[str] | None] = {
        EXPERIMENT_ID: {id_ for r in records if r.kind == EXPERIMENT for id_ in (r.source_id, r.dest_id)}
    }
    lacking, _ = check.missing(there)
    if source is not None and lacking:  # only then: is each id absent from the source as well?
        listed = held(source, targets - {EXPERIMENT_ID})
        known.update((target, ids) for target, ids in listed.items() if ids is not None)
    matched = {r.unit_id for r in records} - {m["unit"] for m in result.mismatches}
    problems, result.dangling_in_source = check.missing(there, source=check.only(matched), known=known)
    if left_out:
        result.dangling_left_out += problems
    else:
        result.mismatches += problems
