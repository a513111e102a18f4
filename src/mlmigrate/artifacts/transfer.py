"""Copying one object: server-side within a store, else streamed with its content hash
computed on the way; checked by size and hash; skipped when already there."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from mlmigrate.artifacts.backends import SMALL, Backend, ObjectInfo
from mlmigrate.artifacts.ledger import ObjectRecord
from mlmigrate.artifacts.locations import Location, UnsafeKeyError, inside, local_root_path
from mlmigrate.exceptions import MigrationError, StoreError


class Recorder(Protocol):
    """Where an object's record goes once it is at the destination (the ledger, or a batch's
    list on a worker that hands it to the driver's ledger)."""

    def record(self, record: ObjectRecord) -> None:
        """Keep ``record``."""
        ...


class Stopped(MigrationError):
    """The copy was asked to stop."""


@dataclass(frozen=True)
class Endpoint:
    """One object: its backend, full key and URI (for messages and the ledger)."""

    backend: Backend
    location: Location
    key: str
    uri: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one object: ``copied`` (else it was already there), its size and hash."""

    copied: bool
    size: int
    sha256: str
    server_side: bool = False


def sha256_of(chunks: Iterable[bytes]) -> tuple[int, str]:
    """Size and SHA-256 of a stream of chunks."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class _Hashing:
    """Chunks read on a thread of their own, hashed and counted, handed over through a
    bounded queue (memory stays at a few chunks).

    The writer consumes them inside its own I/O loop (obstore's runtime, which cannot
    run another obstore call from within), so the reading must happen elsewhere.
    """

    DEPTH = 4

    def __init__(self, chunks: Iterable[bytes], stop: threading.Event | None):
        self._chunks = chunks
        self._stop = stop or threading.Event()
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=self.DEPTH)
        self._abandoned = threading.Event()
        self.digest = hashlib.sha256()
        self.size = 0

    def _read(self) -> None:
        try:
            for chunk in self._chunks:
                self.digest.update(chunk)
                self.size += len(chunk)
                if not self._offer(("chunk", chunk)):
                    return
            self._offer(("end", None))
        except BaseException as exc:  # handed to the consumer
            self._offer(("error", exc))

    def _offer(self, item: tuple[str, Any]) -> bool:
        while not self._abandoned.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        reader = threading.Thread(target=self._read, name="mlmigrate-artifact-read", daemon=True)
        reader.start()
        try:
            while True:
                if self._stop.is_set():
                    raise Stopped("stopped")
                try:
                    kind, payload = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if kind == "chunk":
                    yield payload
                elif kind == "end":
                    return
                else:
                    raise payload
        finally:
            self._abandoned.set()
            reader.join(timeout=5)


def check_local_target(destination: Endpoint, root: Location) -> None:
    """Refuse a local destination that resolves outside the destination root (a symlink, say)."""
    if destination.location.service != "file":
        return
    target = "/" + destination.key
    if not inside(target, str(local_root_path(root))):
        raise UnsafeKeyError(f"{target} resolves outside the artifact root {local_root_path(root)}; refused")


def copy_object(
    source: Endpoint,
    destination: Endpoint,
    size: int,
    *,
    present: ObjectInfo | None,
    ledger: Recorder | None,
    known: ObjectRecord | None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Copy ``source`` to ``destination`` unless an object of the same size and hash is there.

    ``present`` is what the destination listing showed at ``destination`` (None: nothing);
    ``known`` is the ledger's record of an earlier write there: when its size and tag still
    match, the object is skipped without hashing anything. The sizes of what was written are
    checked against a listing of the destination when its prefix is complete.
    """
    if present is not None and present.size == size:
        if known is not None and known.size == size and known.tag == present.tag:
            return Outcome(False, size, known.sha256)
        _, source_hash = sha256_of(source.backend.read(source.key))
        _, present_hash = sha256_of(destination.backend.read(destination.key))
        if source_hash == present_hash:
            _remember(ledger, destination, size, source_hash, present.tag)
            return Outcome(False, size, source_hash)
    if source.location.store_key == destination.location.store_key and source.location.service != "file":
        destination.backend.copy(source.key, destination.key)
        written, digest = sha256_of(destination.backend.read(destination.key))
        after = destination.backend.head(destination.key)
        tag, server_side = (after.tag if after else ""), True
    else:
        if size <= SMALL:
            data = source.backend.read_all(source.key)
            written, digest = len(data), hashlib.sha256(data).hexdigest()
            tag = destination.backend.write(destination.key, [data], small=True)
        else:
            stream = _Hashing(source.backend.read(source.key), stop)
            tag = destination.backend.write(destination.key, stream, small=False)
            written, digest = stream.size, stream.digest.hexdigest()
        server_side = False
    if written != size:
        raise StoreError(f"{source.uri} changed while it was copied: {size} bytes listed, {written} read")
    _remember(ledger, destination, size, digest, tag)
    return Outcome(True, size, digest, server_side)


def _remember(ledger: Recorder | None, destination: Endpoint, size: int, digest: str, tag: str) -> None:
    if ledger is not None:
        ledger.record(ObjectRecord(destination.uri, size, digest, tag))


def same_content(source: Endpoint, destination: Endpoint) -> tuple[bool, str]:
    """Hash both objects (streamed) and say whether they are equal, and if not, how they differ."""
    source_size, source_hash = sha256_of(source.backend.read(source.key))
    present = destination.backend.head(destination.key)
    if present is None:
        return False, "missing at the destination"
    size, digest = sha256_of(destination.backend.read(destination.key))
    if size != source_size:
        return False, f"size differs (source {source_size}, destination {size} bytes)"
    if digest != source_hash:
        return False, "content hash differs (sha256)"
    return True, ""


__all__ = ["Endpoint", "Outcome", "Stopped", "check_local_target", "copy_object", "same_content", "sha256_of"]
