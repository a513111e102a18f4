"""A batch of artifact objects to copy on another worker: what each object is, and the function
the worker runs (the same :func:`~mlmigrate.artifacts.transfer.copy_object` as the local pool)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mlmigrate.artifacts.backends import Backends, Endpoints, ObjectInfo
from mlmigrate.artifacts.ledger import ObjectRecord
from mlmigrate.artifacts.locations import Location
from mlmigrate.artifacts.transfer import Endpoint, Outcome, copy_object


@dataclass(frozen=True)
class ObjectItem:
    """One object: where it is, where it goes, its listed size and what is there already."""

    source: Location
    source_key: str
    source_uri: str
    destination: Location
    destination_key: str
    destination_uri: str
    size: int
    present: ObjectInfo | None
    known: ObjectRecord | None


@dataclass(frozen=True)
class ObjectJob:
    """Objects copied by one task, ``threads`` at a time (the waits of a remote store overlap)."""

    endpoints: Endpoints
    items: tuple[ObjectItem, ...]
    threads: int


class _Kept:
    """The ledger records of one batch, handed back to the driver that holds the ledger."""

    def __init__(self) -> None:
        self.records: dict[str, ObjectRecord] = {}
        self._lock = threading.Lock()

    def record(self, record: ObjectRecord) -> None:
        with self._lock:
            self.records[record.destination] = record


_backends: dict[Endpoints, Backends] = {}


def copy_batch(job: ObjectJob) -> list[tuple[Outcome, ObjectRecord | None, float]]:
    """Copy every object of ``job``; per object its outcome, the ledger record of what is now
    at the destination (None when none was made) and the seconds it took."""
    backends = _backends.setdefault(job.endpoints, Backends(job.endpoints))
    kept = _Kept()

    def one(item: ObjectItem) -> tuple[Outcome, float]:
        started = time.perf_counter()
        source = Endpoint(backends.get(item.source), item.source, item.source_key, item.source_uri)
        target = Endpoint(
            backends.get(item.destination), item.destination, item.destination_key, item.destination_uri
        )
        outcome = copy_object(source, target, item.size, present=item.present, ledger=kept, known=item.known)
        return outcome, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=max(1, job.threads), thread_name_prefix="mlmigrate-object") as pool:
        done = list(pool.map(one, job.items))
    return [
        (outcome, kept.records.get(item.destination_uri), seconds)
        for item, (outcome, seconds) in zip(job.items, done, strict=True)
    ]
