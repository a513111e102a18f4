"""Running a migration: plan once, then write units, journal them, verify."""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from mlmigrate.engine.events import Event, Listener, ignore
from mlmigrate.engine.journal import DONE, FAILED, SKIPPED, Journal, UnitRecord
from mlmigrate.engine.plan import plan_units
from mlmigrate.engine.prefetch import prefetch
from mlmigrate.engine.readers import ReaderPool, UnitResult, UnitTask, read_shaped
from mlmigrate.engine.report import Report
from mlmigrate.engine.rerun import pick_up_changes
from mlmigrate.engine.verify import BackgroundVerifier, VerifyResult, compare_unit
from mlmigrate.exceptions import (
    ConflictError,
    MigrationError,
    SourceFormatError,
    TransientStoreError,
    UsageError,
)
from mlmigrate.stores import open_store
from mlmigrate.stores.base import BatchStream, Unit
from mlmigrate.tables import GLOBAL

ON_ERROR = ("fail", "skip")
RETRIES = 3


class Interrupted(MigrationError):
    """The run was asked to stop (Ctrl-C); committed units stay done."""


class _Run:
    """State of one ``copy`` invocation shared by its worker threads."""

    def __init__(
        self,
        source: Any,
        destination: Any,
        journal: Journal,
        migration_id: str,
        report: Report,
        listener: Listener,
        on_error: str,
        readers: ReaderPool | None,
        verifier: BackgroundVerifier | None,
    ):
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

    def _timed(self, unit: Unit, record: UnitRecord, result: UnitResult) -> BatchStream:
        """The unit's destination-ready batches, counted and timed as they pass."""
        task = unit_task(record, self.destination, self.report.remapped)
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
            self.listener(Event("rows", {"table": table, "rows": batch.num_rows}))
            started = done

    def _write_with_retries(self, unit: Unit, record: UnitRecord) -> tuple[dict[str, int], UnitResult]:
        if not holds_unit(self.destination, unit.kind):  # read to report its rows, write nothing
            result = UnitResult()
            for _ in self._timed(unit, record, result):
                pass
            return {}, result
        for attempt in range(1, RETRIES + 1):
            result = UnitResult()
            try:
                written = self.destination.write_unit(unit, record.dest_id, self._timed(unit, record, result))
                return written, result
            except TransientStoreError:
                if attempt == RETRIES or self.stop.is_set():
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def run_unit(self, record: UnitRecord) -> None:
        """Read, write and journal one unit, retrying transient failures."""
        unit = Unit(record.kind, record.source_id, record.label)
        self.listener(Event("unit_started", {"unit": record.unit_id, "label": record.label}))
        try:
            written, result = self._write_with_retries(unit, record)
        finally:
            if self.readers is not None:
                self.readers.done(record.unit_id)
        self.journal.mark(
            self.migration_id,
            record.unit_id,
            DONE,
            counts=written,
            digests={t: d.as_dict() for t, d in result.digests.items()},
        )
        if self.verifier is not None and holds_unit(self.destination, record.kind):
            self.verifier.submit(Unit(record.kind, record.dest_id, record.label))
        with self.lock:
            self.report.collapsed.update(result.collapsed)
            self.report.not_held.update(result.not_held)
            for table, rows in result.not_held.items():
                stats = self.report.table(table)
                stats.read += rows
                stats.skipped += rows
            self.report.made_finite.update(result.made_finite)
            for table, rows in result.collapsed.items():  # read, and not written: say so per table
                stats = self.report.table(table)
                stats.read += rows
                stats.skipped += rows
            for table, rows in written.items():
                self.report.table(table).written += rows
            self.report.units_done += 1
            self.report.units_this_run += 1
        self.listener(Event("unit_done", {"unit": record.unit_id, "rows": sum(written.values())}))


def holds_unit(destination: Any, unit_kind: str) -> bool:
    """Whether the destination can hold a unit of this kind at all (a FileStore has no global
    tables: their rows are read, reported and not written)."""
    return unit_kind != GLOBAL or destination.capabilities.tables is None


def unit_task(record: UnitRecord, destination: Any, remapped: dict[str, str]) -> UnitTask:
    """What reading ``record``'s unit for ``destination`` takes."""
    capabilities = destination.capabilities
    return UnitTask(
        Unit(record.kind, record.source_id, record.label),
        record.dest_id,
        finite_floats=not capabilities.holds_infinity,
        held=capabilities.tables,
        experiment_ids=tuple(sorted(remapped.items())) if record.kind == GLOBAL else (),
    )


def _workers(destination: Any, requested: int | None) -> int:
    return max(1, requested) if requested else destination.capabilities.writers


def copy(
    source_uri: str,
    destination_uri: str,
    *,
    on_error: str = "fail",
    verify: bool = True,
    workers: int | None = None,
    state_dir: Path | None = None,
    listener: Listener = ignore,
    read_in_processes: bool = True,
) -> Report:
    """Copy everything from ``source_uri`` into ``destination_uri``; resume if interrupted before.

    ``read_in_processes`` parses the source in helper processes beside the writer
    (off: in a thread of this process). Every read of a database source sees one
    snapshot, taken when the copy starts (MySQL's is read in this process only). Returns the report; raises
    :class:`ConflictError` when the destination already holds objects of the
    source, and :class:`Interrupted` on Ctrl-C.
    """
    if on_error not in ON_ERROR:
        raise UsageError(f"--on-error {on_error!r} is not valid; choose one of: {', '.join(ON_ERROR)}")
    started = time.perf_counter()
    report = Report(source_uri, destination_uri)
    verifier: BackgroundVerifier | None = None
    journal = Journal(state_dir)
    source = open_store(source_uri)
    destination = open_store(destination_uri)
    if not destination.capabilities.writable:
        raise UsageError(f"{destination_uri} cannot be written to (a {type(destination).__name__})")
    try:
        # one point in time for every read of the source, in this process and in the readers
        snapshot = source.pin_snapshot() if hasattr(source, "pin_snapshot") else None
        if hasattr(source, "pin_snapshot") and snapshot is None:
            read_in_processes = False  # a snapshot only this process can read (MySQL)
        previous = journal.latest(source_uri, destination_uri)
        if previous and previous["state"] == DONE and pick_up_changes(
            source, destination, journal, previous["migration_id"]
        ):
            previous["state"] = "changed"  # the source gained units or rows: copy them
        if previous and previous["state"] == DONE:
            report.migration_id = previous["migration_id"]
            report.status = "up-to-date"
            report.message = f"migration {previous['migration_id']} already copied everything; nothing to do"
            records = journal.units(previous["migration_id"])
            report.units_total = report.units_done = len(records)
            return report
        needs_schema = True
        if previous:
            migration_id = previous["migration_id"]
            journal.set_state(migration_id, "running")
            listener(Event("message", {"text": f"resuming migration {migration_id}"}))
        else:
            migration_id, needs_schema = _start(
                source, destination, journal, source_uri, destination_uri, report
            )
        report.migration_id = migration_id
        records = journal.units(migration_id)
        report.units_total = len(records)
        report.units_done = sum(r.state == DONE for r in records)
        report.remapped = {r.source_id: r.dest_id for r in records if r.source_id != r.dest_id}
        if report.remapped:
            report.id_map_file = str(journal.save_id_map(migration_id, report.remapped))
        todo = [r for r in records if r.state != DONE and r.kind != GLOBAL]
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
        worker_count = _workers(destination, workers)
        readers = None
        if read_in_processes and todo:
            tasks = [unit_task(r, destination, report.remapped) for r in todo]
            readers = ReaderPool(source, source_uri, tasks, processes=worker_count, snapshot=snapshot)
        if verify:
            verifier = BackgroundVerifier(destination)
        run = _Run(source, destination, journal, migration_id, report, listener, on_error, readers, verifier)
        try:
            if needs_schema:  # the readers are already at work meanwhile
                destination.prepare()
            _execute(run, [r for r in todo if r.kind != GLOBAL], worker_count)
            _execute(run, [r for r in todo if r.kind == GLOBAL], 1)
        except KeyboardInterrupt:
            journal.finish(migration_id, "interrupted")
            raise Interrupted(f"interrupted; migration {migration_id} can be resumed") from None
        except MigrationError as exc:
            journal.finish(migration_id, FAILED, report.as_dict())
            exc.migration_id = migration_id
            raise
        finally:
            if readers is not None:
                readers.close()
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
        if verifier is not None:
            verifier.close()
        report.seconds = time.perf_counter() - started
        source.close()
        destination.close()
        journal.close()


def _start(
    source: Any, destination: Any, journal: Journal, source_uri: str, destination_uri: str, report: Report
) -> tuple[str, bool]:
    """Plan ids and clashes and record the new migration; return its id and whether the
    destination still needs its schema (an empty database: it can be made while reading starts)."""
    fresh = destination.is_empty()
    if not fresh:
        destination.prepare()
    units = source.units()
    run_ids = source.run_ids() if hasattr(source, "run_ids") else []
    existing = destination.existing(run_ids=run_ids)
    plan = plan_units(units, existing, max_experiment_id=destination.capabilities.max_experiment_id)
    if plan.clashes:
        raise ConflictError(
            f"the destination already holds {len(plan.clashes)} object(s) that the source brings; "
            "nothing was copied (merge policies come with --on-conflict in a later release)",
            plan.clashes,
        )
    occupied = destination.global_rows() if hasattr(destination, "global_rows") and not fresh else {}
    if occupied:  # never replace what another MLflow put in the destination's global tables
        plan.units = [p for p in plan.units if p.unit.kind != GLOBAL]
        report.notes.append(
            "tables outside experiments and models not copied: the destination already holds rows in "
            + ", ".join(f"{table} ({rows})" for table, rows in sorted(occupied.items()))
        )
    for source_id, dest_id in plan.replaced.items():
        report.notes.append(
            f"empty destination experiment {dest_id} replaced by source experiment "
            f"{source_id} of the same name"
        )
    migration_id = journal.create(
        source_uri,
        destination_uri,
        [(p.unit.unit_id, p.unit.kind, p.unit.source_id, p.dest_id, p.unit.label) for p in plan.units],
        {"remapped": plan.remapped},
    )
    return migration_id, fresh


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
    destination: Any,
    listener: Listener = ignore,
    verifier: BackgroundVerifier | None = None,
) -> VerifyResult:
    """Compare every done unit in the destination with the digests journaled at write time."""
    result = VerifyResult()
    reader = verifier or BackgroundVerifier(destination)
    try:
        for record in journal.units(migration_id):
            if record.state != DONE or not holds_unit(destination, record.kind):
                continue
            actual = reader.digests(Unit(record.kind, record.dest_id, record.label))
            ok = compare_unit(result, record.unit_id, record.digests, actual)
            listener(Event("verify_unit", {"unit": record.unit_id, "ok": ok}))
    finally:
        if verifier is None:
            reader.close()
    return result


__all__ = ["Interrupted", "copy", "verify_written"]
