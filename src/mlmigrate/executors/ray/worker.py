"""What a Ray worker runs: open the pair from the credentials it was handed (once per worker
process), then read and write one unit, or copy a batch of artifact objects, with the same
code as the local pool. Imports nothing of Ray at module level."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlmigrate.engine.prefetch import prefetch
from mlmigrate.engine.readers import UnitResult, UnitTask, read_shaped
from mlmigrate.engine.retry import RetryPolicy
from mlmigrate.executors.base import PairContext, Place
from mlmigrate.stores.base import BatchStream, DestinationStore, SourceStore


@dataclass(frozen=True)
class UnitWork:
    """One unit to read and write: its task, destination id and how it is written."""

    task: UnitTask
    dest_id: str
    into_existing: bool
    #: whether the destination holds this kind of unit (else it is read and counted only)
    held: bool
    retry: RetryPolicy


@dataclass
class UnitWritten:
    """What a task hands back: counts and digests, never rows."""

    written: dict[str, int]
    result: UnitResult
    #: rows read per table, and the seconds the unit took
    read: Counter[str]
    place: Place


_lock = threading.Lock()
_pairs: dict[tuple[str, str, PairContext], tuple[SourceStore, DestinationStore]] = {}


def apply_environment(secrets: dict[str, Any]) -> None:
    """Put the driver's credential variables (cloud keys, endpoints) into this worker's
    environment, where the stores and artifact backends read them."""
    for name, value in secrets.get("environment", {}).items():
        os.environ.setdefault(name, value)


def open_pair(secrets: dict[str, Any], context: PairContext) -> tuple[SourceStore, DestinationStore]:
    """The source and destination of this worker, opened on first use and kept for its next tasks."""
    from mlmigrate.engine.families import translation
    from mlmigrate.stores import open_destination, open_source

    key = (secrets["source"], secrets["destination"], context)
    with _lock:
        pair = _pairs.get(key)
        if pair is not None:
            return pair
        apply_environment(secrets)
        if os.path.isdir(context.cwd):
            os.chdir(context.cwd)
        source = open_source(secrets["source"])
        if context.snapshot is not None:
            source.use_snapshot(context.snapshot)
        destination = open_destination(secrets["destination"], check_writable=False, family=context.family)
        joined = translation(source.capabilities.family, destination.capabilities.family)
        if joined is not None:
            source = joined.wrap(source)
        if context.batch_size is not None and destination.capabilities.batched_writes:
            destination.set_batch_size(context.batch_size)
        _pairs[key] = pair = (source, destination)
        return pair


def here() -> Place:
    """This worker's node and process."""
    import ray

    context = ray.get_runtime_context()
    node = context.get_node_id()
    address = ray.util.get_node_ip_address()
    return Place(f"{address}/{node[:8]}", str(os.getpid()), remote=True)


def _counted(stream: BatchStream, read: Counter[str]) -> Iterator[tuple[str, Any]]:
    for table, batch in stream:
        read[table] += batch.num_rows
        yield table, batch


def run_unit(secrets: dict[str, Any], context: PairContext, work: UnitWork) -> UnitWritten:
    """Read one unit and write it into the destination in one transaction (retrying transient
    failures as the local pool does); counts and digests come back."""
    started = time.perf_counter()
    source, destination = open_pair(secrets, context)

    def attempt() -> UnitWritten:
        result = UnitResult()
        read: Counter[str] = Counter()
        stream = _counted(prefetch(read_shaped(source, work.task, result)), read)
        if not work.held:
            for _ in stream:
                pass
            return UnitWritten({}, result, read, here())
        written = destination.write_unit(
            work.task.unit, work.dest_id, stream, into_existing=work.into_existing
        )
        return UnitWritten(written, result, read, here())

    done = work.retry.run(attempt)
    done.place = done.place.timed(time.perf_counter() - started)
    return done
