"""Running a migration: plan once, then write units, journal them, verify."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.ledger import Ledger
from mlmigrate.artifacts.phase import check_options
from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.artifacts import ArtifactOptions, rules_for, run_phase
from mlmigrate.engine.events import Event, Listener, ignore
from mlmigrate.engine.journal import DONE, FAILED, PRESENT, SKIPPED, Journal, UnitRecord
from mlmigrate.engine.plan import MERGE, ON_CONFLICT, SKIP, base_shaping, journaled_shapings, plan_units
from mlmigrate.engine.prefetch import prefetch
from mlmigrate.engine.readers import ReaderPool, UnitResult, UnitTask, read_shaped
from mlmigrate.engine.report import Report
from mlmigrate.engine.rerun import pick_up_changes
from mlmigrate.engine.transform import Scope, Shaping
from mlmigrate.engine.verify import BackgroundVerifier, VerifyResult, check_references, compare_unit
from mlmigrate.exceptions import (
    ConflictError,
    MigrationError,
    SourceFormatError,
    TransientStoreError,
    UsageError,
)
from mlmigrate.stores import open_destination, open_source
from mlmigrate.stores.base import (
    BatchStream,
    DestinationStore,
    ExistingObjects,
    Snapshot,
    SourceStore,
    Unit,
    unsupported,
)
from mlmigrate.stores.kinds import canonical
from mlmigrate.tables import EXPERIMENT, GLOBAL
from mlmigrate.uris import mask

ON_ERROR = ("fail", "skip")
RETRIES = 3


class Interrupted(MigrationError):
    """The run was asked to stop (Ctrl-C); committed units stay done."""


class _Run:
    """State of one ``copy`` invocation shared by its worker threads."""

    def __init__(
        self,
        source: SourceStore,
        destination: DestinationStore,
        journal: Journal,
        migration_id: str,
        report: Report,
        listener: Listener,
        on_error: str,
        readers: ReaderPool | None,
        verifier: BackgroundVerifier | None,
        shapings: dict[str, Shaping],
        rewrite: UriRewrite | None = None,
        ledger: Ledger | None = None,
    ):
        self.shapings = shapings
        self.rewrite = rewrite
        self.ledger = ledger
        self.readers = readers
        self.verifier = verifier
        self.source = source
        self.destination = destination
        self.journal = journal
        self.migration_id = migration_id
        self.report = report
        self.listener = listener
        self.on_error = on_error
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started = time.perf_counter()

    def _timed(
        self, unit: Unit, record: UnitRecord, result: UnitResult, attempt_rows: Counter[str]
    ) -> BatchStream:
        """The unit's destination-ready batches, counted (also in ``attempt_rows``) and timed."""
        task = unit_task(record, self.destination, self.report.remapped, self.shapings, self.rewrite)
        if self.readers is not None:
            stream = self.readers.read(task, result)
        else:
            stream = prefetch(read_shaped(self.source, task, result))
        started = time.perf_counter()
        for table, batch in stream:
            if self.stop.is_set():
                raise Interrupted("interrupted")
            yield table, batch
            done = time.perf_counter()
            with self.lock:
                stats = self.report.table(table)
                stats.read += batch.num_rows
                stats.seconds += done - started
                attempt_rows[table] += batch.num_rows
            self.listener(Event("rows", {"table": table, "rows": batch.num_rows}))
            started = done

    def _write_with_retries(self, unit: Unit, record: UnitRecord) -> tuple[dict[str, int], UnitResult]:
        if not holds_unit(self.destination, unit.kind):  # read to report its rows, write nothing
            result = UnitResult()
            for _ in self._timed(unit, record, result, Counter()):
                pass
            return {}, result
        for attempt in range(1, RETRIES + 1):
            result = UnitResult()
            shaping = self.shapings.get(record.unit_id, Shaping())
            rows: Counter[str] = Counter()
            try:
                stream = self._timed(unit, record, result, rows)
                written = self.destination.write_unit(
                    unit, record.dest_id, stream, into_existing=shaping.into_existing
                )
                return written, result
            except TransientStoreError:
                if attempt == RETRIES or self.stop.is_set():
                    self._count(rows, errors=True)
                    raise
                self._count(rows, errors=False)  # read again by the next attempt
                time.sleep(0.5 * 2**attempt)
            except BaseException:
                self._count(rows, errors=True)
                raise
        raise AssertionError("unreachable")

    def _count(self, rows: Counter[str], *, errors: bool) -> None:
        """Rows of a failed attempt: errors of the table when the unit failed for good, else
        taken back from what was read (the next attempt reads them again)."""
        with self.lock:
            for table, count in rows.items():
                stats = self.report.table(table)
                if errors:
                    stats.errors += count
                else:
                    stats.read -= count

    def run_unit(self, record: UnitRecord) -> None:
        """Read, write and journal one unit, retrying transient failures."""
        unit = Unit(record.kind, record.source_id, record.label)
        self.listener(Event("unit_started", {"unit": record.unit_id, "label": record.label}))
        try:
            written, result = self._write_with_retries(unit, record)
        finally:
            if self.readers is not None:
                self.readers.done(record.unit_id)
        shaping = self.shapings.get(record.unit_id, Shaping())
        scope = result.scope if shaping.into_existing else None
        if scope is not None:  # before the unit counts as done: verify needs it after any resume
            self.journal.save_scope(self.migration_id, record.unit_id, scope.as_dict())
        if self.ledger is not None:  # before the unit is done, so a resume still knows them
            self.ledger.add_references(result.artifacts)
        self.journal.mark(
            self.migration_id,
            record.unit_id,
            DONE,
            counts=written,
            digests={t: d.as_dict() for t, d in result.digests.items()},
        )
        if self.verifier is not None and holds_unit(self.destination, record.kind):
            self.verifier.submit(Unit(record.kind, record.dest_id, record.label), scope)
        with self.lock:
            self.report.collapsed.update(result.collapsed)
            self.report.made_finite.update(result.made_finite)
            for reason, tables in result.left_out.items():
                self.report.left_out.setdefault(reason, {})
                for table, rows in tables.items():
                    self.report.left_out[reason][table] = self.report.left_out[reason].get(table, 0) + rows
                    stats = self.report.table(table)
                    stats.read += rows
                    stats.skipped += rows
            if shaping.version_offset and scope is not None:
                self.report.renumbered[record.label] = {
                    str(v - shaping.version_offset): str(v) for v in sorted(scope.versions)
                }
            for table, rows in result.collapsed.items():  # read, and not written: say so per table
                stats = self.report.table(table)
                stats.read += rows
                stats.skipped += rows
            for table, rows in written.items():
                self.report.table(table).written += rows
            self.report.units_done += 1
            self.report.units_this_run += 1
            self.report.timeline.append(
                (round(time.perf_counter() - self.started, 3), self.report.rows_written)
            )
        self.listener(Event("unit_done", {"unit": record.unit_id, "rows": sum(written.values())}))


def holds_unit(destination: DestinationStore, unit_kind: str) -> bool:
    """Whether the destination can hold a unit of this kind at all (a FileStore has no global
    tables: their rows are read, reported and not written)."""
    return unit_kind != GLOBAL or destination.capabilities.tables is None


def unit_task(
    record: UnitRecord,
    destination: DestinationStore,
    remapped: dict[str, str],
    shapings: dict[str, Shaping],
    rewrite: UriRewrite | None = None,
) -> UnitTask:
    """What reading ``record``'s unit for ``destination`` takes (a unit the plan did not shape,
    one a re-run picked up, gets the destination's base shaping)."""
    capabilities = destination.capabilities
    return UnitTask(
        Unit(record.kind, record.source_id, record.label),
        record.dest_id,
        shapings.get(record.unit_id) or base_shaping(destination),
        finite_floats=not capabilities.holds_infinity,
        experiment_ids=tuple(sorted(remapped.items())) if record.kind == GLOBAL else (),
        rewrite=rewrite,
    )


def _workers(destination: DestinationStore, requested: int | None) -> int:
    return max(1, requested) if requested else destination.capabilities.writers


def copy(
    source_uri: str,
    destination_uri: str,
    *,
    on_error: str = "fail",
    on_conflict: str = "fail",
    verify: bool = True,
    workers: int | None = None,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    read_in_processes: bool = True,
    batch_size: int | None = None,
    artifacts: str | None = None,
    artifacts_to: str | None = None,
    rewrite: Sequence[str] = (),
    s3_endpoint: str | None = None,
    artifact_workers: int | None = None,
) -> Report:
    """Copy everything from ``source_uri`` into ``destination_uri``; resume if interrupted before.

    ``read_in_processes`` parses the source in helper processes beside the writer
    (off: in a thread of this process). Every read of a database source sees one
    snapshot, taken when the copy starts (MySQL's is read in this process only).
    ``batch_size`` is how many documents a destination that writes in batches (MongoDB)
    sends at once. ``artifacts_to`` copies the artifacts the source
    references under that root and rewrites their stored URIs to match; ``rewrite``
    (``OLD=NEW`` prefix rules) changes stored URIs only; ``artifacts="keep"`` (the default
    without ``artifacts_to``) leaves artifacts where they are. Returns the report; raises
    :class:`ConflictError` when the destination already holds objects of the
    source (with ``on_conflict="fail"``, the default), and :class:`Interrupted` on Ctrl-C.
    ``on_conflict`` (``fail``, ``skip``, ``merge``, ``rename``) decides what happens to
    experiments, runs and registered models the destination already holds; with ``skip``
    or ``merge`` a finished migration of the same pair is run again as a new import.
    """
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error {on_error!r} is not valid; choose one of: {', '.join(ON_ERROR)}")
    if on_conflict not in ON_CONFLICT:
        raise UsageError(
            f"--on-conflict {on_conflict!r} is not valid; choose one of: {', '.join(ON_CONFLICT)}"
        )
    if canonical(source_uri) == canonical(destination_uri):
        raise UsageError(
            f"{mask(source_uri)} is both the source and the destination; copy never writes its source"
        )
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size {batch_size} is not valid; give a positive number")
    options = ArtifactOptions.make(artifacts, artifacts_to, rewrite, s3_endpoint, artifact_workers)
    started = time.perf_counter()
    report = Report(source_uri, destination_uri)
    verifier: BackgroundVerifier | None = None
    ledger: Ledger | None = None
    journal = Journal(state_dir)
    source = open_source(source_uri)
    try:
        destination = open_destination(destination_uri)
    except BaseException:
        source.close()
        journal.close()
        raise
    if on_conflict == MERGE and not destination.capabilities.merge:
        source.close()
        destination.close()
        journal.close()
        raise unsupported(
            destination.capabilities,
            "merge",
            "merge into what it holds; choose --on-conflict fail, skip or rename",
        )
    if batch_size is not None and destination.capabilities.batched_writes:
        destination.set_batch_size(batch_size)
    worker_count = _workers(destination, workers)
    # started now, so that their start-up overlaps the planning; they get their units later
    readers = ReaderPool(source, source_uri, processes=worker_count) if read_in_processes else None
    schema: Future[Any] | None = None  # the schema being made in an empty destination
    try:
        # one point in time for every read of the source, in this process and in the readers
        pinned = source.capabilities.snapshot is not Snapshot.NONE
        snapshot = source.pin_snapshot() if pinned else None
        if pinned and snapshot is None and readers is not None:
            readers.close()  # a snapshot only this process can read (MySQL)
            readers = None
        previous = journal.latest(source_uri, destination_uri)
        if previous:
            check_options(journal.options(previous["migration_id"]), options.recorded())
        if previous and previous["state"] == DONE and on_conflict in (SKIP, MERGE):
            previous = None  # import again: what is there already is skipped or merged
        elif (
            previous
            and previous["state"] == DONE
            and pick_up_changes(source, destination, journal, previous["migration_id"])
        ):
            previous["state"] = "changed"  # the source gained units or rows: copy them
        if previous and previous["state"] == DONE:
            report.migration_id = previous["migration_id"]
            report.status = "up-to-date"
            report.message = f"migration {previous['migration_id']} already copied everything; nothing to do"
            records = journal.units(previous["migration_id"])
            report.units_total = report.units_done = len(records)
            return report
        if previous:
            migration_id = previous["migration_id"]
            journal.set_state(migration_id, "running")
            listener(Event("message", {"text": f"resuming migration {migration_id}"}))
        else:
            migration_id, schema = _start(
                source, destination, journal, source_uri, destination_uri, report, options, on_conflict
            )
        report.migration_id = migration_id
        rules = UriRewrite.from_json(journal.options(migration_id).get("artifacts", {}).get("rules"))
        if options.to:
            ledger = Ledger(journal.path, migration_id)
        resumed = previous is not None
        records = journal.units(migration_id)
        journaled = journal.options(migration_id)
        shapings = journaled_shapings(journaled)
        report.conflicts = list(journaled.get("resolutions", []))
        report.units_total = len(records)
        report.units_done = sum(r.state in (DONE, PRESENT) for r in records)
        report.remapped = {
            r.source_id: r.dest_id
            for r in records
            if r.kind == EXPERIMENT and r.source_id != r.dest_id and r.state != PRESENT
        }
        if report.remapped:
            report.id_map_file = str(journal.save_id_map(migration_id, report.remapped))
        todo = [r for r in records if r.state not in (DONE, PRESENT) and r.kind != GLOBAL]
        # the global tables point at experiments (and go when one is rewritten): written last,
        # and again whenever another unit is written
        todo += [r for r in records if r.kind == GLOBAL and (todo or r.state != DONE)]
        listener(
            Event(
                "planned",
                {
                    "units": len(records),
                    "todo": len(todo),
                    "remapped": report.remapped,
                    "migration_id": migration_id,
                },
            )
        )
        if readers is not None:
            readers.assign(
                [unit_task(r, destination, report.remapped, shapings, rules) for r in todo], snapshot
            )
        if verify:
            verifier = BackgroundVerifier(destination, in_process=readers is None)
        run = _Run(
            source,
            destination,
            journal,
            migration_id,
            report,
            listener,
            on_error,
            readers,
            verifier,
            shapings,
            rules,
            ledger,
        )
        try:
            if schema is not None:  # made while planning, and the readers are already at work
                schema.result()
            else:
                destination.prepare()
            _execute(run, [r for r in todo if r.kind != GLOBAL], worker_count)
            _execute(run, [r for r in todo if r.kind == GLOBAL], 1)
            if ledger is not None and not report.failed_units:
                report.artifacts = run_phase(ledger, rules, options, listener)
        except KeyboardInterrupt:
            journal.finish(migration_id, "interrupted")
            raise Interrupted(f"interrupted; migration {migration_id} can be resumed") from None
        except MigrationError as exc:
            journal.finish(migration_id, FAILED, report.as_dict())
            exc.migration_id = migration_id
            exc.report = report.as_dict()
            raise
        finally:
            if readers is not None:
                readers.close()
                readers = None
        destination.record_source(  # a backup keeps what it is a backup of
            {
                "source": mask(source_uri),
                "schema_revision": source.schema_revision(),
                "consistent_snapshot": source.capabilities.snapshot is not Snapshot.NONE and not resumed,
            }
        )
        if verifier is not None:
            verifier.drain()
        destination.finish()
        if verify:
            listener(Event("verify_started", {"units": report.units_done}))
            result = verify_written(journal, migration_id, destination, listener, verifier)
            report.verify = result.as_dict()
        report.status = "failed" if report.failed_units else ("partial" if report.skipped_units else DONE)
        if report.verify and not report.verify["ok"]:
            report.status = "verify-mismatch"
        journal.finish(
            migration_id, report.status if report.status != "verify-mismatch" else "failed", report.as_dict()
        )
        return report
    finally:
        if readers is not None:
            readers.close()
        if schema is not None:  # planning may have failed meanwhile: let the making finish first
            wait([schema])
        if verifier is not None:
            verifier.close()
        if ledger is not None:
            ledger.close()
        report.seconds = time.perf_counter() - started
        source.close()
        destination.close()
        journal.close()


def _start(
    source: SourceStore,
    destination: DestinationStore,
    journal: Journal,
    source_uri: str,
    destination_uri: str,
    report: Report,
    options: ArtifactOptions,
    on_conflict: str = "fail",
) -> tuple[str, Future[Any] | None]:
    """Plan ids and clashes and record the new migration; return its id and, for an empty
    destination, the making of its schema, which runs on a thread while planning and reading
    go on (an empty destination holds nothing to plan around)."""
    fresh = destination.is_empty()
    units = source.units()  # a source that cannot be listed leaves the destination untouched
    schema: Future[Any] | None = None
    if fresh:
        making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmigrate-schema")
        schema = making.submit(destination.prepare)
        making.shutdown(wait=False)
        existing = ExistingObjects()
    else:
        destination.prepare()
        existing = destination.existing(run_ids=source.run_ids())
    plan = plan_units(
        units,
        existing,
        max_experiment_id=destination.capabilities.max_experiment_id,
        on_conflict=on_conflict,
        base=base_shaping(destination),
    )
    if plan.clashes and on_conflict == "fail":
        raise ConflictError(
            f"the destination already holds {len(plan.clashes)} object(s) that the source brings; "
            "nothing was copied (choose what to do with them: --on-conflict skip, merge or rename; "
            "`mlmigrate plan SRC DST --on-conflict …` shows what each would do)",
            plan.clashes,
        )
    occupied = {} if fresh else destination.global_rows()
    if occupied:  # never replace what another MLflow put in the destination's global tables
        plan.units = [p for p in plan.units if p.unit.kind != GLOBAL]
        report.notes.append(
            "tables outside experiments and models not copied: the destination already holds rows in "
            + ", ".join(f"{table} ({rows})" for table, rows in sorted(occupied.items()))
        )
    replaced_rows: dict[str, list[dict[str, Any]]] = {}
    for source_id, dest_id in plan.replaced.items():
        report.notes.append(
            f"empty destination experiment {dest_id} replaced by source experiment "
            f"{source_id} of the same name"
        )
        # kept so that a rollback can put the replaced (empty) experiment back as it was
        replaced_rows[dest_id] = [
            row
            for table, batch in destination.read_unit(Unit(EXPERIMENT, dest_id))
            if table == "experiments"
            for row in batch.to_pylist()
        ]
    rules = rules_for(source, units, options)
    migration_id = journal.create(
        source_uri,
        destination_uri,
        [
            (p.unit.unit_id, p.unit.kind, p.unit.source_id, p.dest_id, p.dest_label or p.unit.label)
            for p in plan.units
        ],
        {
            **plan.journal_options(on_conflict),
            "artifacts": {**options.recorded(), "rules": rules.as_json()},
            "replaced_rows": replaced_rows,
        },
    )
    for planned in plan.units:
        if planned.action == SKIP:
            journal.mark(migration_id, planned.unit.unit_id, PRESENT, error="already in the destination")
    return migration_id, schema


def _execute(run: _Run, todo: list[UnitRecord], workers: int) -> None:
    """Run units on a thread pool; stop scheduling on the first hard failure."""
    pending = list(todo)
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlmigrate-unit") as pool:
        running: dict[Future[None], UnitRecord] = {}
        try:
            while pending or running:
                while pending and len(running) < workers and failure is None:
                    record = pending.pop(0)
                    running[pool.submit(run.run_unit, record)] = record
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                if run.verifier is not None:  # after a first unit; from this thread, which
                    run.verifier.start()  # outlives the writers (see BackgroundVerifier.start)
                for future in finished:
                    record = running.pop(future)
                    error = future.exception()
                    if error is None:
                        continue
                    failure = _unit_failed(run, record, error) or failure
        except KeyboardInterrupt:
            run.stop.set()
            for future in running:
                future.cancel()
            wait(running)
            raise
    if failure is not None:
        raise failure


def _unit_failed(run: _Run, record: UnitRecord, error: BaseException) -> BaseException | None:
    """Journal a failed unit; return the error when the whole run must stop."""
    entry = {"unit": record.unit_id, "label": record.label, "error": str(error)}
    if isinstance(error, SourceFormatError) and run.on_error == "skip":
        run.journal.mark(run.migration_id, record.unit_id, SKIPPED, error=str(error))
        run.report.skipped_units.append(entry)
        run.listener(Event("unit_skipped", entry))
        return None
    run.journal.mark(run.migration_id, record.unit_id, FAILED, error=str(error))
    run.report.failed_units.append(entry)
    if isinstance(error, Interrupted):
        return KeyboardInterrupt()
    if isinstance(error, MigrationError):
        return error
    return MigrationError(f"{record.unit_id}: unexpected {type(error).__name__}: {error}").with_traceback(
        error.__traceback__
    )


def verify_written(
    journal: Journal,
    migration_id: str,
    destination: DestinationStore,
    listener: Listener = ignore,
    verifier: BackgroundVerifier | None = None,
) -> VerifyResult:
    """Compare every done unit in the destination with the digests journaled at write time."""
    result = VerifyResult()
    reader = verifier or BackgroundVerifier(destination)
    try:
        scopes = journal.scopes(migration_id)
        for record in journal.units(migration_id):
            if record.state != DONE or not holds_unit(destination, record.kind):
                continue
            scope = Scope.from_dict(scopes[record.unit_id]) if record.unit_id in scopes else None
            actual = reader.digests(Unit(record.kind, record.dest_id, record.label), scope)
            expected = record.digests
            if scope is not None:  # merged: compare only the tables its rows can be told apart in
                expected = {t: d for t, d in expected.items() if Scope.compares(t)}
            ok = compare_unit(result, record.unit_id, expected, actual)
            listener(Event("verify_unit", {"unit": record.unit_id, "ok": ok}))
        check_references(destination, result)
    finally:
        if verifier is None:
            reader.close()
    return result


__all__ = ["Interrupted", "copy", "verify_written"]
