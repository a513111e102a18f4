"""Looking without writing: ``plan`` (what a copy would do) and ``verify`` (do two stores agree)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite, references
from mlmigrate.engine.events import Event, Listener, ignore
from mlmigrate.engine.journal import Journal
from mlmigrate.engine.plan import plan_units
from mlmigrate.engine.verify import VerifyResult, compare_unit, digest_stream, source_digests
from mlmigrate.exceptions import MigrationError, SourceFormatError
from mlmigrate.stores import open_store
from mlmigrate.stores.base import Unit
from mlmigrate.tables import EXPERIMENT
from mlmigrate.uris import mask


def plan(
    source_uri: str,
    destination_uri: str | None = None,
    *,
    listener: Listener = ignore,
    s3_endpoint: str | None = None,
) -> dict[str, Any]:
    """Read the whole source and say what a copy would write (rows per table; artifact objects
    and bytes per kind); nothing is written anywhere."""
    from mlmigrate.artifacts.references import survey_references

    source = open_store(source_uri)
    counts: Counter[str] = Counter()
    problems: list[dict[str, str]] = []
    artifacts: list[tuple[str, str]] = []
    try:
        units = source.units()
        listener(Event("planned", {"units": len(units), "todo": len(units), "remapped": {}}))
        for unit in units:
            listener(Event("unit_started", {"unit": unit.unit_id, "label": unit.label}))
            try:
                for table, batch in source.read_unit(unit):
                    counts[table] += batch.num_rows
                    artifacts += references(table, batch)
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
        result["artifacts"], artifact_problems = survey_references(artifacts, s3_endpoint)
        problems += [{"unit": "artifacts", "label": "", "error": text} for text in artifact_problems]
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
) -> tuple[dict[str, str], UriRewrite]:
    """Destination id of every source unit and the artifact URI rules: from the journal, else
    experiments matched by name and URIs taken as they are."""
    journal = Journal(state_dir)
    try:
        latest = journal.latest(source_uri, destination_uri)
        if latest:
            migration_id = latest["migration_id"]
            rules = journal.options(migration_id).get("artifacts", {}).get("rules")
            mapping = {r.unit_id: r.dest_id for r in journal.units(migration_id)}
            return mapping, UriRewrite.from_json(rules)
    finally:
        journal.close()
    by_name = {u.label: u.source_id for u in destination.units() if u.kind == EXPERIMENT}
    mapping = {}
    for unit in units:
        if unit.kind == EXPERIMENT:
            mapping[unit.unit_id] = by_name.get(unit.label, unit.source_id)
        else:
            mapping[unit.unit_id] = unit.source_id
    return mapping, UriRewrite()


def verify(
    source_uri: str,
    destination_uri: str,
    *,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    artifacts: bool = False,
    s3_endpoint: str | None = None,
) -> VerifyResult:
    """Compare every unit of the source with the destination: counts and digests per table.

    The source's artifact URIs are rewritten by the rules its migration recorded before
    comparing. ``artifacts`` also hashes every artifact object on both sides.
    """
    source = open_store(source_uri)
    destination = open_store(destination_uri)
    referenced: list[tuple[str, str]] = []
    try:
        units = source.units()
        mapping, rewrite = _id_map(source_uri, destination_uri, units, destination, state_dir)
        listener(Event("verify_started", {"units": len(units)}))
        result = VerifyResult()
        for unit in units:
            dest_id = mapping.get(unit.unit_id, unit.source_id)
            try:
                digests = source_digests(source, unit, dest_id, rewrite=rewrite, artifacts=referenced)
                expected = {t: d.as_dict() for t, d in digests.items()}
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
        if artifacts:
            from mlmigrate.artifacts.references import verify_references

            result.artifacts = verify_references(referenced, rewrite, s3_endpoint, listener)
            result.mismatches += result.artifacts["mismatches"]
        return result
    finally:
        source.close()
        destination.close()
