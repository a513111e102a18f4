"""Incremental sync for a cutover: passes that copy only what changed in the source since the
last one, told from each store's own watermarks (:mod:`mlmigrate.engine.changes`), then a
final pass with a full verify that says what to switch and the lag it closed.

A pass is one run of :class:`~mlmigrate.engine.copy.Migration` in sync mode (a first pass is
the bulk copy; an interrupted one resumes); a pass that finds no moved watermark stops
before opening a snapshot or a helper process. Every pass is recorded in the journal, so
``status`` shows when each ran, the units it changed, the rows and the time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlmigrate.engine.analysis import verify
from mlmigrate.engine.changes import looks_unchanged
from mlmigrate.engine.copy import CopySettings, Migration
from mlmigrate.engine.journal import DONE, Journal
from mlmigrate.engine.subset import Selection
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import UsageError
from mlmigrate.stores import open_destination, open_source
from mlmigrate.stores.kinds import check_apart
from mlmigrate.uris import mask

COPY, CATCH_UP, FINAL = "copy", "catch-up", "final"


@dataclass
class SyncReport:
    """The passes one ``sync`` ran and, after ``--final``, the full verify, the lag it closed
    and what to switch to."""

    source: str
    destination: str
    migration_id: str = ""
    passes: list[dict[str, Any]] = field(default_factory=list)
    verify: dict[str, Any] | None = None
    #: after the final pass: the time, units and rows the destination was behind by
    lag: dict[str, Any] | None = None
    #: after the final pass: the tracking URI to point MLflow at (masked)
    switch_to: str | None = None

    @property
    def ok(self) -> bool:
        """False when the final verify found a difference or a pass did not finish."""
        finished = all(p["status"] in (DONE, "up-to-date") for p in self.passes)
        return finished and (self.verify is None or bool(self.verify["ok"]))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "destination": self.destination,
            "migration_id": self.migration_id,
            "ok": self.ok,
            "passes": self.passes,
            "verify": self.verify,
            "lag": self.lag,
            "switch_to": self.switch_to,
        }


def sync(
    source_uri: str,
    destination_uri: str,
    *,
    final: bool = False,
    watch: float | None = None,
    passes: int | None = None,
    stop: threading.Event | None = None,
    state_dir: Path | None = None,
    workers: int | None = None,
    listener: Listener = ignore,
) -> SyncReport:
    """Catch the destination up with what the source changed since the last pass (the first
    pass copies everything). ``watch`` (seconds): pass again after that pause, until ``stop`` is
    set, ``passes`` ran or Ctrl-C. ``final``: one last pass, then a full verify of the source
    against the destination, the lag it closed and the URI to switch to (pause the writers
    first). Raises :class:`UsageError` for a pair it cannot sync, naming why."""
    if final and watch is not None:
        raise UsageError("--final is one last pass; run it without --watch once the writers are paused")
    if watch is not None and watch <= 0:
        raise UsageError(f"--watch {watch:g} is not valid; give a pause such as 30s")
    check_apart(source_uri, destination_uri)
    refuse_unsyncable(source_uri, destination_uri)
    settings = CopySettings(sync=True, state_dir=state_dir, workers=workers)
    report = SyncReport(mask(source_uri), mask(destination_uri))
    stop = stop or threading.Event()
    while True:
        kind = FINAL if final else CATCH_UP
        done = run_pass(source_uri, destination_uri, settings, listener, kind=kind)
        report.passes.append(done)
        report.migration_id = done["migration_id"]
        listener(Event("sync_pass", done))
        if done["status"] not in (DONE, "up-to-date"):
            return report
        if watch is None or (passes is not None and len(report.passes) >= passes):
            break
        if stop.wait(watch):
            break
    if final:
        listener(Event("message", {"text": "final pass done; verifying every unit of the source"}))
        report.verify = verify(source_uri, destination_uri, state_dir=state_dir).as_dict()
        report.lag = _lag(report.passes[-1], state_dir, report.migration_id)
        report.switch_to = mask(destination_uri)
    return report


def refuse_unsyncable(source_uri: str, destination_uri: str) -> None:
    """Refuse, naming why, a pair whose deletions and rewrites a sync could not carry: a
    destination that cannot remove one unit (a tracking server over REST deletes softly), or a
    pair outside MLflow's family (plain tables, registries: ``copy`` re-runs catch them up)."""
    source = open_source(source_uri)
    try:
        destination = open_destination(
            destination_uri, check_writable=False, family=source.capabilities.family
        )
        try:
            families = {source.capabilities.family, destination.capabilities.family}
            if families != {"mlflow"}:
                raise UsageError(
                    "sync is for MLflow stores; between "
                    f"{source.capabilities.kind} and {destination.capabilities.kind} run `mlmigrate copy` "
                    "again: it copies what changed"
                )
            if not destination.capabilities.rollback or not destination.capabilities.writable:
                raise UsageError(
                    f"{destination.capabilities.kind} cannot be synced into: it cannot remove one "
                    "unit exactly, so units that leave the source could not leave it, and a changed "
                    "unit could not be replaced in one step; sync into a database or a FileStore and "
                    "point the server at it (`mlflow server --backend-store-uri …`)"
                )
        finally:
            destination.close()
    finally:
        source.close()


def run_pass(
    source_uri: str,
    destination_uri: str,
    settings: CopySettings,
    listener: Listener = ignore,
    *,
    kind: str = CATCH_UP,
) -> dict[str, Any]:
    """One pass, recorded in the journal: nothing when no watermark moved, else a copy of
    what changed (of everything, for the pair's first pass)."""
    started, clock = time.time(), time.perf_counter()
    journal = Journal(settings.state_dir)
    watermarks: dict[str, str] = {}
    try:
        previous = journal.latest(source_uri, destination_uri)
        if previous is not None and previous["state"] == DONE:
            migration_id = previous["migration_id"]
            unchanged, watermarks = _unchanged(source_uri, destination_uri, journal, migration_id)
            if unchanged:
                return _record(journal, migration_id, started, clock, kind, "up-to-date", {}, 0)
    finally:
        journal.close()
    if previous is None:
        kind = COPY if kind == CATCH_UP else kind
    elif previous["state"] == DONE:  # a catch-up: a few units, read here rather than by helper processes
        settings = dataclasses.replace(settings, read_in_processes=False)
    # the watermarks of the look, taken before the copy: a change since is copied now and seen again
    migration = Migration(source_uri, destination_uri, settings, listener, watermarks=watermarks)
    result = migration.run()
    changes = migration.changes.as_dict() if migration.changes is not None else {}
    rows = sum(stats.written for stats in result.tables.values())
    journal = Journal(settings.state_dir)
    try:
        return _record(journal, result.migration_id, started, clock, kind, result.status, changes, rows)
    finally:
        journal.close()


def _unchanged(
    source_uri: str, destination_uri: str, journal: Journal, migration_id: str
) -> tuple[bool, dict[str, str]]:
    """The cheap look of a pass: the same units with the same watermarks? And the watermarks."""
    subset = Selection.from_recorded(journal.options(migration_id).get("subset"))
    source = open_source(source_uri)
    try:
        destination = open_destination(
            destination_uri, check_writable=False, family=source.capabilities.family
        )
        held = destination.capabilities.tables is None
        destination.close()
        return looks_unchanged(source, journal, migration_id, subset, global_held=held)
    finally:
        source.close()


def _record(
    journal: Journal,
    migration_id: str,
    started: float,
    clock: float,
    kind: str,
    status: str,
    changes: dict[str, Any],
    rows: int,
) -> dict[str, Any]:
    info = {
        "kind": kind,
        "status": status,
        "seconds": round(time.perf_counter() - clock, 3),
        "units_changed": len(changes.get("changed", [])),
        "units_new": len(changes.get("new", [])),
        "units_removed": len(changes.get("removed", [])),
        "removed": changes.get("removed", []),
        "left": changes.get("left", []),
        "by_watermark": changes.get("by_watermark", 0),
        "by_digest": changes.get("by_digest", 0),
        "rows": rows,
    }
    journal.add_pass(migration_id, started, info)
    return {"migration_id": migration_id, "started": started, **info}


def _lag(final: dict[str, Any], state_dir: Path | None, migration_id: str) -> dict[str, Any]:
    """How far behind the destination was when the final pass started: the time since the
    pass before it ended, and the units and rows the final pass copied."""
    journal = Journal(state_dir)
    try:
        recorded = journal.passes(migration_id)
    finally:
        journal.close()
    earlier = [p for p in recorded if p["started"] < final["started"]]
    ended = time.time()
    behind_since = earlier[-1]["started"] + earlier[-1]["seconds"] if earlier else final["started"]
    return {
        "seconds": round(ended - behind_since, 3),
        "since": behind_since,
        "final_pass_seconds": final["seconds"],
        "units": final["units_changed"] + final["units_new"] + final["units_removed"],
        "rows": final["rows"],
    }


__all__ = ["SyncReport", "refuse_unsyncable", "run_pass", "sync"]
