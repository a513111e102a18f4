"""Foreseeing, without writing, what a destination will refuse or hold once (``plan``, ``check``).

Each planned unit is read and shaped exactly as ``copy`` shapes it, and every check the
copy makes while reading or writing is made on the shaped rows, collecting instead of
stopping at the first: text over a column's limit, NUL characters, keys the destination's
collation takes for one (:meth:`~mlmigrate.stores.base.DestinationStore.refusals`), and
source values no destination can hold (a metric step outside int64, named by file). Rows the
destination's key holds once are counted: exact duplicates, and rows that differ but share
the key (-0.0 and 0.0 at one step and timestamp, a logged model's points of two datasets).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from mlmigrate import references
from mlmigrate.column_limits import check_lengths, check_no_nul
from mlmigrate.engine.plan import SKIP, PlannedUnit
from mlmigrate.engine.report import MERGED_BY_KEY
from mlmigrate.engine.transform import for_destination, reading
from mlmigrate.engine.units import holds_unit
from mlmigrate.exceptions import MigrationError, SourceFormatError
from mlmigrate.stores.base import DestinationStore, SourceStore
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL

#: refusals listed in full; the rest are counted
SHOWN = 200
#: the table whose rows are too many to gather per unit for the key check
_MANY = "metrics"


@dataclass
class Foreseen:
    """What a copy into the destination would refuse, and the rows it would hold once."""

    #: one entry per refusal: unit, label, run (or None), table and the error copy would raise
    refusals: list[dict[str, Any]] = field(default_factory=list)
    #: exact duplicate rows collapsed, per table
    duplicates: Counter[str] = field(default_factory=Counter)
    #: rows that differ from another and that the destination's key merges with it, per table
    merged: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``plan --json``)."""
        return {
            "refusals": self.refusals[:SHOWN],
            "refusals_total": len(self.refusals),
            "collapsed_duplicates": dict(self.duplicates),
            "merged_by_key": dict(self.merged),
        }

    def lines(self) -> list[str]:
        """Each refusal in one line: unit (label), run and what is refused."""
        return [
            f"{entry['unit']} ({entry['label']})"
            + (f", run {entry['run']}" if entry["run"] else "")
            + f": {entry['error']}"
            for entry in self.refusals
        ]


def _checked(
    destination: DestinationStore, table: str, batch: pa.RecordBatch, seen: dict[str, list[pa.RecordBatch]]
) -> Iterable[SourceFormatError]:
    """The refusals of one shaped batch that it shows alone; the batch is gathered in ``seen``
    for the key check of the unit's whole table (:func:`_merged_keys`)."""
    capabilities = destination.capabilities
    for check, wanted in (
        (check_lengths, capabilities.enforces_lengths),
        (check_no_nul, not capabilities.holds_nul),
    ):
        if not wanted:
            continue
        try:
            check(table, batch)
        except SourceFormatError as exc:
            yield exc
    if table != _MANY:  # its keys meet again, once per run and key, in latest_metrics
        seen.setdefault(table, []).append(batch)


def _merged_keys(
    destination: DestinationStore, seen: dict[str, list[pa.RecordBatch]]
) -> Iterable[SourceFormatError]:
    """Keys of a unit's rows the destination takes for one, each table's batches together."""
    for table, batches in seen.items():
        together = pa.Table.from_batches(batches).combine_chunks().to_batches()
        if together:
            yield from destination.refusals(table, together[0])


def foresee(
    source: SourceStore,
    destination: DestinationStore,
    units: list[PlannedUnit],
    remapped: dict[str, str],
) -> Foreseen:
    """Read every unit that would be written, shaped for ``destination``; collect every
    refusal (a run with one is read again without it, as ``--on-error skip`` would, so each
    run's refusals are all found) and count the rows held once."""
    found = Foreseen()
    capabilities = destination.capabilities
    for planned in units:
        unit = planned.unit
        if planned.action == SKIP or not holds_unit(destination, unit.kind):
            continue
        shaping = planned.shaping
        while True:
            entries: list[dict[str, Any]] = []
            left_out: dict[str, Counter[str]] = {}
            collapsed: Counter[str] = Counter()
            seen: dict[str, list[pa.RecordBatch]] = {}
            stream = for_destination(
                source.read_unit(reading(unit, shaping)),
                unit_kind=unit.kind,
                dest_id=planned.dest_id,
                collapsed=collapsed,
                shaping=shaping,
                left_out=left_out,
                made_finite=Counter() if not capabilities.holds_infinity else None,
                experiment_ids=remapped if unit.kind in references.UNIT_KINDS else {},
            )
            try:
                for table, batch in stream:
                    for refusal in _checked(destination, table, batch, seen):
                        entries.append(_entry(planned, refusal))
                entries += [_entry(planned, refusal) for refusal in _merged_keys(destination, seen)]
            except SourceFormatError as exc:  # in the source itself: copy stops at it too
                if exc.run_id and exc.run_id not in shaping.rejected_runs:
                    found.refusals.append(_entry(planned, exc))
                    shaping = shaping.rejecting(exc.run_id)  # the rest, as --on-error skip reads it
                    continue
                entries.append(_entry(planned, exc))
            except MigrationError as exc:
                entries.append({"unit": unit.unit_id, "label": unit.label, "run": None, "error": str(exc)})
            found.refusals += entries
            found.duplicates.update(collapsed)
            found.merged.update(left_out.get(MERGED_BY_KEY, {}))
            break
    found.refusals += _names(destination, units)
    return found


def _names(destination: DestinationStore, units: list[PlannedUnit]) -> list[dict[str, Any]]:
    """Experiment and registered model names the destination takes for one (each unique in
    it), as refusals of the units that bring them."""
    entries: list[dict[str, Any]] = []
    for kind, table in ((EXPERIMENT, "experiments"), (REGISTERED_MODEL, "registered_models")):
        named = [p for p in units if p.unit.kind == kind and p.action != SKIP]
        labels = [p.dest_label or p.unit.label for p in named]
        if len(labels) < 2:
            continue
        batch = pa.record_batch({"name": pa.array(labels, pa.string())})
        for refusal in destination.refusals(table, batch):
            owners = [p.unit for p, label in zip(named, labels, strict=True) if ascii(label) in str(refusal)]
            later = owners[1:] or owners
            entries += [
                {"unit": unit.unit_id, "label": unit.label, "run": None, "error": str(refusal)}
                for unit in later
            ]
    return entries


def _entry(planned: PlannedUnit, error: SourceFormatError) -> dict[str, Any]:
    return {
        "unit": planned.unit.unit_id,
        "label": planned.unit.label,
        "run": error.run_id,
        "error": str(error),
    }
