"""``copy`` of one tree into another: a migration in the journal, resumable, verified.

The objects move through the artifact copier (parallel, streamed with bounded memory,
multipart for big objects, server-side within one bucket or container, SHA-256 computed
while streaming, sizes checked at the destination). Before anything is written: both ends
are reached, the source's every key is checked safe and, in a folder, readable, and the
keys the copy will create are recorded (for ``rollback``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from mlmigrate.artifacts.ledger import ObjectRecord
from mlmigrate.artifacts.phase import ArtifactCopier, ArtifactReport, object_uri
from mlmigrate.artifacts.transfer import sha256_of
from mlmigrate.engine.journal import DONE, Journal
from mlmigrate.engine.locks import PairLock
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import Interrupted, MigrationError, UsageError
from mlmigrate.executors import check_executor, open_executor
from mlmigrate.trees.app_ef import AppEfOptions, is_metadata
from mlmigrate.trees.ledger import CREATED, DELETED, PRESENT, TreeLedger
from mlmigrate.trees.pair import TreePair, probe, source_listing
from mlmigrate.trees.report import TreeReport
from mlmigrate.trees.survey import app_check, destination_listing, prefix_of, verify_written

UNIT_KIND = "tree"
#: journal states of a migration the next copy of the pair resumes (not done, not rolled back)
UNFINISHED = ("running", "failed", "interrupted")
#: objects copied at once: more than the artifact phase's 16, since a tree is mostly small
#: objects whose requests wait on the server (memory stays below this many small objects)
TREE_WORKERS = 32


def _options(delete_extra: bool, app_ef: AppEfOptions | None) -> dict[str, Any]:
    return {"tree": {"delete_extra": delete_extra, "app_ef": app_ef.recorded() if app_ef else None}}


def _start(journal: Journal, pair: TreePair, options: dict[str, Any], report: TreeReport) -> str:
    """Resume the pair's unfinished migration (with the same options), or start a new one."""
    source, destination = pair.source.uri, pair.destination.uri
    latest = journal.latest(source, destination)
    if latest is not None and latest["state"] in UNFINISHED:
        stored = journal.migration(latest["migration_id"]) or {}
        before = (stored.get("options") or {}).get("tree")
        if before is not None and before != options["tree"]:
            raise UsageError(
                f"the unfinished tree migration {latest['migration_id']} of this pair was started with "
                f"other options ({before}); run it again with those, or use another --state-dir"
            )
        journal.set_state(latest["migration_id"], "running")
        report.resumed = True
        return str(latest["migration_id"])
    unit = (
        f"{UNIT_KIND}:{pair.source.root_uri}",
        UNIT_KIND,
        pair.source.root_uri,
        pair.destination.root_uri,
        "",
    )
    return journal.create(source, destination, [unit], options)


def _write_targets(pair: TreePair, ledger: TreeLedger, targets: dict[str, bytes], report: TreeReport) -> None:
    """Write each rewritten ``metadata.json`` unless the destination already holds its bytes."""
    backend, location = pair.destination.backend, pair.destination.location
    for key, data in sorted(targets.items()):
        full = location.key(key)
        digest = hashlib.sha256(data).hexdigest()
        present = backend.head(full)
        if present is not None and present.size == len(data) and sha256_of(backend.read(full))[1] == digest:
            ledger.record(ObjectRecord(object_uri(location, full), len(data), digest, present.tag))
            report.already_there += 1
            continue
        tag = backend.write(full, [data], small=True)
        ledger.record(ObjectRecord(object_uri(location, full), len(data), digest, tag))
        report.copied += 1
        report.bytes_copied += len(data)


def _delete_extra(pair: TreePair, ledger: TreeLedger, listing: dict[str, Any], report: TreeReport) -> None:
    """Remove what the destination holds and the source does not (``--delete-extra``), each
    key recorded before it goes."""
    location = pair.destination.location
    extra = sorted(key for key in destination_listing(pair) if key not in listing)
    ledger.intend(DELETED, [object_uri(location, location.key(key)) for key in extra])
    for key in extra:
        pair.destination.backend.delete(location.key(key))
    report.deleted_extra = extra


def copy_tree(
    source_uri: str,
    destination_uri: str,
    *,
    delete_extra: bool = False,
    verify: bool = True,
    state_dir: Path | None = None,
    s3_endpoint: str | None = None,
    workers: int | None = None,
    app_ef: AppEfOptions | None = None,
    listener: Listener = ignore,
    executor: str | None = None,
) -> TreeReport:
    """Copy every object of the source tree into the destination tree; run again to resume.

    A re-run after a finished copy copies only what is missing or changed (size, else
    SHA-256 on both sides) and counts the rest as already there. Objects the destination holds
    and the source does not stay, unless ``delete_extra``. The source is only read.
    ``verify`` reads every destination object back at the end and compares its size and SHA-256
    with the hash taken while the source streamed (``verify_tree`` re-reads both sides).
    """
    started = time.perf_counter()
    pair = TreePair.open(source_uri, destination_uri, s3_endpoint)
    report = TreeReport("copy", pair.source.uri, pair.destination.uri)
    probe(pair.source, role="source")
    probe(pair.destination, role="destination")
    listing = source_listing(pair.source)
    targets: dict[str, bytes] = {}
    if app_ef is not None:
        report.app_ef, targets = app_check(pair, sorted(listing), app_ef)
    skip = is_metadata if targets else None
    check_executor(executor)
    lock = PairLock(pair.source.uri, pair.destination.uri)
    lock.acquire()
    journal = Journal(state_dir)
    running = None
    migration_id = ""
    try:
        migration_id = report.migration_id = _start(journal, pair, _options(delete_extra, app_ef), report)
        ledger = TreeLedger(journal.path, migration_id)
        try:
            location = pair.destination.location
            present = destination_listing(pair)
            ledger.intend(
                CREATED, [object_uri(location, location.key(key)) for key in listing if key not in present]
            )
            ledger.intend(
                PRESENT, [object_uri(location, location.key(key)) for key in listing if key in present]
            )
            running = open_executor(executor, source_uri=source_uri, destination_uri=destination_uri)
            copier = ArtifactCopier(
                pair.source.backends,
                ledger,
                root=pair.destination.root_uri,
                listener=listener,
                workers=workers or TREE_WORKERS,
                skip=skip,
                executor=running,
            )
            moved = copier.run([prefix_of(pair)], ArtifactReport(pair.destination.root_uri))
            stats = moved.kind("tree")
            report.nodes = moved.as_dict()["nodes"]
            report.objects, report.bytes = len(listing), sum(info.size for info in listing.values())
            report.copied, report.bytes_copied = stats.copied, stats.bytes_copied
            report.already_there, report.server_side = stats.skipped, stats.server_side
            _write_targets(pair, ledger, targets, report)
            if delete_extra:
                _delete_extra(pair, ledger, listing, report)
            ledger.flush()
            records = ledger.objects_under(pair.destination.root_uri) if verify else {}
        finally:
            ledger.close()
        if verify:
            listener(
                Event("message", {"text": "verifying: size and SHA-256 of every object at the destination"})
            )
            found = verify_written(pair, listing, records, workers=workers or TREE_WORKERS)
            extra = [d for d in found["differences"] if d["kind"] == "extra"]
            report.extra_at_destination = len(extra)
            if extra and not delete_extra:  # there before the copy, and left alone on purpose
                found["differences"] = [d for d in found["differences"] if d["kind"] != "extra"]
                found["extra"] = 0
                found["ok"] = not found["differences"]
            report.verify = found
        if report.extra_at_destination and not delete_extra:
            report.notes.append(
                f"{report.extra_at_destination} object(s) at the destination are not in the source and were "
                "left alone (--delete-extra removes them)"
            )
        report.status = "done" if report.exit_code == 0 else "verify failed"
        report.seconds = time.perf_counter() - started
        journal.mark(
            migration_id,
            f"{UNIT_KIND}:{pair.source.root_uri}",
            DONE,
            counts={"objects": report.objects, "bytes": report.bytes, "copied": report.copied},
        )
        journal.finish(migration_id, "done", report.as_dict())
        return report
    except (KeyboardInterrupt, Interrupted):
        if migration_id:
            journal.finish(migration_id, "interrupted")
        raise
    except MigrationError:
        if migration_id:
            journal.finish(migration_id, "failed")
        raise
    finally:
        if running is not None:
            running.close()
        journal.close()
        lock.release()
