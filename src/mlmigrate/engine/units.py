"""Running a migration's units: each one read, shaped, written in one transaction, journaled
after its commit, retried on transient failures, on a pool of writer threads (or, through
its :class:`~mlmigrate.executors.base.Executor`, on the workers of a cluster)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from mlmigrate import references
from mlmigrate.artifacts.ledger import Ledger
from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.journal import DONE, FAILED, SKIPPED, Journal, UnitRecord
from mlmigrate.engine.plan import base_shaping
from mlmigrate.engine.prefetch import prefetch
from mlmigrate.engine.readers import ReaderPool, UnitResult, UnitTask, read_shaped
from mlmigrate.engine.report import Report
from mlmigrate.engine.retry import RetryPolicy
from mlmigrate.engine.transform import Scope, Shaping
from mlmigrate.engine.verify import BackgroundVerifier
from mlmigrate.events import Event, Listener
from mlmigrate.exceptions import (
    ConflictError,
    Interrupted,
    MigrationError,
    SourceFormatError,
    TransientStoreError,
)
from mlmigrate.executors.base import LOCAL_PLACE, Executor, LocalExecutor, Place
from mlmigrate.stores.base import BatchStream, DestinationStore, GroupWriter, SourceStore, Unit
from mlmigrate.tables import EXPERIMENT, GLOBAL


class GroupFailed(Exception):
    """A group of units failed as a whole, not transiently: its units are run one by one."""


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
    *,
    source: SourceStore | None = None,
) -> UnitTask:
    """What reading ``record``'s unit (of ``source``) for ``destination`` takes (a unit the plan
    did not shape, one a re-run picked up, gets the destination's base shaping)."""
    capabilities = destination.capabilities
    return UnitTask(
        Unit(record.kind, record.source_id, record.label),
        record.dest_id,
        shapings.get(record.unit_id) or base_shaping(destination),
        finite_floats=not capabilities.holds_infinity,
        check_lengths=capabilities.enforces_lengths,
        refuse_nul=not capabilities.holds_nul,
        experiment_ids=tuple(sorted(remapped.items())) if record.kind in references.UNIT_KINDS else (),
        rewrite=rewrite,
        ordered_histories=source is not None
        and source.capabilities.ordered_histories
        and capabilities.ordered_histories,
    )


class UnitRunner:
    """Writes the units of one migration, shared by its writer threads."""

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
        retry: RetryPolicy | None = None,
        executor: Executor | None = None,
    ):
        self.retry = retry or RetryPolicy()
        self.executor = executor or LocalExecutor()
        #: how often a unit whose source file was malformed is read again before that counts (a
        #: ``sync`` of a FileStore MLflow writes: its files are rewritten in place)
        self.torn_reads = 0
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

    def _jobs(self, todo: list[UnitRecord]) -> list[list[UnitRecord]]:
        """``todo`` in the groups the destination writes in one transaction (one unit each
        where it writes one at a time, or a unit is merged into what the destination holds)."""
        size = self.destination.capabilities.group_units
        local = isinstance(self.executor, LocalExecutor)  # a cluster's workers write one unit each
        if size <= 1 or not local or not isinstance(self.destination, GroupWriter):
            return [[record] for record in todo]
        jobs: list[list[UnitRecord]] = []
        group: list[UnitRecord] = []
        for record in todo:
            shaping = self.shapings.get(record.unit_id, Shaping())
            if shaping.into_existing or not holds_unit(self.destination, record.kind):
                jobs.append([record])
                continue
            group.append(record)
            if len(group) == size:
                jobs.append(group)
                group = []
        return jobs + ([group] if group else [])

    def execute(self, todo: list[UnitRecord], workers: int) -> None:
        """Run ``todo`` with ``workers`` units (or groups of units the destination writes in one
        transaction) in flight (the executor's: writer threads here, or the threads waiting on a
        cluster's tasks); stop scheduling on the first hard failure. A group that fails is run
        again unit by unit, so that what failed is the unit it belongs to (``--on-error skip``
        leaves out that unit alone)."""
        pending = self._jobs(todo)
        failure: BaseException | None = None
        slots = self.executor.slots(workers)
        run = self.executor.unit_function(self)
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="mlmigrate-unit") as pool:
            running: dict[Future[None], list[UnitRecord]] = {}
            try:
                while pending or running:
                    while pending and len(running) < slots and failure is None:
                        job = pending.pop(0)
                        future = (
                            pool.submit(self.run_group, job) if len(job) > 1 else pool.submit(run, job[0])
                        )
                        running[future] = job
                    if not running:
                        break
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    if self.verifier is not None:  # after a first unit; from this thread, which
                        self.verifier.start()  # outlives the writers (see BackgroundVerifier.start)
                    for future in finished:
                        job = running.pop(future)
                        error = future.exception()
                        if error is None:
                            continue
                        if isinstance(error, GroupFailed):
                            pending[:0] = [[record] for record in job]
                            continue
                        failure = self._unit_failed(job[0], error) or failure
            except KeyboardInterrupt:
                self.stop.set()
                for future in running:
                    future.cancel()
                wait(running)
                raise
        if failure is not None:
            raise failure

    def _unit_failed(self, record: UnitRecord, error: BaseException) -> BaseException | None:
        """Journal a failed unit; return the error when the whole run must stop."""
        entry = {"unit": record.unit_id, "label": record.label, "error": str(error)}
        if isinstance(error, SourceFormatError | ConflictError) and self.on_error == "skip":
            # a malformed source unit, or one the destination refuses (RefusedError, a key
            # held elsewhere): left out with its reason, the other units go on
            self.journal.mark(self.migration_id, record.unit_id, SKIPPED, error=str(error))
            self.report.rejects_file = str(self.journal.add_reject(self.migration_id, entry))
            self.report.skipped_units.append(entry)
            self.listener(Event("unit_skipped", entry))
            return None
        self.journal.mark(self.migration_id, record.unit_id, FAILED, error=str(error))
        self.report.failed_units.append(entry)
        if isinstance(error, Interrupted):
            return KeyboardInterrupt()
        if isinstance(error, MigrationError):
            return error
        return MigrationError(f"{record.unit_id}: unexpected {type(error).__name__}: {error}").with_traceback(
            error.__traceback__
        )

    def _timed(
        self, unit: Unit, record: UnitRecord, result: UnitResult, attempt_rows: Counter[str]
    ) -> BatchStream:
        """The unit's destination-ready batches, counted (also in ``attempt_rows``) and timed."""
        task = unit_task(
            record, self.destination, self.report.remapped, self.shapings, self.rewrite, source=self.source
        )
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
        shaping = self.shapings.get(record.unit_id, Shaping())
        rows: Counter[str] = Counter()  # of the current attempt

        def attempt() -> tuple[dict[str, int], UnitResult]:
            rows.clear()
            result = UnitResult()
            stream = self._timed(unit, record, result, rows)
            written = self.destination.write_unit(
                unit, record.dest_id, stream, into_existing=shaping.into_existing
            )
            return written, result

        def retrying(number: int, pause: float, error: TransientStoreError) -> None:
            self._count(rows, errors=False)  # read again by the next attempt
            text = f"{record.label}: retrying in {pause:g} s (attempt {number + 1}) after: {error}"
            self.listener(Event("message", {"text": text, "unit": record.unit_id, "attempt": number}))

        torn = 0
        while True:
            try:
                return self.retry.run(attempt, stop=self.stop, on_retry=retrying)
            except SourceFormatError as error:
                if torn < self.torn_reads:  # a file caught half-written by a live writer: read again
                    torn += 1
                    self._count(rows, errors=False)
                    time.sleep(0.1 * torn)
                    continue
                if not self._rejectable(record, error):
                    self._count(rows, errors=True)
                    raise
                self._count(rows, errors=False)  # the unit is read again without the run
                self._reject(record, error)
            except BaseException:
                self._count(rows, errors=True)
                raise

    def reject_run(self, record: UnitRecord, error: SourceFormatError) -> bool:
        """Leave the malformed run of ``error`` out of its unit when ``--on-error skip`` allows
        (True: read the unit again), as the local retry loop does."""
        if not self._rejectable(record, error):
            return False
        self._reject(record, error)
        return True

    def add_read(self, rows: dict[str, int], seconds: float) -> None:
        """Count rows a worker elsewhere read (and its time) into the report and the progress."""
        total = sum(rows.values()) or 1
        with self.lock:
            for table, count in rows.items():
                stats = self.report.table(table)
                stats.read += count
                stats.seconds += seconds * count / total
        for table, count in rows.items():
            self.listener(Event("rows", {"table": table, "rows": count}))

    def _rejectable(self, record: UnitRecord, error: SourceFormatError) -> bool:
        """Whether ``--on-error skip`` can leave out only the run the error belongs to."""
        if self.on_error != "skip" or error.run_id is None or record.kind != EXPERIMENT:
            return False
        current = self.shapings.get(record.unit_id)
        return current is None or error.run_id not in current.rejected_runs

    def _reject(self, record: UnitRecord, error: SourceFormatError) -> None:
        """Leave a malformed run out of its unit, in the journal, the report and the rejects file."""
        assert error.run_id is not None
        current = self.shapings.get(record.unit_id) or base_shaping(self.destination)
        shaping = current.rejecting(error.run_id)
        self.shapings[record.unit_id] = shaping
        entry = {"unit": record.unit_id, "label": record.label, "run": error.run_id, "error": str(error)}
        path = self.journal.reject_run(self.migration_id, record.unit_id, shaping.as_dict(), entry)
        with self.lock:
            self.report.rejected_runs.append(entry)
            self.report.rejects_file = str(path)
        owner = "logged model" if error.run_id.startswith("m-") else "run"  # MLflow's model ids: m-<hex>
        text = f"{record.label}: {owner} {error.run_id} left out (--on-error skip): {error}"
        self.listener(Event("message", {"text": text, **entry}))

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

    def _write_group(self, records: list[UnitRecord]) -> list[tuple[UnitRecord, dict[str, int], UnitResult]]:
        """Write ``records``' units in one transaction, retrying transient failures; any other
        failure is a :class:`GroupFailed` (its units are then run one by one)."""
        writer = self.destination
        assert isinstance(writer, GroupWriter)
        rows: Counter[str] = Counter()  # of the current attempt

        def attempt() -> list[tuple[UnitRecord, dict[str, int], UnitResult]]:
            rows.clear()
            results = [UnitResult() for _ in records]
            items = []
            for record, result in zip(records, results, strict=True):
                unit = Unit(record.kind, record.source_id, record.label)
                items.append((unit, record.dest_id, self._timed(unit, record, result, rows)))
            written = writer.write_units(items)
            return list(zip(records, written, results, strict=True))

        def retrying(number: int, pause: float, error: TransientStoreError) -> None:
            self._count(rows, errors=False)  # read again by the next attempt
            text = f"{len(records)} units from {records[0].label}: retrying in {pause:g} s after: {error}"
            self.listener(Event("message", {"text": text, "unit": records[0].unit_id, "attempt": number}))

        try:
            return self.retry.run(attempt, stop=self.stop, on_retry=retrying)
        except (Interrupted, KeyboardInterrupt, TransientStoreError):
            # stopped, or the store stayed unreachable for the whole retry window: one by one,
            # each unit would wait that window again
            self._count(rows, errors=True)
            raise
        except Exception as error:
            self._count(rows, errors=False)  # read again, unit by unit
            raise GroupFailed(str(error)) from error

    def run_group(self, records: list[UnitRecord]) -> None:
        """Read, write (one transaction) and journal (one transaction, after the commit) a group
        of units."""
        for record in records:
            self.listener(Event("unit_started", {"unit": record.unit_id, "label": record.label}))
        started = time.perf_counter()
        try:
            finished = self._write_group(records)
        finally:
            if self.readers is not None:
                for record in records:
                    self.readers.done(record.unit_id)
        self.finish_group(finished, LOCAL_PLACE.timed(time.perf_counter() - started))

    def run_unit(self, record: UnitRecord) -> None:
        """Read, write and journal one unit in this process, retrying transient failures."""
        unit = Unit(record.kind, record.source_id, record.label)
        self.listener(Event("unit_started", {"unit": record.unit_id, "label": record.label}))
        started = time.perf_counter()
        try:
            written, result = self._write_with_retries(unit, record)
        finally:
            if self.readers is not None:
                self.readers.done(record.unit_id)
        self.finish_unit(record, written, result, LOCAL_PLACE.timed(time.perf_counter() - started))

    def task_for(self, record: UnitRecord) -> UnitTask:
        """What reading ``record``'s unit takes (for an executor that reads it elsewhere)."""
        return unit_task(
            record, self.destination, self.report.remapped, self.shapings, self.rewrite, source=self.source
        )

    def _before_done(self, record: UnitRecord, result: UnitResult) -> Scope | None:
        """What is journaled before a committed unit counts as done; its scope (merged units)."""
        shaping = self.shapings.get(record.unit_id, Shaping())
        scope = result.scope if shaping.into_existing else None
        if scope is not None:  # before the unit counts as done: verify needs it after any resume
            self.journal.save_scope(self.migration_id, record.unit_id, scope.as_dict())
        if self.ledger is not None:  # before the unit is done, so a resume still knows them
            self.ledger.add_references(result.artifacts)
        return scope

    def finish_group(
        self, finished: list[tuple[UnitRecord, dict[str, int], UnitResult]], place: Place
    ) -> None:
        """Journal a group the destination committed in one transaction, as done, in one journal
        transaction; queue their read-backs and add them to the report."""
        scopes = [self._before_done(record, result) for record, _, result in finished]
        self.journal.mark_done(
            self.migration_id,
            [
                (
                    record.unit_id,
                    written,
                    {t: d.as_dict() for t, d in result.digests.items()},
                    {name: sorted(ids) for name, ids in result.references.items()},
                )
                for record, written, result in finished
            ],
        )
        for (record, written, result), scope in zip(finished, scopes, strict=True):
            self._after_done(record, written, result, scope, place)

    def finish_unit(
        self, record: UnitRecord, written: dict[str, int], result: UnitResult, place: Place
    ) -> None:
        """Journal a unit the destination committed (written here or by a worker elsewhere),
        queue its read-back and add it to the report, with where it ran."""
        scope = self._before_done(record, result)
        self.journal.mark(
            self.migration_id,
            record.unit_id,
            DONE,
            counts=written,
            digests={t: d.as_dict() for t, d in result.digests.items()},
            references={name: sorted(ids) for name, ids in result.references.items()},
        )
        if place.remote:  # where it ran, for ``status``
            self.journal.save_place(self.migration_id, record.unit_id, place.as_dict())
        self._after_done(record, written, result, scope, place)

    def _after_done(
        self,
        record: UnitRecord,
        written: dict[str, int],
        result: UnitResult,
        scope: Scope | None,
        place: Place,
    ) -> None:
        """Queue a done unit's read-back and add it to the report."""
        shaping = self.shapings.get(record.unit_id, Shaping())
        written_unit = Unit(record.kind, record.dest_id, record.label)
        if (
            self.verifier is not None
            and holds_unit(self.destination, record.kind)
            and self.destination.reads_back_alone(written_unit)
        ):
            self.verifier.submit(written_unit, scope)  # else read back once every unit is in
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
            self.report.placed(place, sum(written.values()))
            self.report.timeline.append(
                (round(time.perf_counter() - self.started, 3), self.report.rows_written)
            )
        self.listener(Event("unit_done", {"unit": record.unit_id, "rows": sum(written.values())}))
