"""The artifact phase of a migration: which prefixes move where, copying them in
parallel, surveying them for ``plan`` and checking them for ``verify --artifacts``."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from mlmigrate.artifacts.backends import Backends, ObjectInfo
from mlmigrate.artifacts.ledger import Ledger, ObjectRecord
from mlmigrate.artifacts.locations import Location, normalize, parse, safe_key
from mlmigrate.artifacts.rewrite import KINDS, Rule, UriRewrite, parse_rule
from mlmigrate.artifacts.transfer import Endpoint, Outcome, check_local_target, copy_object, same_content
from mlmigrate.events import Event, Listener, ignore
from mlmigrate.exceptions import MigrationError, StoreError, UsageError
from mlmigrate.executors.base import Executor, LocalExecutor, Place
from mlmigrate.executors.objects import ObjectItem, ObjectJob
from mlmigrate.uris import mask

#: objects copied at once (a large object also uploads its parts in parallel)
WORKERS = 16


def _spellings(uri: str) -> list[str]:
    """``uri`` and, for local files, its other spelling (a bare path or a ``file://`` URI)."""
    text = normalize(uri)
    if text.startswith("file://"):
        return [text, unquote(urlsplit(text).path)]
    return [text]


def build_rules(
    *,
    artifacts_to: str | None,
    rewrites: Iterable[str] = (),
    experiments: Iterable[tuple[str, str | None]] = (),
    store_root: str | None = None,
) -> UriRewrite:
    """The rules of a migration: ``--rewrite`` rules first (metadata only), then, with
    ``--artifacts-to ROOT``, each experiment's artifact location to ``ROOT/<experiment id>``
    and the source store's own folder to ``ROOT`` (these move the bytes)."""
    user = [parse_rule(text) for text in rewrites]
    rules = list(user)
    if artifacts_to:
        target = normalize(artifacts_to)
        parse(target)  # a supported destination, or a clear error now
        wanted: list[tuple[str, str]] = []
        for experiment_id, location in experiments:
            if location:
                wanted += [(old, f"{target}/{experiment_id}") for old in _spellings(location)]
        if store_root:
            wanted += [(old, target) for old in _spellings(store_root)]
        for old, new in wanted:
            if not any(rule.matches(old) for rule in user) and not any(r.old == old for r in rules):
                rules.append(Rule(old, new, copy=True))
    return UriRewrite(tuple(rules))


@dataclass(frozen=True)
class Prefix:
    """An artifact prefix to copy: what references it, where it is and where it goes."""

    kind: str
    source_uri: str
    destination_uri: str
    source: Location
    destination: Location


def plan_prefixes(
    references: Iterable[tuple[str, str]], rewrite: UriRewrite | None, *, copied_only: bool = True
) -> tuple[list[Prefix], Counter[str]]:
    """The prefixes to copy (one per referenced location; a location inside another one is
    copied with it) and, per kind, how many references stay where they are.

    ``rewrite=None`` takes every reference as it is (source and destination alike).
    """
    kept: Counter[str] = Counter()
    candidates: dict[str, str] = {}
    for kind, raw in references:
        uri = normalize(raw) if "://" in raw or raw.startswith("/") else raw
        if rewrite is not None:
            rule = rewrite.rule_for(uri)
            if rule is None or (copied_only and not rule.copy):
                kept[kind] += 1
                continue
        if uri not in candidates or KINDS.index(kind) < KINDS.index(candidates[uri]):
            candidates[uri] = kind
    prefixes: list[Prefix] = []
    taken: set[str] = set()
    for uri in sorted(candidates, key=lambda u: u.split("/")):
        parts = uri.split("/")
        if any("/".join(parts[:end]) in taken for end in range(1, len(parts))):
            continue  # copied with the location that holds it
        taken.add(uri)
        destination = uri
        if rewrite is not None:
            destination = rewrite.apply(uri)
            rule = rewrite.rule_for(uri)
            if rule is not None and len(destination) > len(rule.new):
                safe_key(destination[len(rule.new) + 1 :])
        prefixes.append(Prefix(candidates[uri], uri, destination, parse(uri), parse(destination)))
    return prefixes, kept


@dataclass
class KindStats:
    """Objects and bytes of one artifact kind."""

    objects: int = 0
    bytes: int = 0
    copied: int = 0
    bytes_copied: int = 0
    skipped: int = 0
    server_side: int = 0
    kept: int = 0


@dataclass
class ArtifactReport:
    """What the artifact phase did, per kind."""

    destination: str
    kinds: dict[str, KindStats] = field(default_factory=dict)
    prefixes: int = 0
    prefixes_done_before: int = 0
    seconds: float = 0.0
    #: objects copied on a cluster's workers, per node: objects, bytes and seconds of work
    nodes: dict[str, dict[str, float]] = field(default_factory=dict)

    def kind(self, name: str) -> KindStats:
        """Stats of ``name``, created on first use."""
        return self.kinds.setdefault(name, KindStats())

    def placed(self, place: Place, size: int) -> None:
        """Count an object copied on a worker elsewhere into its node's throughput."""
        if place.remote:
            entry = self.nodes.setdefault(place.node, {"objects": 0, "bytes": 0, "seconds": 0.0})
            entry["objects"] += 1
            entry["bytes"] += size
            entry["seconds"] += place.seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        copied = sum(s.bytes_copied for s in self.kinds.values())
        return {
            "destination": mask(self.destination),
            "prefixes": self.prefixes,
            "prefixes_done_before": self.prefixes_done_before,
            "seconds": round(self.seconds, 3),
            "bytes_copied": copied,
            "bytes_per_second": round(copied / self.seconds) if self.seconds else None,
            "kinds": {name: vars(stats).copy() for name, stats in self.kinds.items()},
            "nodes": {
                node: {
                    "objects": int(entry["objects"]),
                    "bytes": int(entry["bytes"]),
                    # objects per second of a copying thread's time (a task's threads overlap)
                    "objects_per_second": round(entry["objects"] / entry["seconds"], 1)
                    if entry["seconds"]
                    else None,
                }
                for node, entry in sorted(self.nodes.items())
            },
        }


def object_uri(location: Location, key: str) -> str:
    """The URI of the object at full ``key`` in ``location``'s store (messages, the ledger)."""
    scheme = {"file": "file:///", "s3": "s3://", "gcs": "gs://", "azure": "az://"}[location.service]
    return f"{scheme}{location.container + '/' if location.container else ''}{key}"


def _endpoint(backends: Backends, location: Location, key: str) -> Endpoint:
    return Endpoint(backends.get(location), location, key, object_uri(location, key))


#: which keys (relative to their prefix) a copy or verify leaves to someone else; None: none
Skip = Callable[[str], bool] | None


def _objects(backends: Backends, location: Location, skip: Skip = None) -> list[tuple[str, ObjectInfo]]:
    """Every object at or below ``location`` (the location itself when it is one object),
    without those ``skip`` names by their key relative to ``location``."""
    backend = backends.get(location)
    found = list(backend.list(location.prefix))
    if not found:
        info = backend.head(location.prefix)
        if info is not None:
            found = [(location.prefix, info)]
    if skip is not None:
        found = [(key, info) for key, info in found if not skip(location.relative(key))]
    return found


@dataclass
class _Job:
    """One prefix under way: the sizes its destination keys must have, and how many are left."""

    prefix: Prefix
    expected: dict[str, int]
    remaining: int

    @property
    def size(self) -> int:
        return sum(self.expected.values())


class ArtifactCopier:
    """Copies prefixes object by object on a thread pool, recording progress in the ledger.

    Per prefix: one listing of the source and one of the destination (what is there
    already), a GET and a PUT per object (or a server-side copy), and a listing of the
    destination at the end that checks every object's size.
    """

    def __init__(
        self,
        backends: Backends,
        ledger: Ledger,
        *,
        root: str,
        listener: Listener = ignore,
        workers: int = WORKERS,
        skip: Skip = None,
        executor: Executor | None = None,
    ):
        self.executor = executor or LocalExecutor()
        self.backends = backends
        self.ledger = ledger
        self.root = parse(root)
        self.listener = listener
        self.workers = max(1, workers)
        self.skip = skip
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def run(self, prefixes: list[Prefix], report: ArtifactReport) -> ArtifactReport:
        """Copy every prefix not already done; fill and return ``report``."""
        started = time.perf_counter()
        done = self.ledger.done_prefixes()
        report.prefixes = len(prefixes)
        self.listener(Event("artifacts_started", {"prefixes": len(prefixes)}))
        calls = self.executor.object_tasks(self.workers)  # objects, or batches of them elsewhere
        pool = ThreadPoolExecutor(max_workers=calls, thread_name_prefix="mlmigrate-artifact")
        slots = threading.BoundedSemaphore(calls * 4)  # objects (batches) queued or under way
        errors: list[BaseException] = []

        def settled(future: Future[None]) -> None:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                errors.append(error)
                self.stop.set()
            slots.release()

        try:
            for prefix in prefixes:
                if errors:
                    break
                if prefix.source_uri in done:
                    objects, size = done[prefix.source_uri]
                    stats = report.kind(prefix.kind)
                    stats.objects += objects
                    stats.bytes += size
                    stats.skipped += objects
                    report.prefixes_done_before += 1
                    self.listener(Event("artifact_prefix_done", {"uri": prefix.source_uri}))
                    continue
                report.kind(prefix.kind)  # listed even when its locations are empty
                listing = _objects(self.backends, prefix.source, self.skip)
                present = dict(self.backends.get(prefix.destination).list(prefix.destination.prefix))
                known = self.ledger.objects_under(prefix.destination_uri)
                pairs = []
                for key, info in listing:
                    target = _endpoint(
                        self.backends, prefix.destination, prefix.destination.key(prefix.source.relative(key))
                    )
                    check_local_target(target, self.root)
                    pairs.append((_endpoint(self.backends, prefix.source, key), target, info.size))
                job = _Job(prefix, {target.key: size for _, target, size in pairs}, len(pairs))
                if not pairs:
                    self._finish(job)
                batch = self.executor.object_batch()
                if batch > 1:  # batches handed to the executor's workers
                    for start in range(0, len(pairs), batch):
                        slots.acquire()
                        if errors:
                            slots.release()
                            break
                        chunk = [
                            ObjectItem(
                                source.location,
                                source.key,
                                source.uri,
                                target.location,
                                target.key,
                                target.uri,
                                size,
                                present.get(target.key),
                                known.get(target.uri),
                            )
                            for source, target, size in pairs[start : start + batch]
                        ]
                        pool.submit(self._elsewhere, job, chunk, report).add_done_callback(settled)
                    continue
                for source, target, size in pairs:
                    slots.acquire()
                    if errors:
                        slots.release()
                        break
                    future = pool.submit(
                        self._one,
                        job,
                        source,
                        target,
                        size,
                        present.get(target.key),
                        known.get(target.uri),
                        report,
                    )
                    future.add_done_callback(settled)
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=self.stop.is_set())  # else: let the queue drain
            self.ledger.flush()
            report.seconds += time.perf_counter() - started
        if errors:
            raise errors[0]
        return report

    def _one(
        self,
        job: _Job,
        source: Endpoint,
        target: Endpoint,
        size: int,
        present: ObjectInfo | None,
        known: ObjectRecord | None,
        report: ArtifactReport,
    ) -> None:
        if self.stop.is_set():
            return
        outcome = copy_object(
            source, target, size, present=present, ledger=self.ledger, known=known, stop=self.stop
        )
        self._settle(job, size, outcome, report)

    def _elsewhere(self, job: _Job, items: list[ObjectItem], report: ArtifactReport) -> None:
        """Copy a batch of objects on the executor's workers; record what they wrote here."""
        if self.stop.is_set():
            return
        answered = self.executor.copy_objects(ObjectJob(self.backends.endpoints, tuple(items), self.workers))
        for item, (outcome, record, place) in zip(items, answered, strict=True):
            if record is not None:
                self.ledger.record(record)
            with self._lock:
                report.placed(place, item.size)
            self._settle(job, item.size, outcome, report)

    def _settle(self, job: _Job, size: int, outcome: Outcome, report: ArtifactReport) -> None:
        """Count one object copied (or found there) and finish its prefix after its last."""
        with self._lock:
            stats = report.kind(job.prefix.kind)
            stats.objects += 1
            stats.bytes += size
            if outcome.copied:
                stats.copied += 1
                stats.bytes_copied += size
                stats.server_side += outcome.server_side
            else:
                stats.skipped += 1
            job.remaining -= 1
            last = job.remaining == 0
        self.listener(Event("artifact_bytes", {"bytes": size if outcome.copied else 0, "objects": 1}))
        if last:
            self._finish(job)

    def _finish(self, job: _Job) -> None:
        """Check the sizes at the destination with one listing, then mark the prefix done."""
        if job.expected:
            found = {key: info.size for key, info in _objects(self.backends, job.prefix.destination)}
            for key, size in job.expected.items():
                if found.get(key) != size:
                    got = found.get(key)
                    raise StoreError(
                        f"{job.prefix.destination_uri}: {key} has "
                        f"{'no object' if got is None else f'{got} bytes'} after the copy; expected {size}"
                    )
        self.ledger.prefix_done(job.prefix.source_uri, job.prefix.kind, len(job.expected), job.size)
        self.listener(Event("artifact_prefix_done", {"uri": job.prefix.source_uri}))


def survey(references: Iterable[tuple[str, str]], backends: Backends) -> tuple[dict[str, Any], list[str]]:
    """Objects and bytes per kind at the referenced locations (for ``plan``), and problems."""
    kinds: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    readable = []
    for kind, uri in references:
        try:
            parse(uri)
        except UsageError as exc:
            problems.append(str(exc))
            continue
        readable.append((kind, uri))
    prefixes, _ = plan_prefixes(readable, None)
    for prefix in prefixes:
        try:
            listing = _objects(backends, prefix.source)
        except MigrationError as exc:
            problems.append(f"{prefix.source_uri}: {exc}")
            continue
        entry = kinds.setdefault(prefix.kind, {"objects": 0, "bytes": 0})
        entry["objects"] += len(listing)
        entry["bytes"] += sum(info.size for _, info in listing)
    return kinds, problems


def verify_prefixes(
    prefixes: list[Prefix],
    backends: Backends,
    *,
    listener: Listener = ignore,
    workers: int = WORKERS,
    skip: Skip = None,
) -> dict[str, Any]:
    """Hash every object on both sides: missing, extra, different size or content are mismatches
    (keys ``skip`` names are left out on both sides)."""
    mismatches: list[dict[str, Any]] = []
    checked = Counter[str]()
    lock = threading.Lock()

    def check(prefix: Prefix, key: str, target_key: str) -> None:
        source = _endpoint(backends, prefix.source, key)
        target = _endpoint(backends, prefix.destination, target_key)
        ok, problem = same_content(source, target)
        with lock:
            checked[prefix.kind] += 1
            if not ok:
                mismatches.append(
                    {"unit": prefix.source_uri, "table": f"artifact {target.uri}", "problem": problem}
                )
        listener(Event("artifact_bytes", {"bytes": 0, "objects": 1}))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlmigrate-verify-artifact") as pool:
        futures = []
        for prefix in prefixes:
            try:
                listing = _objects(backends, prefix.source, skip)
                present = {key for key, _ in _objects(backends, prefix.destination, skip)}
            except MigrationError as exc:
                mismatches.append({"unit": prefix.source_uri, "table": "artifacts", "problem": str(exc)})
                continue
            expected = set()
            for key, _size in listing:
                target_key = prefix.destination.key(prefix.source.relative(key))
                expected.add(target_key)
                futures.append(pool.submit(check, prefix, key, target_key))
            for extra in sorted(present - expected):
                mismatches.append(
                    {
                        "unit": prefix.source_uri,
                        "table": f"artifact {_endpoint(backends, prefix.destination, extra).uri}",
                        "problem": "extra object at the destination (not in the source)",
                    }
                )
        for future in futures:
            future.result()
    return {
        "ok": not mismatches,
        "objects_checked": dict(checked),
        "prefixes": len(prefixes),
        "mismatches": mismatches,
    }


def check_options(stored: dict[str, Any] | None, wanted: dict[str, Any]) -> None:
    """Refuse to resume a migration with different artifact options than it started with."""
    before = (stored or {}).get("artifacts") or {"to": None, "rewrite": []}
    if before.get("to") != wanted.get("to") or list(before.get("rewrite") or []) != list(wanted["rewrite"]):
        raise UsageError(
            "this migration was started with other artifact options "
            f"(--artifacts-to {before.get('to') or '(none)'}, "
            f"--rewrite {before.get('rewrite') or '(none)'}); "
            "run it again with those, or use another --state-dir for a new migration"
        )
