"""Looking without writing: ``plan`` (what a copy would do) and ``verify`` (do two stores agree)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.rewrite import UriRewrite, references
from mlmigrate.engine.families import TABLE, family_named, table_of, translation
from mlmigrate.engine.foresee import foresee
from mlmigrate.engine.held_files import compare_held_files
from mlmigrate.engine.held_references import held
from mlmigrate.engine.journal import FAILED, PRESENT, SKIPPED, Journal
from mlmigrate.engine.plan import (
    MERGE,
    base_shaping,
    describe_source_clashes,
    destination_holds,
    journaled_shapings,
    plan_for,
)
from mlmigrate.engine.revisions import refuse_unknown_source
from mlmigrate.engine.subset import Selection
from mlmigrate.engine.transform import Scope, Shaping
from mlmigrate.engine.units import holds_unit
from mlmigrate.engine.verify import (
    VerifyResult,
    check_references,
    compare_unit,
    digest_stream,
    name_differences,
    scoped,
    shaped_source,
    source_digests,
)
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import MigrationError, SourceFormatError
from mlmigrate.references import EXPERIMENT_ID, ReferenceCheck
from mlmigrate.stores import open_source, open_store
from mlmigrate.stores.base import Capabilities, DestinationStore, Unit, unsupported
from mlmigrate.stores.kinds import check_destination, check_source
from mlmigrate.tables import EXPERIMENT, REGISTERED_MODEL
from mlmigrate.uris import mask


def change_detection(capabilities: Capabilities) -> str:
    """How ``sync`` finds what changed in a source of these capabilities, in words."""
    if capabilities.watermarks:
        return f"watermarks: {capabilities.watermark_kind}"
    return (
        f"digests: {capabilities.kind} has no usable watermark, so each sync pass reads every unit "
        "of it (a pass costs about a copy)"
    )


def plan(
    source_uri: str,
    destination_uri: str | None = None,
    *,
    on_conflict: str = "fail",
    listener: Listener = ignore,
    s3_endpoint: str | None = None,
    experiments: Sequence[str] = (),
    models: Sequence[str] = (),
) -> dict[str, Any]:
    """Read the whole source and say what a copy would write (rows per table; artifact objects
    and bytes per kind); nothing is written anywhere. ``experiments`` (names or ids) and
    ``models`` (names) limit it to that subset, as they limit a copy.

    With a destination: the experiment id map, every clash with what it holds and what
    ``on_conflict`` would do with each (``resolutions``), the tables it cannot hold, every
    row it would refuse (``refusals``: unit, run and reason) and the rows its keys would hold
    once (``collapsed_duplicates``, ``merged_by_key``), as :func:`foresee` finds them.
    """
    from mlmigrate.artifacts.references import survey_references

    if destination_uri:  # refused before the whole source is read
        check_destination(destination_uri)
    if destination_uri and on_conflict == MERGE:
        probe = open_store(destination_uri)
        capabilities = probe.capabilities
        probe.close()
        if not capabilities.merge:
            raise unsupported(
                capabilities, "merge", "merge into what it holds; choose --on-conflict fail, skip or rename"
            )
    source = open_source(source_uri)
    try:
        refuse_unknown_source(source, source_uri)
        if destination_uri:  # a pair of two families is planned as the copy reads it
            probe = open_store(destination_uri, family=source.capabilities.family)
            joined = translation(source.capabilities.family, probe.capabilities.family)
            probe.close()
            if joined is not None:
                source = joined.wrap(source)
    except MigrationError:
        source.close()
        raise
    counts: Counter[str] = Counter()
    problems: list[dict[str, str]] = []
    artifacts: list[tuple[str, str]] = []
    try:
        units = Selection.make(experiments, models).pick(source.units())
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
                "registered_models": sum(u.kind == REGISTERED_MODEL for u in units),
            },
            "tables_copied": len({table_of(u) for u in units if u.kind == TABLE}),
            "units_in_words": family_named(source.capabilities.family).describe_units(units),
            "tables": dict(counts),
            "total_rows": sum(counts.values()),
            "problems": problems,
            "source_findings": source.findings(),
            "change_detection": change_detection(source.capabilities),
        }
        run_ids = source.run_ids()
        result["source_clashes"] = describe_source_clashes(units, run_ids)
        result["artifacts"], artifact_problems = survey_references(artifacts, s3_endpoint)
        problems += [{"unit": "artifacts", "label": "", "error": text} for text in artifact_problems]
        if destination_uri:
            destination = open_store(destination_uri, family=source.capabilities.family)
            try:
                existing = destination_holds(destination, units, run_ids)
                planned = plan_for(
                    family_named(destination.capabilities.family),
                    units,
                    existing,
                    destination,
                    on_conflict=on_conflict,
                    source_run_ids=run_ids,
                )
                held = destination.capabilities.tables
                result.update(
                    {
                        "destination": mask(destination_uri),
                        "on_conflict": on_conflict,
                        **planned.as_dict(),
                        "not_held": {t: n for t, n in counts.items() if held is not None and t not in held},
                        **foresee(source, destination, planned.units, planned.remapped).as_dict(),
                    }
                )
            finally:
                destination.close()
        return result
    finally:
        source.close()


@dataclass
class _Written:
    """What the journal knows of how the source was written into the destination."""

    dest_ids: dict[str, str] = field(default_factory=dict)
    shapings: dict[str, Shaping] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)
    rewrite: UriRewrite = field(default_factory=lambda: UriRewrite())
    #: the subset the migration was limited to (empty: the whole source)
    selection: Selection = field(default_factory=Selection)
    #: units skipped or failed, or runs rejected: the migration left part of the source out
    partial: bool = False

    @property
    def left_out(self) -> bool:
        """Whether the migration left part of the source out on purpose (or by a subset)."""
        return self.partial or bool(self.selection)


def _written(
    source_uri: str,
    destination_uri: str,
    units: list[Unit],
    destination: DestinationStore,
    state_dir: Path | None,
) -> _Written:
    """Destination id, shaping and scope of every source unit and the artifact URI rules: from
    the journal, else experiments matched by name and URIs taken as they are."""
    journal = Journal(state_dir)
    try:
        latest = journal.latest(source_uri, destination_uri)
        if latest:
            migration_id = latest["migration_id"]
            records = journal.units(migration_id)
            options = journal.options(migration_id)
            return _Written(
                dest_ids={r.unit_id: r.dest_id for r in records},
                shapings=journaled_shapings(options),
                scopes={
                    unit_id: Scope.from_dict(data) for unit_id, data in journal.scopes(migration_id).items()
                },
                present={r.unit_id for r in records if r.state == PRESENT},
                rewrite=UriRewrite.from_json(options.get("artifacts", {}).get("rules")),
                selection=Selection.from_recorded(options.get("subset")),
                partial=any(r.state in (SKIPPED, FAILED) for r in records)
                or any(shaping.rejected_runs for shaping in journaled_shapings(options).values()),
            )
    finally:
        journal.close()
    by_name = {u.label: u.source_id for u in destination.units() if u.kind == EXPERIMENT}
    written = _Written()
    for unit in units:
        if unit.kind == EXPERIMENT:
            written.dest_ids[unit.unit_id] = by_name.get(unit.label, unit.source_id)
        else:
            written.dest_ids[unit.unit_id] = unit.source_id
    return written


def verify(
    source_uri: str,
    destination_uri: str,
    *,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    artifacts: bool = False,
    s3_endpoint: str | None = None,
) -> VerifyResult:
    """Compare every unit of the source with the destination: counts and digests per table
    (of the subset the pair's migration was limited to, if it was).

    The source's artifact URIs are rewritten by the rules its migration recorded before
    comparing. ``artifacts`` also hashes every artifact object on both sides.
    """
    source = open_source(source_uri)
    try:
        refuse_unknown_source(source, source_uri)  # what it holds beyond this version goes unseen
        check_source(destination_uri)  # a missing SQLite file is not created to be compared
        destination = open_store(destination_uri, family=source.capabilities.family)
        # a pair of two families is compared as the copy wrote it: the source read through the
        # registered translation (a registry as MLflow's registry)
        joined = translation(source.capabilities.family, destination.capabilities.family)
        if joined is not None:
            source = joined.wrap(source)
    except MigrationError:
        source.close()
        raise
    referenced: list[tuple[str, str]] = []
    try:
        units = source.units()
        written = _written(source_uri, destination_uri, units, destination, state_dir)
        units = [unit for unit in units if written.selection.keeps(unit)]
        base = base_shaping(destination)
        # the order of histories is data only where both stores keep it (FileStore to FileStore)
        ordered = source.capabilities.ordered_histories and destination.capabilities.ordered_histories
        listener(Event("verify_started", {"units": len(units)}))
        result = VerifyResult()
        values, expected_values = ReferenceCheck(), ReferenceCheck()
        experiment_ids = {
            u.source_id: written.dest_ids[u.unit_id]
            for u in units
            if u.kind == EXPERIMENT and written.dest_ids.get(u.unit_id, u.source_id) != u.source_id
        }
        compared: list[tuple[Unit, Unit]] = []
        for unit in units:
            if unit.unit_id in written.present:  # left alone by --on-conflict skip
                continue
            if not holds_unit(destination, unit.kind):
                continue
            dest_id = written.dest_ids.get(unit.unit_id, unit.source_id)
            compared.append((unit, Unit(unit.kind, dest_id, unit.label)))
            shaping = written.shapings.get(unit.unit_id, base)
            scope = written.scopes.get(unit.unit_id)
            try:
                digests = source_digests(
                    source,
                    unit,
                    dest_id,
                    shaping,
                    finite_floats=not destination.capabilities.holds_infinity,
                    experiment_ids=experiment_ids,
                    rewrite=written.rewrite,
                    artifacts=referenced,
                    values=expected_values,
                    ordered=ordered and scope is None,
                )
                expected = {t: d.as_dict() for t, d in digests.items() if scope is None or Scope.compares(t)}
            except SourceFormatError as exc:
                result.mismatches.append({"unit": unit.unit_id, "table": "*", "problem": str(exc)})
                continue
            try:
                stream = values.watch(
                    unit.unit_id, destination.read_unit(Unit(unit.kind, dest_id, unit.label))
                )
                actual = digest_stream(
                    stream if scope is None else scoped(stream, scope), ordered=ordered and scope is None
                )
            except MigrationError as exc:
                result.mismatches.append({"unit": unit.unit_id, "table": "*", "problem": str(exc)})
                continue
            ok = compare_unit(result, unit.unit_id, expected, actual)
            if not ok:  # read both sides again to name the runs, keys and steps that differ
                again = destination.read_unit(Unit(unit.kind, dest_id, unit.label))
                name_differences(
                    result,
                    unit.unit_id,
                    shaped_source(
                        source,
                        unit,
                        dest_id,
                        shaping,
                        finite_floats=not destination.capabilities.holds_infinity,
                        experiment_ids=experiment_ids,
                        rewrite=written.rewrite,
                    ),
                    again if scope is None else scoped(again, scope),
                )
            listener(Event("verify_unit", {"unit": unit.unit_id, "ok": ok}))
        check_references(destination, result)
        targets = values.targets()
        there = held(destination, targets)
        source_experiments = {u.source_id for u in units if u.kind == EXPERIMENT}
        known: dict[str, set[str] | None] = {EXPERIMENT_ID: source_experiments | set(experiment_ids.values())}
        if values.missing(there)[0]:  # only then list the source's runs and models (a whole listing)
            known.update(held(source, targets - {EXPERIMENT_ID}))
        problems, result.dangling_in_source = values.missing(there, source=expected_values, known=known)
        if written.left_out:  # what points at the part the migration left out is said, not a mismatch
            result.dangling_left_out += problems
        else:
            result.mismatches += problems
        if artifacts:
            from mlmigrate.artifacts.references import verify_references

            result.artifacts = verify_references(referenced, written.rewrite, s3_endpoint, listener)
            result.mismatches += result.artifacts["mismatches"]
        files = compare_held_files(source, destination, compared)
        if files is not None:  # a registry's model files, at both ends
            result.artifacts = files
            result.mismatches += files["mismatches"]
        return result
    finally:
        source.close()
        destination.close()
