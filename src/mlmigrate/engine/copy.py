"""Running a migration, step by step: open the pair, resume or start, run the units, finish
and verify (:class:`Migration`); :func:`copy` is the library's entry to it."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.backends import Endpoints, probe_root
from mlmigrate.artifacts.ledger import Ledger
from mlmigrate.artifacts.phase import check_options
from mlmigrate.artifacts.rewrite import UriRewrite
from mlmigrate.engine.artifacts import ArtifactOptions, rules_for, run_phase
from mlmigrate.engine.changes import Changes, find_changes, watermarks_of
from mlmigrate.engine.families import Family, check_on_conflict, family_named, translation
from mlmigrate.engine.held_files import compare_held_files
from mlmigrate.engine.held_references import check_written
from mlmigrate.engine.journal import DONE, FAILED, PRESENT, Journal
from mlmigrate.engine.key_phase import KeyPhase
from mlmigrate.engine.locks import PairLock
from mlmigrate.engine.plan import (
    MERGE,
    ON_CONFLICT,
    SKIP,
    describe_source_clashes,
    destination_holds,
    journaled_shapings,
    plan_for,
    source_clashes,
)
from mlmigrate.engine.readers import ReaderPool
from mlmigrate.engine.report import Report
from mlmigrate.engine.rerun import pick_up_changes
from mlmigrate.engine.retry import DEFAULT_WINDOW, RetryPolicy
from mlmigrate.engine.revisions import refuse_unknown_source
from mlmigrate.engine.subset import GLOBAL_LEFT_OUT, Selection
from mlmigrate.engine.transform import Scope
from mlmigrate.engine.units import UnitRunner, holds_unit, unit_task
from mlmigrate.engine.verify import BackgroundVerifier, VerifyResult, check_references, compare_unit
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import ConflictError, Interrupted, MigrationError, UsageError
from mlmigrate.executors import Executor, LocalExecutor, check_executor, open_executor
from mlmigrate.executors.base import PairContext
from mlmigrate.stores import open_destination, open_source, require_writable
from mlmigrate.stores.base import DestinationStore, ExistingObjects, Snapshot, SourceStore, Unit, unsupported
from mlmigrate.stores.kinds import check_apart
from mlmigrate.tables import EXPERIMENT, GLOBAL
from mlmigrate.uris import mask

ON_ERROR = ("fail", "skip")


@dataclass(frozen=True)
class CopySettings:
    """The options of one ``copy``, checked before anything is opened."""

    on_error: str = "fail"
    on_conflict: str = "fail"
    verify: bool = True
    workers: int | None = None
    state_dir: Path | None = None
    read_in_processes: bool = True
    batch_size: int | None = None
    artifacts: ArtifactOptions = ArtifactOptions()
    #: how long a unit that failed on a dropped connection or a restarting server is retried
    retry: RetryPolicy = RetryPolicy()
    #: the experiments and registered models to copy (empty: all of the source)
    selection: Selection = Selection()
    #: the family of data to write into an empty destination (``--into``; None: the source's)
    into: str | None = None
    #: where the units run (``--executor``): None or ``local`` (this process), ``ray``, ``ray://…``
    executor: str | None = None
    #: a pass of ``sync``: changes found by the stores' watermarks, units that left the source
    #: removed, and only the units written in this pass read back
    sync: bool = False

    def __post_init__(self) -> None:
        check_executor(self.executor)
        if self.on_error not in ON_ERROR:
            raise UsageError(
                f"--on-error {self.on_error!r} is not valid; choose one of: {', '.join(ON_ERROR)}"
            )
        if self.on_conflict not in ON_CONFLICT:
            raise UsageError(
                f"--on-conflict {self.on_conflict!r} is not valid; choose one of: {', '.join(ON_CONFLICT)}"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size {self.batch_size} is not valid; give a positive number")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers {self.workers} is not valid; give a positive number")
        if self.into is not None:
            family_named(self.into)

    def as_dict(self) -> dict[str, Any]:
        """The options as plain data, named as the CLI's flags (for the report; unmasked)."""
        artifacts = self.artifacts
        return {
            "on_error": self.on_error,
            "on_conflict": self.on_conflict,
            "verify": self.verify,
            "workers": self.workers,
            "state_dir": str(self.state_dir) if self.state_dir is not None else None,
            "read_in_processes": self.read_in_processes,
            "batch_size": self.batch_size,
            "artifacts": "copy" if artifacts.to else "keep",
            "artifacts_to": artifacts.to,
            "rewrite": list(artifacts.rewrite),
            "s3_endpoint": artifacts.s3_endpoint,
            "artifact_workers": artifacts.workers,
            "retry_window": self.retry.window,
            "executor": self.executor or "local",
        }


class Migration:
    """One ``copy`` of a source into a destination, as named steps :meth:`run` takes in turn.

    The journal decides whether the copy starts a new migration, resumes one, or finds
    nothing to do. Units are read (in helper processes where the source allows), written
    one transaction each, journaled after their commit, read back beside the writing, and
    the artifacts phase follows the metadata.
    """

    def __init__(
        self,
        source_uri: str,
        destination_uri: str,
        settings: CopySettings,
        listener: Listener = ignore,
        *,
        watermarks: dict[str, str] | None = None,
    ):
        """``watermarks``: the source's, taken before this copy starts (by a ``sync`` pass that
        looked first); else they are taken when the source is opened."""
        check_apart(source_uri, destination_uri)
        self.source_uri = source_uri
        self.destination_uri = destination_uri
        self.settings = settings
        self.listener = listener
        self.report = Report(source_uri, destination_uri, options=settings.as_dict())
        self.migration_id = ""
        self.resumed = False
        self._journal: Journal | None = None
        self._source: SourceStore | None = None
        self._destination: DestinationStore | None = None
        self._readers: ReaderPool | None = None
        self._verifier: BackgroundVerifier | None = None
        self._ledger: Ledger | None = None
        self._schema: Future[Any] | None = None  # the schema being made in an empty destination
        self._snapshot: str | None = None
        self._executor: Executor = LocalExecutor()
        self._lock = PairLock(source_uri, destination_uri)
        #: the source's watermarks, taken before its snapshot; recorded for the units this run writes
        self._watermarks: dict[str, str] = dict(watermarks or {})
        self._written: set[str] = set()
        #: what a ``sync`` pass found changed (None for a copy)
        self.changes: Changes | None = None

    @property
    def journal(self) -> Journal:
        """The journal (open once :meth:`open_pair` ran)."""
        assert self._journal is not None, "open_pair() first"
        return self._journal

    @property
    def source(self) -> SourceStore:
        """The source store (open once :meth:`open_pair` ran)."""
        assert self._source is not None, "open_pair() first"
        return self._source

    @property
    def destination(self) -> DestinationStore:
        """The destination store (open once :meth:`open_pair` ran)."""
        assert self._destination is not None, "open_pair() first"
        return self._destination

    def run(self) -> Report:
        """Every step in turn; the report of what was done."""
        started = time.perf_counter()
        try:
            self.open_pair()
            if self.resume_or_start():
                with self._failures_journaled():
                    self.run_units()
                    self.copy_artifacts()
                self.finish_and_verify()
            return self.report
        finally:
            self.close()
            self.report.seconds = time.perf_counter() - started
            self.report.stop()

    def open_pair(self) -> None:
        """Open the journal and both stores; refuse what the destination cannot do before
        anything is read; start the reader processes (they get their units later, so their
        start-up overlaps the planning) and pin one snapshot of the source for every read."""
        settings = self.settings
        if settings.artifacts.to:  # a missing bucket stops the copy before any URI is rewritten
            probe_root(settings.artifacts.to, Endpoints(settings.artifacts.s3_endpoint))
        self._lock.acquire()  # before the journal is read: one copy of a pair at a time
        self._journal = Journal(settings.state_dir)
        self._source = open_source(self.source_uri)
        refuse_unknown_source(self.source, self.source_uri)
        self.report.findings = self.source.findings()
        # a finished migration into a store no longer writable (a finished backup) is up to date
        self._destination = destination = open_destination(
            self.destination_uri,
            check_writable=False,
            family=settings.into or self.source.capabilities.family,
        )
        capabilities = destination.capabilities
        self._open_family()
        settings = self.settings  # a translated source is read in this process (see _open_family)
        self.report.options["workers"] = self.workers  # the number used, the user's or the store's
        if settings.on_conflict == MERGE and not capabilities.merge:
            raise unsupported(
                capabilities, "merge", "merge into what it holds; choose --on-conflict fail, skip or rename"
            )
        if settings.batch_size is not None and capabilities.batched_writes:
            destination.set_batch_size(settings.batch_size)
        self._executor = open_executor(
            settings.executor, source_uri=self.source_uri, destination_uri=self.destination_uri
        )
        self.report.options["executor"] = self._executor.name
        if settings.read_in_processes and not self._executor.remote:  # workers elsewhere read themselves
            self._readers = ReaderPool(self.source, self.source_uri, processes=self.workers)
        pinned = self.source.capabilities.snapshot is not Snapshot.NONE
        if self.family.mlflow_rules and not self._watermarks:  # before the snapshot: a change
            self._watermarks = watermarks_of(self.source)  # after it moves them again
        self._snapshot = self.source.pin_snapshot() if pinned else None
        if pinned and self._snapshot is None and self._readers is not None:
            self._readers.close()  # a snapshot only this process can read (MySQL)
            self._readers = None
        if pinned and self._snapshot is None and self._executor.remote:
            self.report.notes.append(
                f"the source ({self.source.capabilities.kind}) keeps its snapshot in one process: the "
                "cluster's workers read it as committed when each unit is read"
            )
        self._executor.prepare(
            PairContext(
                settings.into or self.source.capabilities.family,
                self._snapshot,
                settings.batch_size,
                str(Path.cwd()),
            )
        )

    def _open_family(self) -> None:
        """Check that the pair is of one family (or a registered translation joins them, and
        the source is then read through it, in this process) and that the options mean
        something for it."""
        settings = self.settings
        joined = translation(self.source.capabilities.family, self.destination.capabilities.family)
        if joined is not None:
            self._source = joined.wrap(self.source)
        if joined is not None or not self.family.mlflow_rules:
            # a translated source is read through its wrapper here; plain tables come as Arrow
            # already, with nothing to parse that helper processes would take off this one
            self.settings = settings = dataclasses.replace(settings, read_in_processes=False)
        check_on_conflict(self.family, settings.on_conflict)
        artifacts = settings.artifacts
        if not self.family.mlflow_rules and (artifacts.to or artifacts.rewrite):
            raise UsageError(
                f"--artifacts-to and --rewrite are for MLflow's artifacts; {self.family.title} has none"
            )

    @property
    def family(self) -> Family:
        """The family of the data written (the destination's)."""
        return family_named(self.destination.capabilities.family)

    @property
    def workers(self) -> int:
        """Units written at once: the user's number, else what the destination takes."""
        return self.settings.workers or self.destination.capabilities.writers

    def resume_or_start(self) -> bool:
        """Find this pair's migration in the journal and resume it, or start a new one; False
        when the source has nothing new for a migration that already finished."""
        settings, journal = self.settings, self.journal
        previous = journal.latest(self.source_uri, self.destination_uri)
        if previous:
            recorded = journal.options(previous["migration_id"])
            check_options(recorded, settings.artifacts.recorded())
            self._keep_selection(recorded)
        if previous and self._made_anew(previous["migration_id"]):
            previous = None
        if previous and previous["state"] == DONE and settings.on_conflict in (SKIP, MERGE):
            previous = None  # import again: what is there already is skipped or merged
        elif previous and previous["state"] == DONE and settings.sync:
            self.changes = find_changes(
                self.source,
                self.destination,
                journal,
                previous["migration_id"],
                self._watermarks,
                settings.selection,
                UriRewrite.from_json(recorded.get("artifacts", {}).get("rules")),
            )
            if self.changes.count:
                previous["state"] = "changed"
        elif (
            previous
            and previous["state"] == DONE
            and pick_up_changes(
                self.source,
                self.destination,
                journal,
                previous["migration_id"],
                self.settings.selection,
                UriRewrite.from_json(recorded.get("artifacts", {}).get("rules")),
            )
        ):
            previous["state"] = "changed"  # the source gained units or rows: copy them
        if previous and previous["state"] == DONE:
            report = self.report
            report.migration_id = previous["migration_id"]
            report.status = "up-to-date"
            report.message = f"migration {previous['migration_id']} already copied everything; nothing to do"
            report.units_total = report.units_done = len(journal.units(previous["migration_id"]))
            return False
        require_writable(self.destination, self.destination_uri)
        if previous:
            self.migration_id = previous["migration_id"]
            self.resumed = True
            journal.set_state(self.migration_id, "running")
            self.listener(Event("message", {"text": f"resuming migration {self.migration_id}"}))
        else:
            self.migration_id = self._start()
        self.report.migration_id = self.migration_id
        return True

    def _made_anew(self, migration_id: str) -> bool:
        """Whether the destination holds nothing though the journaled migration wrote units into
        it (deleted or made again since): then nothing of it can be resumed or is up to date,
        and the copy starts again (said)."""
        written = [r for r in self.journal.units(migration_id) if r.state == DONE and any(r.counts.values())]
        if not written or not self.destination.is_empty():
            return False
        text = (
            f"the destination holds nothing of migration {migration_id}, which wrote {len(written)} "
            "unit(s) into it (deleted or made again since?): copying from the start"
        )
        self.report.notes.append(text)
        self.listener(Event("message", {"text": text}))
        return True

    def _keep_selection(self, recorded: dict[str, Any]) -> None:
        """Take the subset a journaled migration was started with (a re-run or resume keeps it);
        a UsageError when the user now names another one."""
        journaled = Selection.from_recorded(recorded.get("subset"))
        given = self.settings.selection
        if given and given != journaled:
            raise UsageError(
                f"migration of this pair in the journal was started with {_describe(journaled)}, "
                f"not {_describe(given)}; run it again without --experiment/--model to resume it, "
                "or use another --state-dir for a separate migration"
            )
        if journaled:
            self.report.notes.append(GLOBAL_LEFT_OUT)
        self.settings = dataclasses.replace(self.settings, selection=journaled)

    @contextlib.contextmanager
    def _failures_journaled(self) -> Iterator[None]:
        """Record in the journal how a step that writes ended when it did not succeed."""
        try:
            yield
        except KeyboardInterrupt:
            self.journal.finish(self.migration_id, "interrupted")
            raise Interrupted(f"interrupted; migration {self.migration_id} can be resumed") from None
        except MigrationError as exc:
            self.report.stop()
            self.journal.finish(self.migration_id, FAILED, self.report.as_dict())
            exc.migration_id = self.migration_id
            exc.report = self.report.as_dict()
            raise

    @property
    def _rules(self) -> UriRewrite:
        """The migration's artifact URI rewrite rules, as recorded when it started."""
        recorded = self.journal.options(self.migration_id).get("artifacts", {})
        return UriRewrite.from_json(recorded.get("rules"))

    def run_units(self) -> None:
        """Write every unit not done yet, the global tables last."""
        journal, destination, report = self.journal, self.destination, self.report
        migration_id = self.migration_id
        rules = self._rules
        if self.settings.artifacts.to:  # the units record the artifacts they reference here
            self._ledger = Ledger(journal.path, migration_id)
        records = journal.units(migration_id)
        journaled = journal.options(migration_id)
        shapings = journaled_shapings(journaled)
        report.conflicts = list(journaled.get("resolutions", []))
        report.units_total = len(records)
        report.units_done = sum(r.state in (DONE, PRESENT) for r in records)
        report.rejected_runs = journal.rejected_runs(migration_id)  # a malformed run stays out
        rejected = [f for f in report.findings if f.get("action", "").startswith("rejected")]
        if rejected and not journal.rejects_file(migration_id).exists():  # once, on the first run
            for finding in rejected:
                journal.add_reject(migration_id, {"unit": "source", **finding})
        if rejected:
            report.rejects_file = str(journal.rejects_file(migration_id))
        if report.rejected_runs:
            report.rejects_file = str(journal.rejects_file(migration_id))
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
        self._written = {r.unit_id for r in todo}
        self.listener(
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
        if self._readers is not None:
            self._readers.assign(
                [
                    unit_task(r, destination, report.remapped, shapings, rules, source=self.source)
                    for r in todo
                ],
                self._snapshot,
            )
        keys = KeyPhase(journal, migration_id, destination)
        # a bulk load reads back only once the keys exist (verify_written, at the end)
        bulk = keys.deferred or (self._schema is not None and destination.capabilities.deferred_keys)
        if self.settings.verify and self.family.reads_back_early and not bulk:
            self._verifier = BackgroundVerifier(
                destination, in_process=self._readers is None or not destination.capabilities.shared_reads
            )
        runner = UnitRunner(
            self.source,
            destination,
            journal,
            migration_id,
            report,
            self.listener,
            self.settings.on_error,
            self._readers,
            self._verifier,
            shapings,
            rules,
            self._ledger,
            self.settings.retry,
            self._executor,
        )
        if self.settings.sync and self.source.capabilities.snapshot is Snapshot.NONE:
            runner.torn_reads = 3
        try:
            if self._schema is not None:  # made while planning, and the readers are already at work
                self._schema.result()
                keys.begin()
            else:
                destination.prepare()
                keys.resume()
            runner.execute([r for r in todo if r.kind != GLOBAL], self.workers)
            runner.execute([r for r in todo if r.kind == GLOBAL], 1)
            keys.build(self.listener)
        finally:
            if self._readers is not None:
                self._readers.close()
                self._readers = None

    def copy_artifacts(self) -> None:
        """The artifacts phase (with ``--artifacts-to``): every prefix the committed units
        reference, copied and checked, resumable through the ledger."""
        if self._ledger is None or self.report.failed_units:
            return
        self.report.artifacts = run_phase(
            self._ledger, self._rules, self.settings.artifacts, self.listener, self._executor
        )

    def finish_and_verify(self) -> None:
        """Let the destination finish (sequences, a backup's manifest), compare every unit
        written with the digests taken while reading, and close the migration's journal entry."""
        destination, report = self.destination, self.report
        destination.record_source(  # a backup keeps what it is a backup of
            {
                "source": mask(self.source_uri),
                "schema_revision": self.source.schema_revision(),
                "consistent_snapshot": self.source.capabilities.snapshot is not Snapshot.NONE
                and not self.resumed,
            }
        )
        if self._verifier is not None:
            self._verifier.drain()
        destination.finish()
        assigned = destination.assigned_ids()
        if any(assigned.values()):
            report.assigned_ids_file = str(self.journal.save_assigned_ids(self.migration_id, assigned))
        report.schema_revision = destination.schema_revision()
        if self.settings.verify:
            self.listener(Event("verify_started", {"units": report.units_done}))
            result = verify_written(
                self.journal,
                self.migration_id,
                destination,
                self.listener,
                self._verifier,
                self.source,
                left_out=report.partial or bool(self.settings.selection),
                only=self._written if self.settings.sync else None,
            )
            finished = [r for r in self.journal.units(self.migration_id) if r.state == DONE]
            files = compare_held_files(
                self.source,
                destination,
                [(Unit(r.kind, r.source_id, r.label), Unit(r.kind, r.dest_id, r.label)) for r in finished],
            )
            if files is not None:  # a registry's model files, at both ends
                result.artifacts = files
                result.mismatches += files["mismatches"]
            report.verify = result.as_dict()
        if not report.verify or report.verify["ok"]:  # only a verified copy is switched to
            records = self.journal.units(self.migration_id)
            accepted = [Unit(r.kind, r.dest_id, r.label) for r in records if r.state in (DONE, PRESENT)]
            left = [Unit(r.kind, r.dest_id, r.label) for r in records if r.state not in (DONE, PRESENT)]
            destination.accept(accepted, left)
        report.status = "failed" if report.failed_units else ("partial" if report.partial else DONE)
        if report.verify and not report.verify["ok"]:
            report.status = "verify-mismatch"
        state = report.status if report.status != "verify-mismatch" else "failed"
        done = {r.unit_id for r in self.journal.units(self.migration_id) if r.state == DONE}
        self.journal.save_watermarks(
            self.migration_id,
            {unit_id: mark for unit_id, mark in self._watermarks.items() if unit_id in done & self._written},
        )
        self.journal.finish(self.migration_id, state, report.as_dict())

    def close(self) -> None:
        """Stop the helpers and close the stores and the journal (whatever was opened)."""
        if self._readers is not None:
            self._readers.close()
            self._readers = None
        if self._schema is not None:  # planning may have failed meanwhile: let the making finish first
            wait([self._schema])
        if self._verifier is not None:
            self._verifier.close()
        if self._ledger is not None:
            self._ledger.close()
        for store in (self._source, self._destination):
            if store is not None:
                store.close()
        self._executor.close()
        if self._journal is not None:
            self._journal.close()
        self._lock.release()

    def _start(self) -> str:
        """Plan ids and clashes and record the new migration; return its id. An empty
        destination's schema is made on a thread while planning and reading go on (it holds
        nothing to plan around)."""
        source, destination, journal, report = self.source, self.destination, self.journal, self.report
        on_conflict, options = self.settings.on_conflict, self.settings.artifacts
        fresh = destination.is_empty()
        selection = self.settings.selection
        # a source that cannot be listed, or a name that matches nothing, leaves the destination untouched
        units = selection.pick(source.units())
        if selection:
            report.notes.append(GLOBAL_LEFT_OUT)
        run_ids = source.run_ids()
        inside = describe_source_clashes(units, run_ids)
        same_name, repeated_runs = source_clashes(units, run_ids)
        if repeated_runs or (same_name and on_conflict == "fail"):  # before anything is written
            raise ConflictError(
                f"the source itself holds {len(inside)} clash(es) no destination can hold; nothing was "
                "copied (two experiments of one name: --on-conflict skip or rename; a run in two "
                "experiments: remove one of its folders)",
                inside,
            )
        if fresh:
            making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlmigrate-schema")
            self._schema = making.submit(destination.prepare)
            making.shutdown(wait=False)
            existing = ExistingObjects()
        else:
            destination.prepare()
            existing = destination_holds(destination, units, run_ids)
        plan = plan_for(
            self.family, units, existing, destination, on_conflict=on_conflict, source_run_ids=run_ids
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
        rules = rules_for(source, units, options) if self.family.mlflow_rules else UriRewrite()
        migration_id = journal.create(
            self.source_uri,
            self.destination_uri,
            [
                (p.unit.unit_id, p.unit.kind, p.unit.source_id, p.dest_id, p.dest_label or p.unit.label)
                for p in plan.units
            ],
            {
                **plan.journal_options(on_conflict),
                "artifacts": {**options.recorded(), "rules": rules.as_json()},
                "replaced_rows": replaced_rows,
                "subset": selection.recorded(),
            },
        )
        for planned in plan.units:
            if planned.action == SKIP:
                journal.mark(migration_id, planned.unit.unit_id, PRESENT, error="already in the destination")
        return migration_id


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
    retry_window: float = DEFAULT_WINDOW,
    experiments: Sequence[str] = (),
    models: Sequence[str] = (),
    into: str | None = None,
    executor: str | None = None,
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
    ``retry_window`` is how many seconds a unit that failed on a dropped connection or a
    restarting server is retried, with a doubling back-off (0: not retried).
    ``experiments`` (names or ids) and ``models`` (names) limit the copy to those experiments,
    with everything under them, and registered models; the tables outside experiments and
    models are then left out. A re-run or resume keeps the subset the migration started with.
    ``into`` is the family of data an empty destination gets (``mlflow``, ``registry`` …; by
    default the source's); a destination that holds data keeps its own.
    ``executor`` runs the units and artifact objects on a Ray cluster: ``"ray"`` (the cluster
    ``RAY_ADDRESS`` names, else a local instance) or ``"ray://host:10001"`` (Ray Client); by
    default they run in this process.
    """
    settings = CopySettings(
        on_error=on_error,
        on_conflict=on_conflict,
        verify=verify,
        workers=workers,
        state_dir=state_dir,
        read_in_processes=read_in_processes,
        batch_size=batch_size,
        artifacts=ArtifactOptions.make(artifacts, artifacts_to, rewrite, s3_endpoint, artifact_workers),
        retry=RetryPolicy(window=retry_window),
        selection=Selection.make(experiments, models),
        into=into,
        executor=executor,
    )
    return Migration(source_uri, destination_uri, settings, listener).run()


def _describe(selection: Selection) -> str:
    if not selection:
        return "the whole source"
    named = [f"--experiment {name}" for name in selection.experiments]
    named += [f"--model {name}" for name in selection.models]
    return " ".join(named)


def verify_written(
    journal: Journal,
    migration_id: str,
    destination: DestinationStore,
    listener: Listener = ignore,
    verifier: BackgroundVerifier | None = None,
    source: SourceStore | None = None,
    *,
    left_out: bool = False,
    only: set[str] | None = None,
) -> VerifyResult:
    """Compare every done unit in the destination (of ``only``, if given) with the digests
    journaled at write time, and check that the ids its values reference are held (the
    ``source``'s tell what dangled there already; where the copy ``left_out`` part of the
    source, what it left out)."""
    result = VerifyResult()
    reader = verifier or BackgroundVerifier(destination)
    try:
        scopes = journal.scopes(migration_id)
        for record in journal.units(migration_id):
            if record.state != DONE or not holds_unit(destination, record.kind):
                continue
            if only is not None and record.unit_id not in only:
                continue
            scope = Scope.from_dict(scopes[record.unit_id]) if record.unit_id in scopes else None
            actual = reader.digests(Unit(record.kind, record.dest_id, record.label), scope)
            expected = record.digests
            if scope is not None:  # merged: compare only the tables its rows can be told apart in
                expected = {t: d for t, d in expected.items() if Scope.compares(t)}
            ok = compare_unit(result, record.unit_id, expected, actual)
            listener(Event("verify_unit", {"unit": record.unit_id, "ok": ok}))
        check_references(destination, result)
        records, journaled = journal.units(migration_id), journal.references(migration_id)
        check_written(destination, records, journaled, result, source, left_out=left_out)
    finally:
        if verifier is None:
            reader.close()
    return result


__all__ = ["CopySettings", "Interrupted", "Migration", "copy", "verify_written"]
