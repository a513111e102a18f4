"""Looking without writing: ``plan`` (what a copy would do) and ``verify`` (do two stores agree)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mlmigrate.engine.events import Event, Listener, ignore
from mlmigrate.engine.journal import Journal
from mlmigrate.engine.plan import plan_units
from mlmigrate.engine.verify import (
    VerifyResult,
    check_references,
    compare_unit,
    digest_stream,
    source_digests,
)
from mlmigrate.exceptions import MigrationError, SourceFormatError
from mlmigrate.stores import open_store
from mlmigrate.stores.base import Unit
from mlmigrate.tables import EXPERIMENT
from mlmigrate.uris import mask


def plan(
    source_uri: str, destination_uri: str | None = None, *, listener: Listener = ignore
) -> dict[str, Any]:
    """Read the whole source and say what a copy would write; nothing is written anywhere."""
    source = open_store(source_uri)
    counts: Counter[str] = Counter()
    problems: list[dict[str, str]] = []
    try:
        units = source.units()
        listener(Event("planned", {"units": len(units), "todo": len(units), "remapped": {}}))
        for unit in units:
            listener(Event("unit_started", {"unit": unit.unit_id, "label": unit.label}))
            try:
                for table, batch in source.read_unit(unit):
                    counts[table] += batch.num_rows
                    listener(Event("rows", {"table": table, "rows": batch.num_rows}))
            except SourceFormatError as exc:
                problems.append({"unit": unit.unit_id, "label": unit.label, "error": str(exc)})
            listener(Event("unit_done", {"unit": unit.unit_id, "rows": 0}))
        result: dict[str, Any] = {
            "source": mask(source_uri),
            "units": {
                "experiments": sum(u.kind == EXPERIMENT for u in units),
                "registered_models": sum(u.kind != EXPERIMENT for u in units),
            },
            "tables": dict(counts),
            "total_rows": sum(counts.values()),
            "problems": problems,
        }
        if destination_uri:
            destination = open_store(destination_uri)
            try:
                existing = destination.existing(
                    run_ids=source.run_ids() if hasattr(source, "run_ids") else []
                )
                planned = plan_units(
                    units, existing, max_experiment_id=destination.capabilities.max_experiment_id
                )
                result.update(
                    {
                        "destination": mask(destination_uri),
                        "experiment_id_map": planned.remapped,
                        "replaced_empty_experiments": planned.replaced,
                        "clashes": planned.clashes,
                    }
                )
            finally:
                destination.close()
        return result
    finally:
        source.close()


def _id_map(
    source_uri: str, destination_uri: str, units: list[Unit], destination: Any, state_dir: Path | None
) -> dict[str, str]:
    """Destination id of every source unit: from the journal, else matched by experiment name."""
    journal = Journal(state_dir)
    try:
        latest = journal.latest(source_uri, destination_uri)
        if latest:
            return {r.unit_id: r.dest_id for r in journal.units(latest["migration_id"])}
    finally:
        journal.close()
    by_name = {u.label: u.source_id for u in destination.units() if u.kind == EXPERIMENT}
    mapping = {}
    for unit in units:
        if unit.kind == EXPERIMENT:
            mapping[unit.unit_id] = by_name.get(unit.label, unit.source_id)
        else:
            mapping[unit.unit_id] = unit.source_id
    return mapping


def verify(
    source_uri: str, destination_uri: str, *, state_dir: Path | None = None, listener: Listener = ignore
) -> VerifyResult:
    """Compare every unit of the source with the destination: counts and digests per table."""
    source = open_store(source_uri)
    destination = open_store(destination_uri)
    try:
        units = source.units()
        mapping = _id_map(source_uri, destination_uri, units, destination, state_dir)
        listener(Event("verify_started", {"units": len(units)}))
        result = VerifyResult()
        for unit in units:
            dest_id = mapping.get(unit.unit_id, unit.source_id)
            try:
                expected = {t: d.as_dict() for t, d in source_digests(source, unit, dest_id).items()}
            except SourceFormatError as exc:
                result.mismatches.append({"unit": unit.unit_id, "table": "*", "problem": str(exc)})
                continue
            try:
                actual = digest_stream(destination.read_unit(Unit(unit.kind, dest_id, unit.label)))
            except MigrationError as exc:
                result.mismatches.append({"unit": unit.unit_id, "table": "*", "problem": str(exc)})
                continue
            ok = compare_unit(result, unit.unit_id, expected, actual)
            listener(Event("verify_unit", {"unit": unit.unit_id, "ok": ok}))
        check_references(destination, result)
        return result
    finally:
        source.close()
        destination.close()
